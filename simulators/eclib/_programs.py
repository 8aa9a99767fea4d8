"""What a channel does while a technique runs: drive the simulated cell step by step and record rows.

Internal steps are adaptive: at most ``MAX_STEP`` s, never past the next recording time, the end of a step or
the caller's target time, and shorter where a Test limit or a dE/dI recording threshold is near (estimated
from the rate of change over the previous step), down to ``MIN_STEP``. A limit is therefore detected within
MIN_STEP of the crossing, as the instrument's fast sampling does, while a 67 h run costs a few tens of
thousands of cell calls.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from operando.simulators.cell import Reading, SimulatedCell
from operando.simulators.eclib import _rows

MIN_STEP = 0.01  # s
MAX_STEP = 10.0  # s
FIRST_STEP = 1e-3  # s, the first step after a change of control, which may jump
GROWTH = 2.0  # at most this factor longer than the previous step
EPS = 1e-6  # s

Row = tuple[int, int, tuple[int, ...]]  # (process index, technique id, words)
Emit = Callable[[int, tuple[int, ...]], None]  # (process index, words)


@dataclass
class Test:
    """A decoded Test{n}_Config / Value pair: variable 0 = E, 3 = I; comparison 0 <, 1 >."""

    variable: int
    greater: bool
    and_next: bool
    value: float

    @classmethod
    def decode(cls, config: int, value: float) -> Test | None:
        if not config & 1:
            return None
        return cls(variable=config >> 5, greater=bool((config >> 2) & 0b111), and_next=bool(config & 2),
                   value=value)

    def met(self, reading: Reading) -> bool:
        if self.variable == 0:
            measured = reading.E_we
        elif self.variable == 3:
            measured = reading.I
        else:
            return False  # auxiliary inputs are not wired in the simulated rig
        return measured > self.value if self.greater else measured < self.value


def tests_met(tests: list[Test], reading: Reading) -> bool:
    """OR of AND-groups, read left to right: a test with the AND bit joins the next one."""
    group = True
    for test in tests:
        group = group and test.met(reading)
        if not test.and_next:
            if group:
                return True
            group = True
    return False


@dataclass
class DcStep:
    """One step of OCV, CPLIMIT or CALIMIT: control 'rest' | 'current' (A) | 'voltage' (V)."""

    control: str
    setpoint: float
    duration: float
    tests: list[Test] = field(default_factory=list)
    exit_condition: int = 0


class Program:
    """Base: technique time ``t`` s since start, finished flag, last reading."""

    def __init__(self, emit: Emit, start_reading: Reading) -> None:
        self.emit = emit
        self.t = 0.0
        self.finished = False
        self.reading = start_reading

    def advance(self, cell: SimulatedCell, until: float) -> None:
        raise NotImplementedError


class DcProgram(Program):
    """OCV, CPLIMIT, CALIMIT: steps with a control, a duration and Tests; N_Cycles repeats the sequence."""

    def __init__(self, emit: Emit, start_reading: Reading, steps: list[DcStep], repeats: int,
                 record_dt: float, record_dE: float, record_dI: float,
                 row: Callable[[float, Reading, int], tuple[int, ...]]) -> None:
        super().__init__(emit, start_reading)
        self.steps = steps
        self.repeats = repeats
        self.record_dt, self.record_dE, self.record_dI = record_dt, record_dE, record_dI
        self.row = row
        self.step = 0
        self.cycle = 0
        self.step_start = 0.0
        self.dt_previous = FIRST_STEP / GROWTH
        self.rate_E = self.rate_I = 0.0
        self.last_record: tuple[float, float, float] | None = None  # t, E, I

    def advance(self, cell: SimulatedCell, until: float) -> None:
        while not self.finished and until - self.t > EPS:
            step = self.steps[self.step]
            if step.duration <= 0:
                self._next_step()
                continue
            dt = self._step_length(step, until)
            if step.control == "current":
                reading = cell.apply_current(step.setpoint, dt)
            elif step.control == "voltage":
                reading = cell.apply_voltage(step.setpoint, dt)
            else:
                reading = cell.rest(dt)
            self.rate_E = abs(reading.E_true - self.reading.E_true) / dt
            self.rate_I = abs(reading.I_true - self.reading.I_true) / dt
            self.reading = reading
            self.dt_previous = max(dt, FIRST_STEP / GROWTH)
            self.t += dt
            if tests_met(step.tests, reading):
                self._record()
                if step.exit_condition == 0:
                    self._next_step()
                else:
                    self.finished = True
            elif self.t - self.step_start >= step.duration - EPS:
                self._record()
                self._next_step()
            elif self._recording_due(reading):
                self._record()

    def _step_length(self, step: DcStep, until: float) -> float:
        hard = min(until - self.t, self.step_start + step.duration - self.t)
        dt = min(hard, MAX_STEP, GROWTH * self.dt_previous)
        if self.record_dt > 0 and self.last_record is not None:
            dt = min(dt, self.last_record[0] + self.record_dt - self.t)
        E, I = self.reading.E_true, self.reading.I_true
        for test in step.tests:
            rate = self.rate_E if test.variable == 0 else self.rate_I if test.variable == 3 else 0.0
            if rate > 0:
                gap = abs(test.value - (E if test.variable == 0 else I))
                dt = min(dt, max(MIN_STEP, 0.5 * gap / rate))
        if self.record_dE > 0 and self.rate_E > 0:
            dt = min(dt, max(MIN_STEP, self.record_dE / self.rate_E))
        if self.record_dI > 0 and self.rate_I > 0:
            dt = min(dt, max(MIN_STEP, self.record_dI / self.rate_I))
        return max(dt, EPS)

    def _recording_due(self, reading: Reading) -> bool:
        if self.last_record is None:
            return True  # the first point comes right after the control is applied
        t, E, I = self.last_record
        return ((self.record_dt > 0 and self.t >= t + self.record_dt - EPS)
                or (self.record_dE > 0 and abs(reading.E_we - E) >= self.record_dE)
                or (self.record_dI > 0 and abs(reading.I - I) >= self.record_dI))

    def _record(self) -> None:
        self.emit(0, self.row(self.t, self.reading, self.cycle))
        self.last_record = (self.t, self.reading.E_we, self.reading.I)

    def _next_step(self) -> None:
        self.step += 1
        self.step_start = self.t
        self.dt_previous = FIRST_STEP / GROWTH
        if self.step >= len(self.steps):
            self.step = 0
            self.cycle += 1
            if self.cycle > self.repeats:
                self.finished = True
                self.step = len(self.steps) - 1


class CvProgram(Program):
    """CV: Ei -> E1 -> E2 -> Ei, (N_Cycles + 1) times, then -> Ef; sweeps as fine potentiostatic steps."""

    def __init__(self, emit: Emit, start_reading: Reading, vertices: list[float], rates: list[float],
                 repeats: int, record_dE: float, row: Callable[[float, float, Reading, int], tuple[int, ...]],
                 ) -> None:
        super().__init__(emit, start_reading)
        initial, first, second, back, final = vertices
        self.segments: list[tuple[float, float, bool]] = []  # target V, rate V/s, ends a cycle
        for _ in range(repeats + 1):
            self.segments += [(first, rates[1], False), (second, rates[2], False), (back, rates[3], True)]
        self.segments.append((final, rates[4], False))
        self.segment = 0
        self.applied = initial
        self.record_dE = record_dE if record_dE > 0 else 1e-3
        self.row = row
        self.cycle = 0
        self.last_recorded = initial

    def advance(self, cell: SimulatedCell, until: float) -> None:
        while not self.finished and until - self.t > EPS:
            target, rate, ends_cycle = self.segments[self.segment]
            remaining = abs(target - self.applied) / rate
            dt = min(until - self.t, remaining, self.record_dE / rate, MAX_STEP)
            reached = dt >= remaining - EPS
            if reached:
                dt = max(remaining, EPS)
                self.applied = target
            else:
                self.applied += math.copysign(rate * dt, target - self.applied)
            self.reading = cell.apply_voltage(self.applied, dt)
            self.t += dt
            if reached or abs(self.applied - self.last_recorded) >= self.record_dE - 1e-9:
                self.emit(0, self.row(self.t, self.applied, self.reading, self.cycle))
                self.last_recorded = self.applied
            if reached:
                self.segment += 1
                if ends_cycle and self.segment < len(self.segments) - 1:
                    self.cycle += 1
                if self.segment == len(self.segments):
                    self.finished = True


class PeisProgram(Program):
    """PEIS at one DC level: an optional hold (process 0 rows), then per frequency a DC row and a Z row."""

    def __init__(self, emit: Emit, start_reading: Reading, dc_level: float, hold: float, record_dt: float,
                 frequencies: list[float], amplitude: float, averages: int, wait: float, premium: bool,
                 time_base: float, current_range: int) -> None:
        super().__init__(emit, start_reading)
        self.dc_level = dc_level
        self.hold = hold
        self.record_dt = record_dt
        self.frequencies = frequencies
        # Time per frequency: whole periods, at least 0.1 s of integration, plus the steady-state wait.
        self.durations = [(1.0 + wait) * averages * max(1.0 / f, 0.1) for f in frequencies]
        self.amplitude = amplitude
        self.premium = premium
        self.time_base = time_base
        self.current_range = current_range
        self.index = 0
        self.phase_start = 0.0
        self.last_record = 0.0

    def advance(self, cell: SimulatedCell, until: float) -> None:
        while not self.finished and until - self.t > EPS:
            in_hold = self.t < self.hold - EPS
            if in_hold:
                end = self.hold
                if self.record_dt > 0:
                    end = min(end, self.last_record + self.record_dt)
            else:
                end = self.hold + sum(self.durations[:self.index + 1])
            dt = max(min(until, end) - self.t, EPS)
            dt = min(dt, MAX_STEP)
            self.reading = cell.apply_voltage(self.dc_level, dt)
            self.t += dt
            if self.t < end - EPS:
                continue
            if in_hold:
                self.emit(0, _rows.eis_dc_row(self.time_base, self.t, self.reading.E_we, self.reading.I))
                self.last_record = self.t
                continue
            self._measure(cell)

    def _measure(self, cell: SimulatedCell) -> None:
        frequency = self.frequencies[self.index]
        impedance = complex(cell.impedance(np.array([frequency]))[0])
        modulus = abs(impedance)
        reading = self.reading
        self.emit(0, _rows.eis_dc_row(self.time_base, self.t, reading.E_we, reading.I))
        self.emit(1, _rows.eis_frequency_row(
            self.premium, frequency, self.amplitude, self.amplitude / modulus, cmath.phase(impedance),
            reading.E_we, reading.I, self.t, self.current_range))
        self.index += 1
        if self.index == len(self.frequencies):
            self.finished = True
