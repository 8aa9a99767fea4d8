"""The plan's estimated course: time, state of charge, charge passed and voltage, step by step.

Built from the plan's own estimates (each step's estimated duration and start/end SOC), with the voltage from
the material's reference OCV where one is known (a hold at its voltage, a CV along its sweep). Polarisation is
left out: it is what makes real runs shorter. Between breakpoints every quantity is linear in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from operando.plan import Plan, PlannedStep
from operando.protocol.estimates.equilibrium import EquilibriumCurve, equilibrium_curve
from operando.techniques import ConstantCurrent, ConstantVoltage, CyclicVoltammetry

SOC_RESOLUTION = 0.005  # a constant-current step gets a breakpoint every 0.5 % SOC (the OCV is curved)


@dataclass(frozen=True)
class Boundary:
    """A step starting or ending at ``t`` s of the estimated timeline."""

    t: float
    kind: str  # "step_start" or "step_end"
    step: PlannedStep


@dataclass(frozen=True)
class Trajectory:
    """Breakpoints of the estimated run: t s; soc 0..1 (nan: unknown capacity); charge C passed net since the
    start; throughput C passed either way; voltage V as measured (nan where it cannot be estimated)."""

    t: np.ndarray
    soc: np.ndarray
    charge: np.ndarray
    throughput: np.ndarray
    voltage: np.ndarray
    boundaries: tuple[Boundary, ...]
    voltage_known: bool  # False: somewhere it cannot be estimated (no reference OCV for the material)

    @property
    def duration(self) -> float:
        return float(self.t[-1]) if len(self.t) else 0.0

    def soc_at(self, t: float) -> float:
        """The estimated SOC at ``t`` s (nan when the capacity is unknown)."""
        return float(np.interp(t, self.t, self.soc)) if len(self.t) else math.nan


def _runs(step: PlannedStep) -> bool:
    """False for the GITT pulses planned as a safety margin beyond the expected voltage limit."""
    return bool(step.notes.get("gitt", {}).get("expected", True))


def _sweep(technique: CyclicVoltammetry) -> list[float]:
    """The potentials a CV passes through in order: start, the vertices and back, each cycle, then the end."""
    cycle = [technique.vertex_1, technique.vertex_2, technique.start]
    return [technique.start, *cycle * technique.cycles, technique.end]


def _fractions(step: PlannedStep, soc: tuple[float, float]) -> list[float]:
    """Where in the step (0..1 of its duration) to put breakpoints."""
    technique = step.technique
    if isinstance(technique, CyclicVoltammetry):
        legs = _sweep(technique)
        lengths = np.abs(np.diff(legs))
        total = lengths.sum()
        return list(np.cumsum(lengths) / total) if total > 0 else [1.0]
    if isinstance(technique, ConstantCurrent) and all(math.isfinite(value) for value in soc):
        count = max(1, math.ceil(abs(soc[1] - soc[0]) / SOC_RESOLUTION))
        return [(index + 1) / count for index in range(count)]
    return [1.0]


def _voltage(step: PlannedStep, fraction: float, soc: float, curve: EquilibriumCurve | None) -> float:
    technique = step.technique
    if isinstance(technique, ConstantVoltage):
        return technique.voltage
    if isinstance(technique, CyclicVoltammetry):
        legs = _sweep(technique)
        distance = fraction * float(np.abs(np.diff(legs)).sum())
        for low, high in zip(legs, legs[1:], strict=False):
            length = abs(high - low)
            if distance <= length + 1e-12:
                return low + math.copysign(min(distance, length), high - low)
            distance -= length
        return technique.end
    if curve is not None and math.isfinite(soc):
        return curve.voltage(soc)
    return math.nan


def estimate_trajectory(plan: Plan) -> Trajectory:
    """The estimated course of ``plan`` from its steps' estimates."""
    capacity = plan.cell.capacity
    curve = equilibrium_curve(plan.cell)
    t = charge = throughput = 0.0
    # The course starts with the first step: the engine sees no point before it (a CV's jump from the open
    # circuit to its start potential is no crossing).
    rows: list[tuple[float, float, float, float, float]] = []
    boundaries: list[Boundary] = []
    for step in plan.steps:
        if not _runs(step):
            continue
        duration = step.estimated_duration
        soc = tuple(step.notes.get("soc", (math.nan, math.nan)))
        if isinstance(step.technique, ConstantCurrent):
            passed = step.technique.current * duration
        elif capacity and all(math.isfinite(value) for value in soc):
            passed = (soc[1] - soc[0]) * capacity
        else:
            passed = 0.0  # a sweep's or an impedance's net charge: small, and unknown here
        boundaries.append(Boundary(t, "step_start", step))
        rows.append((t, soc[0], charge, throughput, _voltage(step, 0.0, soc[0], curve)))
        for fraction in _fractions(step, soc):  # type: ignore[arg-type]
            now = soc[0] + fraction * (soc[1] - soc[0])
            rows.append(
                (
                    t + fraction * duration,
                    now,
                    charge + fraction * passed,
                    throughput + fraction * abs(passed),
                    _voltage(step, fraction, now, curve),
                )
            )
        t += duration
        charge += passed
        throughput += abs(passed)
        boundaries.append(Boundary(t, "step_end", step))
    if not rows:
        soc = plan.cell.initial_soc if capacity else math.nan
        rows.append((0.0, soc, 0.0, 0.0, curve.voltage(soc) if curve is not None and capacity else math.nan))
    columns = np.array(rows, dtype=float).T
    return Trajectory(
        t=columns[0],
        soc=columns[1],
        charge=columns[2],
        throughput=columns[3],
        voltage=columns[4],
        boundaries=tuple(boundaries),
        voltage_known=bool(np.isfinite(columns[4]).all()),
    )
