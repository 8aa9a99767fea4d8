"""A resolved plan shown to a person (text) or a program (JSON-ready dict).

Kept apart from the resolution; the imaging part is rendered by :mod:`operando.protocol.report.imaging`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from operando.plan import CellSummary, Plan, PlannedStep
from operando.protocol.display import format_duration, format_si
from operando.protocol.estimates.imaging import estimate_imaging
from operando.protocol.report.imaging import imaging_to_dict, render_imaging
from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
)

_LIMIT_UNITS = {"E_we": "V", "abs_I": "A", "abs_Q": "C", "time": "s", "abs_dE_dt": "V/s", "soc": ""}
_LIMIT_NAMES = {
    "E_we": "E",
    "abs_I": "|I|",
    "abs_Q": "|Q|",
    "time": "t",
    "abs_dE_dt": "|dE/dt|",
    "soc": "SOC",
}


def describe_limit(limit: Limit, cell: CellSummary | None = None) -> str:
    """A stop as text: "E > 3.68 V (4.3 V vs Li+/Li)", "|I| < 3 uA", "SOC > 80 %", "t > 2 h"."""
    name = _LIMIT_NAMES[limit.quantity]
    if limit.quantity == "soc":
        value = f"{limit.value * 100:.4g} %"
    elif limit.quantity == "time":
        value = format_duration(limit.value)
    elif limit.quantity == "abs_dE_dt":
        value = f"{limit.value * 3.6e6:.4g} mV/h"
    elif limit.quantity == "E_we":
        value = f"{limit.value:.4g} V" + _vs_metal(limit.value, cell)
    else:
        value = format_si(limit.value, _LIMIT_UNITS[limit.quantity])
    suffix = " (ends group)" if limit.action == "end_group" else ""
    return f"{name} {limit.comparison} {value}{suffix}"


def _vs_metal(measured: float, cell: CellSummary | None) -> str:
    if cell is None or cell.counter_potential == 0:
        return ""
    return f" ({cell.to_metal(measured):.4g} V vs {cell.working_ion}+/{cell.working_ion})"


def describe_set_point(step: PlannedStep, cell: CellSummary | None = None) -> str:
    """What the instrument applies, as it applies it (A, or V vs the counter electrode)."""
    technique = step.technique
    if isinstance(technique, OpenCircuit):
        return "open circuit"
    if isinstance(technique, ConstantCurrent):
        return f"I = {format_si(technique.current, 'A')}"
    if isinstance(technique, ConstantVoltage):
        return f"E = {technique.voltage:.4g} V" + _vs_metal(technique.voltage, cell)
    if isinstance(technique, CyclicVoltammetry):
        return (
            f"E {technique.start:.4g} -> {technique.vertex_1:.4g} -> {technique.vertex_2:.4g} -> "
            f"{technique.start:.4g} V at {format_si(technique.scan_rate, 'V/s')}, "
            f"{technique.cycles} cycle(s), "
            f"end {technique.end:.4g} V"
        )
    if isinstance(technique, Impedance):
        level = f"{technique.dc_voltage:.4g} V" + _vs_metal(technique.dc_voltage, cell)
        if technique.dc_vs_ocv:
            level = f"OCV {technique.dc_voltage:+.4g} V" if technique.dc_voltage else "the OCV"
        return (
            f"{format_si(technique.initial_frequency, 'Hz')} -> "
            f"{format_si(technique.final_frequency, 'Hz')}, "
            f"{len(technique.frequencies)} frequencies, {format_si(technique.amplitude, 'V')} around {level}"
        )
    return type(technique).__name__


def step_stops(step: PlannedStep, cell: CellSummary | None = None) -> list[str]:
    """Every stop condition: the device's own, the engine's, the relative current stop, the time bound."""
    stops = [describe_limit(limit, cell) for limit in (*step.technique.limits, *step.stops)]
    if step.relative_current_stop is not None:
        stops.append(f"|I| < {step.relative_current_stop:g} x initial |I|")
    duration = getattr(step.technique, "duration", None)
    if duration is not None and not isinstance(step.technique, (CyclicVoltammetry, Impedance)):
        stops.append(f"t > {format_duration(duration)}")
    return stops


def _plain(value: Any) -> Any:
    """JSON-ready: tuples to lists, non-finite floats to None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """Everything in the plan, SI units, for ``operando check --json`` and for programs."""
    steps = []
    for step in plan.steps:
        entry = dataclasses.asdict(step)
        entry["technique"] = {"type": type(step.technique).__name__, **dataclasses.asdict(step.technique)}
        entry["set_point"] = describe_set_point(step, plan.cell)
        entry["stop_conditions"] = step_stops(step, plan.cell)
        steps.append(entry)
    estimate = estimate_imaging(plan)
    return _plain(
        {
            "name": plan.name,
            "source_path": plan.source_path,
            "cell": dataclasses.asdict(plan.cell),
            "safety": dataclasses.asdict(plan.safety),
            "steps": steps,
            "estimated_duration": plan.estimated_duration,
            "imaging": imaging_to_dict(plan, estimate) if estimate is not None else None,
            "extras": plan.extras,
        }
    )


def _estimate(step: PlannedStep) -> str:
    if str(step.notes.get("estimate", "")).startswith("unknown"):
        return f"unknown ({step.notes['estimate'].removeprefix('unknown: ')})"
    return format_duration(step.estimated_duration)


# Estimate bases that say nothing a reader does not already see in the step's own line.
_PLAIN_BASES = (
    "the rest's duration",
    "its time limit",
    "pulse time",
    "rest time",
    "sweep length",
    "one period",
)


def _step_lines(step: PlannedStep, cell: CellSummary) -> list[str]:
    where = f"cycle {step.cycle}, " if step.cycle else ""
    lines = [
        f"{step.index:>4}  {step.label:<5} {step.name}",
        f"        {describe_set_point(step, cell)}",
        f"        stops: {'; '.join(step_stops(step, cell)) or 'none'}",
        f"        estimated {_estimate(step)} ({where}from {step.source})",
    ]
    basis = str(step.notes.get("estimate", ""))
    if basis and not basis.startswith(("unknown", *_PLAIN_BASES)):
        lines.append(f"          basis: {basis}")
    return lines


def render_plan(plan: Plan) -> str:
    """The plan as text: cell, safety window, each step (GITT trains folded), total estimated duration."""
    cell, safety = plan.cell, plan.safety
    lines = [f"protocol {plan.name!r}" + (f" ({plan.source_path})" if plan.source_path else "")]
    capacity = f"{cell.capacity / 3.6:.4g} mAh" if cell.capacity else "unknown"
    mass = f"{cell.active_mass * 1e6:.5g} mg" if cell.active_mass else "not given"
    specific = f"{cell.specific_capacity / 3600:.4g} mAh/g" if cell.specific_capacity else "unknown"
    lines += [
        f"cell: {cell.name}: {cell.material} ({cell.formula or 'no formula'}), active mass {mass}, "
        f"{specific}, capacity (1C x 1 h) {capacity}",
        f"      {cell.working_ion} cell, counter electrode {cell.counter_electrode} "
        f"({cell.counter_potential:.4g} V vs {cell.working_ion}+/{cell.working_ion}); voltages below are as "
        f"measured, vs {cell.counter_electrode}",
        f"safety: {safety.E_min:.4g} V <= E <= {safety.E_max:.4g} V, |I| <= {format_si(safety.I_max, 'A')}, "
        f"at most {format_duration(safety.max_duration)}, then {safety.safe_state.replace('_', ' ')}",
        f"        potentiostat link lost, or no point for {safety.missing_points_max} recording intervals: run "
        f"suspended, failed after {format_duration(safety.link_outage_max)} suspended",
        "steps:",
    ]
    position = 0
    steps = plan.steps
    while position < len(steps):
        step = steps[position]
        train = (
            [s for s in steps[position:] if s.group == step.group and s.label == "GITT"] if step.group else []
        )
        if len(train) > 2 and step.label == "GITT":
            lines += _step_lines(step, cell) + _step_lines(steps[position + 1], cell)
            expected = sum(
                1
                for s in train
                if s.notes.get("gitt", {}).get("expected") and s.notes["gitt"]["phase"] == "pulse"
            )
            lines.append(
                f"        ... {len(train) // 2} pulse/rest pairs planned "
                f"(steps {step.index}..{train[-1].index}), "
                f"about {expected} expected before the voltage limit; estimated "
                f"{format_duration(sum(s.estimated_duration for s in train))} in all"
            )
            position += len(train)
            continue
        lines += _step_lines(step, cell)
        position += 1
    unknown = sum(1 for step in plan.steps if str(step.notes.get("estimate", "")).startswith("unknown"))
    lines.append(
        f"total estimated duration: {format_duration(plan.estimated_duration)} (an estimate"
        + (f"; plus {unknown} step(s) of unknown length)" if unknown else ")")
    )
    estimate = estimate_imaging(plan)
    if estimate is not None:
        lines += render_imaging(plan, estimate)
    for warning in plan.extras.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
