"""A Potentiostat role over the simulated cell, for engine tests that must not depend on a vendor driver.

It behaves like an instrument at the role level: the technique runs on the event loop's clock whether or not
anyone reads, points are recorded every ``recording.dt`` s and buffered until read, the technique's own
limits and duration end it, and it can be told to fail (an instrument fault) at a given time.
"""

from __future__ import annotations

import asyncio

import numpy as np
from operando.simulators.cell import CellParameters, SimulatedCell

from operando.errors import InstrumentError
from operando.roles.potentiostat import ImpedancePoint, InstrumentInfo, Point, Readout
from operando.techniques import ConstantCurrent, ConstantVoltage, Impedance, OpenCircuit, Technique


class CellPotentiostat:
    """Runs techniques on a :class:`SimulatedCell`; ``calls`` lists the role calls made, in order."""

    def __init__(self, cell: SimulatedCell, *, fail_at: float | None = None) -> None:
        self.cell = cell
        self.fail_at = fail_at  # loop time (s) from which read() raises, like a dropped link
        self.calls: list[str] = []
        self.running = False
        self._technique: Technique | None = None
        self._started = 0.0
        self._elapsed = 0.0  # s of the technique simulated so far
        self._buffer: list[Point] = []
        self._impedance: list[ImpedancePoint] = []

    @classmethod
    def for_plan_cell(cls, cell_summary, seed: int = 0, fail_at: float | None = None,  # noqa: ANN001
                      **overrides) -> CellPotentiostat:
        cell = SimulatedCell(CellParameters.from_cell(cell_summary, **overrides), seed=seed)
        return cls(cell, fail_at=fail_at)

    async def connect(self) -> InstrumentInfo:
        self.calls.append("connect")
        return InstrumentInfo("cell-potentiostat", "T-0001", "1.0", "tests.engine.cell_potentiostat",
                              {"channel": 1})

    async def start(self, technique: Technique) -> None:
        self.calls.append(f"start {type(technique).__name__}")
        await self._catch_up()
        self._technique, self._started, self._elapsed = technique, self._now(), 0.0
        self.running = True

    async def read(self) -> Readout:
        self.calls.append("read")
        if self.fail_at is not None and self._now() >= self.fail_at:
            raise InstrumentError("link to the channel lost", instrument="cell-potentiostat", code=-200,
                                  name="ERR_COMM_COMMFAILED")
        await self._catch_up()
        points, impedance = tuple(self._buffer), tuple(self._impedance)
        self._buffer.clear()
        self._impedance.clear()
        return Readout(points, impedance, self.running)

    async def stop(self) -> None:
        self.calls.append("stop")
        await self._catch_up()
        self.running = False

    async def safe_state(self) -> None:
        self.calls.append("safe_state")
        if self.running:
            await self._catch_up()
        self.running = False

    async def disconnect(self) -> None:
        self.calls.append("disconnect")

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def _catch_up(self) -> None:
        """Simulate the running technique up to now, recording every dt like the instrument would."""
        technique = self._technique
        if not self.running or technique is None:
            return
        now = self._now() - self._started
        if isinstance(technique, Impedance):
            if now >= technique.duration:
                self._finish_impedance(technique)
            return
        dt = technique.recording.dt
        while self.running and self._elapsed + dt <= now + 1e-9:
            step = min(dt, technique.duration - self._elapsed)
            reading = self._apply(technique, step)
            self._elapsed += step
            point = Point(self._elapsed, reading.E_we, reading.I)
            self._buffer.append(point)
            if self._elapsed >= technique.duration - 1e-9 or any(
                    limit.met({"E_we": point.E_we, "abs_I": abs(point.I), "time": point.t_device}
                              .get(limit.quantity, float("nan"))) for limit in technique.limits):
                self.running = False

    def _apply(self, technique: Technique, dt: float):  # noqa: ANN202
        if isinstance(technique, OpenCircuit):
            return self.cell.rest(dt)
        if isinstance(technique, ConstantCurrent):
            return self.cell.apply_current(technique.current, dt)
        if isinstance(technique, ConstantVoltage):
            return self.cell.apply_voltage(technique.voltage, dt)
        raise NotImplementedError(f"{type(technique).__name__} is not simulated by the test potentiostat")

    def _finish_impedance(self, technique: Impedance) -> None:
        frequencies = np.array(technique.frequencies)
        z = self.cell.impedance(frequencies)
        elapsed = 0.0
        for f, value in zip(frequencies, z, strict=True):
            elapsed += max(1.0 / f, 0.1)
            self._impedance.append(ImpedancePoint(elapsed, float(f), float(value.real), float(value.imag),
                                                  self.cell.voltage, 0.0))
        self.running = False
