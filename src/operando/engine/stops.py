"""Software stops and safety checks, evaluated on every recorded point.

A step's stops (its own, its technique's limits and a relative current stop) end the step at the first point
that meets one; the safety limits of the plan end the whole run. Both are pure functions of the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from operando.engine.events import PointBatch
from operando.engine.recorder import StepRecord
from operando.plan import SafetyLimits
from operando.techniques import Limit


@dataclass(frozen=True)
class StopReason:
    """Why a step ends: the condition met (in words) and what to do next ("next" or "end_group")."""

    description: str
    action: str
    point: int  # index within the batch of the first point that met it


@dataclass(frozen=True)
class SafetyViolation:
    """A safety limit crossed at one point: ``quantity`` measured ``value`` against ``limit``."""

    quantity: str
    value: float
    limit: float
    message: str
    point: int


def _measure(limit: Limit, run: StepRecord, t_device: float, E_we: float, current: float, charge: float,
             soc: float, dE_dt: float | None) -> float | None:
    match limit.quantity:
        case "E_we":
            return E_we
        case "abs_I":
            return abs(current)
        case "abs_Q":
            return abs(charge - run.charge_at_start)
        case "time":
            return t_device + run.elapsed_before
        case "abs_dE_dt":
            return None if dE_dt is None else abs(dE_dt)
        case "soc":
            return soc
    raise ValueError(f"step {run.step.index}: unknown limit quantity {limit.quantity!r}")


def first_stop(run: StepRecord, batch: PointBatch, start: int = 0) -> StopReason | None:
    """The first point of ``batch`` (from ``start``) meeting one of the step's stops; updates the step's
    memory of the previous point (for dE/dt) and of its first current (for the relative stop)."""
    step = run.step
    limits: tuple[Limit, ...] = tuple(step.stops) + tuple(getattr(step.technique, "limits", ()))
    for k in range(start, len(batch)):
        t_device, E_we, current = float(batch.t_device[k]), float(batch.E_we[k]), float(batch.I[k])
        dE_dt = None
        if run.last_point is not None and t_device > run.last_point[0]:
            dE_dt = (E_we - run.last_point[1]) / (t_device - run.last_point[0])
        run.last_point = (t_device, E_we)
        if run.first_abs_current is None:
            run.first_abs_current = abs(current)
            first = True
        else:
            first = False
        for limit in limits:
            value = _measure(limit, run, t_device, E_we, current, float(batch.Q[k]), float(batch.soc[k]),
                             dE_dt)
            if value is not None and limit.met(value):
                return StopReason(limit.describe(), limit.action, k)
        fraction = step.relative_current_stop
        if fraction is not None and not first and abs(current) < fraction * run.first_abs_current:
            threshold = fraction * run.first_abs_current
            return StopReason(f"|I| < {fraction:g} x |I0| = {threshold:.6g} A", "next", k)
    return None


def first_violation(safety: SafetyLimits, batch: PointBatch) -> SafetyViolation | None:
    """The first point of ``batch`` outside the plan's safety limits, if any."""
    for k in range(len(batch)):
        E_we, current, t = float(batch.E_we[k]), float(batch.I[k]), float(batch.t[k])
        # A reading that is not a number cannot show the cell is inside its window: treat it as outside.
        if not math.isfinite(E_we):
            return SafetyViolation("E_we", E_we, safety.E_max,
                                   f"E_we reads {E_we}: the cell's potential is unknown", k)
        if not math.isfinite(current):
            return SafetyViolation("abs_I", current, safety.I_max,
                                   f"I reads {current}: the cell's current is unknown", k)
        if E_we > safety.E_max:
            return SafetyViolation("E_we", E_we, safety.E_max,
                                   f"E_we {E_we:.4f} V above E_max {safety.E_max} V", k)
        if E_we < safety.E_min:
            return SafetyViolation("E_we", E_we, safety.E_min,
                                   f"E_we {E_we:.4f} V below E_min {safety.E_min} V", k)
        if abs(current) > safety.I_max:
            return SafetyViolation("abs_I", abs(current), safety.I_max,
                                   f"|I| {abs(current):.6g} A above I_max {safety.I_max:.6g} A", k)
        if t > safety.max_duration:
            return SafetyViolation("duration", t, safety.max_duration,
                                   f"run time {t:.0f} s beyond max_duration {safety.max_duration:.0f} s", k)
    return None
