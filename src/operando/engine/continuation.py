"""A step that goes on after a pause or an interruption: what it has left to run.

A timed technique continues with its remaining duration; its own time and charge limits are reduced by what
already ran, and the engine's stops keep measuring from the step's real start (charge, first current, time).
Impedance and cyclic voltammetry cannot be picked up half-way: they run again from the start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from operando.techniques import ConstantCurrent, ConstantVoltage, Limit, OpenCircuit, Technique


@dataclass(frozen=True)
class Continuation:
    """How far a step had got: ``elapsed`` s of its technique, ``charge_at_start`` C (cumulative charge before
    its first point), |I| A of its first point, points recorded so far and charge passed in it (C)."""

    elapsed: float
    charge_at_start: float
    first_abs_current: float | None
    points: int
    charge: float


def _reduced(limit: Limit, elapsed: float, charge: float) -> Limit:
    if limit.quantity == "time":
        return dataclasses.replace(limit, value=limit.value - elapsed)
    if limit.quantity == "abs_Q":
        return dataclasses.replace(limit, value=limit.value - abs(charge))
    return limit


def remaining(technique: Technique, continuation: Continuation) -> tuple[Technique, float]:
    """The technique to start to finish the step, and the seconds of it already run (0 when it restarts)."""
    if not isinstance(technique, OpenCircuit | ConstantCurrent | ConstantVoltage):
        return technique, 0.0
    elapsed = min(max(continuation.elapsed, 0.0), technique.duration)
    limits = tuple(_reduced(limit, elapsed, continuation.charge) for limit in technique.limits)
    return dataclasses.replace(technique, duration=technique.duration - elapsed, limits=limits), elapsed
