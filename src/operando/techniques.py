"""What a potentiostat is asked to apply, in SI units: the device-level techniques every driver implements.

These mirror what the BioLogic development package can run (OCV, CPLIMIT, CALIMIT, CV, PEIS); battery
techniques (GCPL, CC-CV, GITT, loops) are built from them by :mod:`operando.protocol` into a :class:`Plan`.
Voltages are as the potentiostat measures them: working electrode vs the reference connection (in a
two-electrode cell, the counter electrode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# What a limit watches. "E_we" in V, "abs_I" in A (magnitude), "abs_Q" in C (magnitude of the charge passed
# since the technique started), "time" in s since the technique started, "abs_dE_dt" in V/s (magnitude),
# "soc" the cell's state of charge 0..1 (engine-side only: it appears in PlannedStep.stops, never in a technique).
LimitQuantity = Literal["E_we", "abs_I", "abs_Q", "time", "abs_dE_dt", "soc"]
# What happens when a limit is met: go to the next planned step, or skip the rest of the step's group
# (ends a GITT or a repeat-until loop, like EC-Lab's "goto" past the loop).
LimitAction = Literal["next", "end_group"]


@dataclass(frozen=True)
class Limit:
    """A stop condition: the technique ends as soon as ``quantity comparison value`` holds."""

    quantity: LimitQuantity
    comparison: Literal[">", "<"]
    value: float
    action: LimitAction = "next"

    def met(self, measured: float) -> bool:
        return measured > self.value if self.comparison == ">" else measured < self.value

    def describe(self) -> str:
        units = {"E_we": "V", "abs_I": "A", "abs_Q": "C", "time": "s", "abs_dE_dt": "V/s", "soc": ""}
        names = {"E_we": "E_we", "abs_I": "|I|", "abs_Q": "|Q|", "time": "t", "abs_dE_dt": "|dE/dt|", "soc": "SOC"}
        return f"{names[self.quantity]} {self.comparison} {self.value:.6g} {units[self.quantity]}".rstrip()


@dataclass(frozen=True)
class Recording:
    """When the instrument records a point: every ``dt`` seconds, and also on a change of ``dE`` V or ``dI`` A."""

    dt: float = 10.0
    dE: float | None = None
    dI: float | None = None


@dataclass(frozen=True)
class OpenCircuit:
    """Rest at open circuit (EC-Lab OCV) for ``duration`` s, or until a limit (e.g. |dE/dt| small)."""

    duration: float
    limits: tuple[Limit, ...] = ()
    recording: Recording = field(default_factory=Recording)


@dataclass(frozen=True)
class ConstantCurrent:
    """Apply ``current`` A (positive = oxidation of the working electrode, i.e. charge) with limits (CPLIMIT)."""

    current: float
    duration: float
    limits: tuple[Limit, ...] = ()
    recording: Recording = field(default_factory=Recording)


@dataclass(frozen=True)
class ConstantVoltage:
    """Hold ``voltage`` V for at most ``duration`` s, or until a limit such as |I| < value (CALIMIT)."""

    voltage: float
    duration: float
    limits: tuple[Limit, ...] = ()
    recording: Recording = field(default_factory=Recording)


@dataclass(frozen=True)
class CyclicVoltammetry:
    """Sweep start -> vertex_1 -> vertex_2 -> start, ``cycles`` times, then to ``end`` (CV); V and V/s."""

    start: float
    vertex_1: float
    vertex_2: float
    end: float
    scan_rate: float
    cycles: int = 1
    recording: Recording = field(default_factory=lambda: Recording(dt=10.0, dE=1e-3))
    limits: tuple[Limit, ...] = ()

    @property
    def duration(self) -> float:
        span = abs(self.vertex_1 - self.start) + abs(self.vertex_2 - self.vertex_1) + abs(self.start - self.vertex_2)
        return (span * self.cycles + abs(self.end - self.start)) / self.scan_rate


@dataclass(frozen=True)
class Impedance:
    """Potentiostatic impedance (PEIS) from ``initial_frequency`` to ``final_frequency`` Hz, log-spaced.

    ``dc_voltage`` is absolute unless ``dc_vs_ocv``, in which case it is added to the open-circuit voltage.
    """

    initial_frequency: float
    final_frequency: float
    points_per_decade: int
    amplitude: float
    dc_voltage: float = 0.0
    dc_vs_ocv: bool = True
    averages: int = 1
    wait_for_steady: float = 0.1
    limits: tuple[Limit, ...] = ()
    recording: Recording = field(default_factory=Recording)

    @property
    def frequencies(self) -> tuple[float, ...]:
        import math

        decades = abs(math.log10(self.final_frequency / self.initial_frequency))
        n = max(2, round(decades * self.points_per_decade) + 1)
        ratio = (self.final_frequency / self.initial_frequency) ** (1 / (n - 1))
        return tuple(self.initial_frequency * ratio**k for k in range(n))

    @property
    def duration(self) -> float:
        return sum((1 + self.wait_for_steady) * self.averages * max(1.0 / f, 0.1) for f in self.frequencies)


Technique = OpenCircuit | ConstantCurrent | ConstantVoltage | CyclicVoltammetry | Impedance
