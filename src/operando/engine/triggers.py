"""When a region is imaged: the plan's triggers watched on every point, every step boundary and a timer.

Pure bookkeeping, no waiting: the scheduler feeds points and step events in and gets back which triggers
fired and when. Level-type triggers (state of charge, voltage) have a small hysteresis so noise around a
level does not fire them twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from operando.engine.events import PointBatch
from operando.plan import RegionOfInterest, Trigger
from operando.storage import trigger_labels

VOLTAGE_HYSTERESIS = 1e-3  # V: E_we must move this far past a level before it counts as on the other side
SOC_HYSTERESIS = 0.02  # fraction of a SOC step crossed back before a falling level counts


@dataclass(frozen=True)
class Firing:
    """A trigger of a region fired at ``t`` s: ``code`` indexes the region's trigger labels."""

    region: str
    code: int
    label: str
    t: float
    author: str = ""  # who asked, for a manual request


def manual_code(region: RegionOfInterest) -> int:
    """Code of an acquisition asked for by a person: the region's manual trigger, or the extra label."""
    for code, trigger in enumerate(region.triggers):
        if trigger.kind == "manual":
            return code
    return len(region.triggers)


def _matches(trigger: Trigger, name: str, label: str) -> bool:
    return trigger.step is None or trigger.step in (name, label)


class RegionTriggers:
    """The triggers of one region and what each has seen so far."""

    def __init__(self, region: RegionOfInterest, *, start: float = 0.0, soc: float = math.nan) -> None:
        self.region = region
        self.labels = trigger_labels(region)
        self._next_due: dict[int, float] = {}
        self._soc_band: dict[int, int | None] = {}
        self._throughput: dict[int, float] = {}
        self._side: dict[int, int] = {}  # voltage triggers: +1 above the level, -1 below, 0 not known
        self._last_q: float | None = None
        self._last_e: float | None = None
        for code, trigger in enumerate(region.triggers):
            if trigger.kind == "every":
                interval = float(trigger.interval or 0.0)
                # Due at 0, interval, 2 x interval... of the timeline; a resumed run takes up the same grid.
                due = math.ceil(start / interval - 1e-9) * interval if interval > 0 else math.inf
                self._next_due[code] = due
            elif trigger.kind == "soc_step":
                self._soc_band[code] = self._band(trigger, soc) if math.isfinite(soc) else None
            elif trigger.kind == "charge_step":
                self._throughput[code] = 0.0
            elif trigger.kind == "voltage_crossing":
                self._side[code] = 0

    def _firing(self, code: int, t: float) -> Firing:
        return Firing(self.region.name, code, self.labels[code], t)

    @staticmethod
    def _band(trigger: Trigger, soc: float) -> int:
        return math.floor(soc / float(trigger.soc_step) + 1e-9)

    # timer

    def next_due(self) -> float:
        """Timeline time (s) of the next timed trigger, inf if none."""
        return min(self._next_due.values(), default=math.inf)

    def due(self, now: float) -> list[Firing]:
        """Timed triggers due at or before ``now`` (each fires once however late; the grid moves on)."""
        fired = []
        for code, due in self._next_due.items():
            if due <= now + 1e-9:
                fired.append(self._firing(code, due))
                interval = float(self.region.triggers[code].interval)  # type: ignore[arg-type]
                self._next_due[code] = (math.floor(now / interval + 1e-9) + 1) * interval
        return fired

    # steps

    def step_boundary(self, kind: str, t: float, name: str, label: str) -> list[Firing]:
        """``kind`` "step_start" or "step_end" of a step called ``name`` with technique ``label``."""
        return [self._firing(code, t) for code, trigger in enumerate(self.region.triggers)
                if trigger.kind == kind and _matches(trigger, name, label)]

    # points

    def points(self, batch: PointBatch) -> list[Firing]:
        """Level and amount triggers met by a batch of points, at the time of the point that met each."""
        fired: list[Firing] = []
        if not (self._soc_band or self._throughput or self._side):
            return fired
        t, E, Q, soc = batch.t, batch.E_we, batch.Q, batch.soc
        for k in range(len(t)):
            fired.extend(self._point(float(t[k]), float(E[k]), float(Q[k]), float(soc[k])))
        return fired

    def _point(self, t: float, E: float, Q: float, soc: float) -> list[Firing]:
        fired = []
        passed = abs(Q - self._last_q) if self._last_q is not None and math.isfinite(Q) else 0.0
        for code, trigger in enumerate(self.region.triggers):
            if trigger.kind == "soc_step" and math.isfinite(soc):
                if self._soc_step(code, trigger, soc):
                    fired.append(self._firing(code, t))
            elif trigger.kind == "charge_step":
                self._throughput[code] += passed
                if self._throughput[code] >= float(trigger.charge_step) * (1 - 1e-9):
                    self._throughput[code] %= float(trigger.charge_step)
                    fired.append(self._firing(code, t))
            elif trigger.kind == "voltage_crossing" and math.isfinite(E):
                if self._crossing(code, trigger, E):
                    fired.append(self._firing(code, t))
        if math.isfinite(Q):
            self._last_q = Q
        return fired

    def _soc_step(self, code: int, trigger: Trigger, soc: float) -> bool:
        band, new = self._soc_band[code], self._band(trigger, soc)
        if band is None:
            self._soc_band[code] = new
            return False
        if new > band:  # reached the level new x step going up
            self._soc_band[code] = new
            return True
        step = float(trigger.soc_step)  # type: ignore[arg-type]
        if new < band and soc < band * step - SOC_HYSTERESIS * step:  # fell through the level band x step
            self._soc_band[code] = new
            return True
        return False

    def _crossing(self, code: int, trigger: Trigger, E: float) -> bool:
        level = float(trigger.voltage)  # type: ignore[arg-type]
        side = 1 if E > level + VOLTAGE_HYSTERESIS else -1 if E < level - VOLTAGE_HYSTERESIS else 0
        before = self._side[code]
        if side == 0 or side == before:
            return False
        self._side[code] = side
        if before == 0:
            return False  # first reading: which side it starts on is not a crossing
        rising = side > 0
        return trigger.direction == "either" or (trigger.direction == "rising") == rising

