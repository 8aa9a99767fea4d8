"""What the driver does with each sample while a technique runs: count charge, test stops, pick points.

A source-measure unit only sources and clamps, so everything a potentiostat's firmware does for a technique
happens here, on every sample: the charge is integrated (trapezoid between samples), the technique's limits
and duration are tested, and a sample becomes a recorded point when the technique's recording rule says so
(every ``dt``, on a change of ``dE`` or ``dI``, and always the first and the last). Pure logic, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from operando.roles.potentiostat import Point
from operando.techniques import ConstantCurrent, ConstantVoltage, Limit, OpenCircuit, Technique

EPSILON = 1e-9  # s
SLOPE_WINDOW = 60.0  # s over which |dE/dt| is measured: shorter, the measurement noise dominates


@dataclass(frozen=True)
class Sample:
    """One reading of the instrument: ``t`` s since the technique started, E_we V, I A."""

    t: float
    E_we: float
    I: float


class TechniqueRun:
    """The state of one technique on the instrument: feed it samples, collect points, ask if it ended."""

    def __init__(self, technique: Technique) -> None:
        if not isinstance(technique, OpenCircuit | ConstantCurrent | ConstantVoltage):
            raise TypeError(f"a source-measure unit cannot run {type(technique).__name__}")
        self.technique = technique
        self.limits: tuple[Limit, ...] = technique.limits
        self.duration = technique.duration
        self.recording = technique.recording
        self.charge = 0.0  # C since the technique started
        self.finished = False
        self.reason = ""
        self.samples = 0
        self._last: Sample | None = None
        self._recorded: Sample | None = None
        self._window: deque[Sample] = deque()

    @property
    def elapsed(self) -> float:
        """s since the technique started, at the last sample."""
        return self._last.t if self._last is not None else 0.0

    def add(self, sample: Sample) -> Point | None:
        """Take one sample; returns the point to record, if this sample is one."""
        if self.finished:
            raise RuntimeError("the technique already ended; start another")
        previous = self._last
        if previous is not None:
            self.charge += 0.5 * (previous.I + sample.I) * (sample.t - previous.t)
        self._last = sample
        self.samples += 1
        slope = self._slope(sample)
        for limit in self.limits:
            measured = self._measure(limit, sample, slope)
            if measured is not None and limit.met(measured):
                self._end(limit.describe())
                break
        else:
            if sample.t >= self.duration - EPSILON:
                self._end(f"duration {self.duration:g} s")
        if self.finished or self._due(sample):
            self._recorded = sample
            return Point(sample.t, sample.E_we, sample.I)
        return None

    def end(self, reason: str) -> None:
        """End early (the engine stopped it, or the instrument failed)."""
        if not self.finished:
            self._end(reason)

    def _end(self, reason: str) -> None:
        self.finished = True
        self.reason = reason

    def _due(self, sample: Sample) -> bool:
        recorded = self._recorded
        if recorded is None:
            return True
        rule = self.recording
        if sample.t - recorded.t >= rule.dt - EPSILON:
            return True
        if rule.dE is not None and abs(sample.E_we - recorded.E_we) >= rule.dE:
            return True
        return rule.dI is not None and abs(sample.I - recorded.I) >= rule.dI

    def _slope(self, sample: Sample) -> float | None:
        window = self._window
        window.append(sample)
        while len(window) > 2 and sample.t - window[1].t >= SLOPE_WINDOW:
            window.popleft()
        oldest = window[0]
        if sample.t - oldest.t < SLOPE_WINDOW - EPSILON:
            return None
        return (sample.E_we - oldest.E_we) / (sample.t - oldest.t)

    def _measure(self, limit: Limit, sample: Sample, slope: float | None) -> float | None:
        match limit.quantity:
            case "E_we":
                return sample.E_we
            case "abs_I":
                return abs(sample.I)
            case "abs_Q":
                return abs(self.charge)
            case "time":
                return sample.t
            case "abs_dE_dt":
                return None if slope is None else abs(slope)
        return None  # "soc" is the engine's: the driver knows no capacity
