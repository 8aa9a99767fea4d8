"""Recent electrochemical points, kept so a frame can be given the state at its mid-scan time.

The data pump adds every batch; the imaging side asks for the state at a time and may wait (never the pump)
for the first point after it. Old points are dropped once no frame can need them, so memory stays flat.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import numpy as np

from operando.engine.events import PointBatch

_COLUMNS = ("t", "E_we", "I", "Q", "soc", "cycle", "step")


@dataclass(frozen=True)
class ElectrochemState:
    """E_we V, I A, Q C, soc 0..1, cycle and step at time ``t`` s; ``source`` is "interpolated" (between
    two points), "extrapolated" (held from the last point: none came after ``t``) or "none" (no point)."""

    t: float
    E_we: float
    I: float  # noqa: E741 - the lab's name for the current
    Q: float
    soc: float
    cycle: int
    step: int
    source: str


class PointHistory:
    """The newest points (columns of the point batches) and a way to wait for one after a given time."""

    def __init__(self, capacity: float | None = None) -> None:
        self.capacity = capacity  # C, to carry the state of charge on when extrapolating
        self._batches: list[dict[str, np.ndarray]] = []
        self._arrived = asyncio.Event()
        self.last_t = -math.inf
        self.closed = False

    def add(self, batch: PointBatch) -> None:
        if len(batch) == 0:
            return
        self._batches.append({name: getattr(batch, name) for name in _COLUMNS})
        self.last_t = float(batch.t[-1])
        self._arrived.set()

    def seed(self, columns: dict[str, np.ndarray]) -> None:
        """Start from points read back from a file (a resumed run)."""
        if len(columns["t"]):
            self._batches.append({name: np.asarray(columns[name]) for name in _COLUMNS})
            self.last_t = float(columns["t"][-1])

    def close(self) -> None:
        """No more points will come (the run is ending): waiters stop waiting."""
        self.closed = True
        self._arrived.set()

    def forget_before(self, t: float) -> None:
        """Drop batches that end before ``t`` s, keeping the one point just before it."""
        while len(self._batches) > 1 and float(self._batches[1]["t"][0]) <= t and \
                float(self._batches[0]["t"][-1]) < t:
            self._batches.pop(0)

    async def wait_after(self, t: float, patience: float) -> bool:
        """Wait up to ``patience`` s for a point later than ``t``; False if none came (or the run ended)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while self.last_t < t and not self.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):  # not wait_for: it can swallow a cancellation on 3.11
                    await self._arrived.wait()
            except TimeoutError:
                return False
        return self.last_t >= t

    def state_at(self, t: float) -> ElectrochemState:
        """The state at ``t`` s: linear between the points around it, or held from the last one before."""
        if not self._batches:
            nan = math.nan
            return ElectrochemState(t, nan, nan, nan, nan, -1, -1, "none")
        columns = {name: np.concatenate([b[name] for b in self._batches]) if len(self._batches) > 1
                   else self._batches[0][name] for name in _COLUMNS}
        times = columns["t"]
        after = int(np.searchsorted(times, t, side="left"))
        if after >= len(times):  # nothing after t yet: hold the last point, count its current on
            last = len(times) - 1
            dt = t - float(times[last])
            charge = float(columns["Q"][last]) + float(columns["I"][last]) * dt
            soc = float(columns["soc"][last])
            if self.capacity:
                soc += float(columns["I"][last]) * dt / self.capacity
            return ElectrochemState(t, float(columns["E_we"][last]), float(columns["I"][last]), charge, soc,
                                    int(columns["cycle"][last]), int(columns["step"][last]), "extrapolated")
        if after == 0 or float(times[after]) == t:
            k = after
            exact = "interpolated" if float(times[k]) == t else "extrapolated"
            return ElectrochemState(t, float(columns["E_we"][k]), float(columns["I"][k]),
                                    float(columns["Q"][k]), float(columns["soc"][k]),
                                    int(columns["cycle"][k]), int(columns["step"][k]), exact)
        before = after - 1
        t0, t1 = float(times[before]), float(times[after])
        weight = (t - t0) / (t1 - t0)
        nearest = before if weight < 0.5 else after

        def mix(name: str) -> float:
            a, b = float(columns[name][before]), float(columns[name][after])
            return a + weight * (b - a)

        return ElectrochemState(t, mix("E_we"), mix("I"), mix("Q"), mix("soc"),
                                int(columns["cycle"][nearest]), int(columns["step"][nearest]), "interpolated")
