"""Resolve a protocol into the Plan the engine runs: C-rates to amperes, potentials to what the potentiostat
measures, battery techniques (GCPL, GITT, loops) expanded into device techniques, each checked against the
safety limits and given an estimated duration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from operando.plan import Plan
from operando.protocol.display import format_duration
from operando.protocol.estimates.durations import StateOfCharge
from operando.protocol.resolution.draft import Draft, Place
from operando.protocol.resolution.galvanostatic import cccv, constant_current
from operando.protocol.resolution.gitt import gitt
from operando.protocol.resolution.imaging import check_estimate, resolve_imaging
from operando.protocol.resolution.open_circuit import rest
from operando.protocol.resolution.potentiostatic import constant_voltage, cyclic_voltammetry, impedance
from operando.protocol.resolution.problems import Problems
from operando.protocol.resolution.set_points import safety_limits
from operando.protocol.schema.model import Protocol
from operando.protocol.schema.sensor_limits import SENSOR_LIMITS, resolve_sensor_limits
from operando.protocol.schema.steps import (
    CCCVStep,
    ConstantCurrentStep,
    ConstantVoltageStep,
    CyclicVoltammetryStep,
    GITTStep,
    ImpedanceStep,
    LoopStep,
    RestStep,
)


def resolve(protocol: Protocol) -> Plan:
    """The plan for ``protocol``; raises ProtocolError naming every field that cannot be run safely."""
    problems = Problems(protocol)
    cell = protocol.cell
    charge = StateOfCharge(cell.summary())
    safety = safety_limits(protocol.safety, cell, problems)
    draft = Draft(cell, safety, problems, charge)
    for position, step in enumerate(protocol.steps):
        _resolve_step(draft, step, Place(f"steps[{position}]"))
    warnings: list[str] = []
    imaging = protocol.imaging
    imaging_plan, tracking = (
        resolve_imaging(imaging, cell, safety, tuple(draft.steps), problems, warnings)
        if imaging is not None
        else (None, None)
    )
    problems.raise_any()
    plan = Plan(
        name=protocol.name,
        cell=cell.summary(),
        safety=safety,
        steps=tuple(draft.steps),
        source_text=protocol.source_text,
        source_path=protocol.source_path,
        imaging=imaging_plan,
    )
    if tracking is not None:
        plan.extras["tracking"] = tracking
    if protocol.safety.sensors:
        plan.extras[SENSOR_LIMITS] = resolve_sensor_limits(protocol.safety.sensors)
    if plan.estimated_duration > safety.max_duration:
        warnings.insert(
            0,
            f"estimated duration {format_duration(plan.estimated_duration)} exceeds "
            f"safety.duration_max {format_duration(safety.max_duration)}: the run would stop there",
        )
    if imaging is not None:
        check_estimate(plan, imaging, problems, warnings)
        problems.raise_any()
    if warnings:
        plan.extras["warnings"] = warnings
    return plan


def _loop(draft: Draft, step: LoopStep, place: Place) -> None:
    """Each pass of the loop in turn; a loop of techniques only (no inner loop) counts the cycles."""
    innermost = not any(isinstance(inner, LoopStep) for inner in step.steps)
    for number in range(step.repeat):
        if innermost:
            draft.cycle += 1
        level = {"source": place.path, "pass": number + 1, "of": step.repeat}
        for position, inner in enumerate(step.steps):
            _resolve_step(draft, inner, place.inner(position, level, place.scale * step.current_scale**number))


# The handler of each kind of step: it adds the step's device steps to the draft.
HANDLERS: dict[type, Callable[[Draft, Any, Place], None]] = {
    RestStep: rest,
    ConstantCurrentStep: constant_current,
    ConstantVoltageStep: constant_voltage,
    CCCVStep: cccv,
    CyclicVoltammetryStep: cyclic_voltammetry,
    ImpedanceStep: impedance,
    GITTStep: gitt,
    LoopStep: _loop,
}


def _resolve_step(draft: Draft, step: Any, place: Place) -> None:
    HANDLERS[type(step)](draft, step, place)
