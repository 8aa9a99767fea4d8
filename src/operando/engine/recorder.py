"""Turn what the potentiostat returns into recorded points: timeline time, charge, state of charge, labels.

The charge is the trapezoid integral of the recorded current over the recorded times, so the file's Q is
exactly what anyone recomputes from its I and t. Pure and synchronous: the engine's data pump calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from operando.engine.events import ImpedanceBatch, PointBatch
from operando.plan import CellSummary, PlannedStep
from operando.roles.potentiostat import ImpedancePoint, Point
from operando.timeline import DeviceClock


class ChargeCounter:
    """Cumulative charge (C) since the first recorded point, by the trapezoid rule over every point."""

    def __init__(self) -> None:
        self.charge = 0.0
        self.charged = 0.0  # C passed while the current was positive (charge)
        self.discharged = 0.0  # C passed while it was negative, as a positive number
        self._last: tuple[float, float] | None = None  # (t s, I A) of the previous point

    def resume(self, charge: float, charged: float, discharged: float) -> None:
        """Carry on from a record read back: the next point starts at ``charge`` C, nothing integrated
        across the gap (what flowed while nothing recorded is unknown)."""
        self.charge, self.charged, self.discharged = charge, charged, discharged
        self._last = None

    def add(self, t: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The charge at each new point, continuing from the previous ones."""
        if len(t) == 0:
            return np.empty(0)
        if self._last is not None:
            t_all = np.concatenate(([self._last[0]], t))
            i_all = np.concatenate(([self._last[1]], current))
        else:
            t_all, i_all = t, current
        start = self.charge
        slices = 0.5 * (i_all[1:] + i_all[:-1]) * np.diff(t_all)
        self.charged += float(slices[slices > 0].sum())
        self.discharged -= float(slices[slices < 0].sum())
        charges = start + np.concatenate(([] if self._last is not None else [0.0], np.cumsum(slices)))
        self.charge = float(charges[-1])
        self._last = (float(t[-1]), float(current[-1]))
        return charges


@dataclass
class StepRecord:
    """What the engine knows about the step being run: its clock, its charge so far, its first current."""

    step: PlannedStep
    clock: DeviceClock
    technique_code: int
    charge_at_start: float  # C, cumulative charge before the step's first point
    impedance_run: int | None = None
    points: int = 0
    first_abs_current: float | None = None
    last_point: tuple[float, float] | None = None  # (t_device s, E_we V) for dE/dt
    last_charge: float = 0.0
    impedance_points: int = 0
    stop_sent: bool = False  # the engine asked the instrument to end the step early
    elapsed_before: float = 0.0  # s the step ran before a pause or an interruption (a continued step)

    @property
    def charge(self) -> float:
        """C passed since the step started (from the previous step's last point)."""
        return self.last_charge - self.charge_at_start if self.points else 0.0


class Recorder:
    """Stamps points with timeline time, cumulative charge, SOC, cycle, step and technique code."""

    def __init__(self, cell: CellSummary) -> None:
        self.cell = cell
        self.counter = ChargeCounter()
        self.points = 0

    def soc(self, charge: np.ndarray) -> np.ndarray:
        capacity = self.cell.capacity
        if capacity is None or not capacity > 0 or not math.isfinite(capacity):
            return np.full(len(charge), np.nan)
        return self.cell.initial_soc + charge / capacity

    def record(self, run: StepRecord, points: Sequence[Point]) -> PointBatch:
        t_device = np.fromiter((p.t_device for p in points), float, len(points))
        current = np.fromiter((p.I for p in points), float, len(points))
        t = run.clock.offset + t_device
        charge = self.counter.add(t, current)
        count = len(points)
        if count:
            run.points += count
            run.last_charge = float(charge[-1])
            self.points += count
        return PointBatch(
            t=t, t_device=t_device, E_we=np.fromiter((p.E_we for p in points), float, count), I=current,
            Q=charge, soc=self.soc(charge),
            cycle=np.fromiter((run.step.cycle + p.cycle for p in points), np.int32, count),
            step=np.full(count, run.step.index, np.int32),
            technique=np.full(count, run.technique_code, np.uint8),
        )

    @staticmethod
    def record_impedance(run: StepRecord, points: Sequence[ImpedancePoint]) -> ImpedanceBatch:
        count = len(points)
        run.impedance_points += count
        t_device = np.fromiter((p.t_device for p in points), float, count)

        def column(name: str) -> np.ndarray:
            return np.fromiter((getattr(p, name) for p in points), float, count)

        return ImpedanceBatch(
            run=np.full(count, -1 if run.impedance_run is None else run.impedance_run, np.int32),
            t=run.clock.offset + t_device, frequency=column("frequency"), Z_re=column("Z_re"),
            Z_im=column("Z_im"), E_dc=column("E_dc"), I_dc=column("I_dc"),
        )
