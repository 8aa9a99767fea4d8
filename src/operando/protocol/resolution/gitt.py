"""Galvanostatic intermittent titration [GITT]: a train of current pulses and rests, expanded statically up to
a safe number of pulses, with the inputs of the Weppner-Huggins diffusion estimate checked before it runs."""

from __future__ import annotations

import math
from typing import Any

from operando.protocol.display import format_duration, format_si
from operando.protocol.resolution.draft import Draft, Place
from operando.protocol.resolution.set_points import DEFAULT_RECORD_INTERVAL, recording
from operando.protocol.schema.steps import GITTStep
from operando.techniques import ConstantCurrent, Limit, OpenCircuit

# GITT expands statically: more pulses than this means the pulse is too short for the capacity.
MAX_GITT_PULSES = 1000
# GITT plans pulses for this share of the capacity, so a cell that holds more than rated still finishes.
GITT_CAPACITY_MARGIN = 1.2


def gitt(draft: Draft, step: GITTStep, place: Place) -> None:
    current = draft.set_points.current(step.current, place.scale, place.field("current"), place.loops)
    voltage = draft.set_points.voltage(step.until.voltage, place.field("until.voltage"))
    analysis = _analysis_inputs(draft, step, place)
    count, expected = _pulse_counts(draft, step, current, voltage, place)
    if current is None or voltage is None or analysis is None or count is None:
        return
    analysis.update(pulse_current=current, pulse_duration=step.pulse, rest_duration=step.rest)
    group = draft.new_group(place.path)
    name = step.name or "GITT"
    pulse_recording = recording(step.record, min(DEFAULT_RECORD_INTERVAL, max(0.1, step.pulse / 100)))
    rest_recording = recording(step.record, min(DEFAULT_RECORD_INTERVAL, max(0.1, step.rest / 100)))
    sign = ">" if current > 0 else "<"
    for pulse in range(1, count + 1):
        likely = pulse <= expected
        basis = "pulse time" if likely else "not expected to run: the voltage limit should come first"
        limits = (Limit("E_we", sign, voltage, "end_group"),)
        if likely:
            draft.charge.pass_current(current, step.pulse)
        draft.emit(
            place,
            ConstantCurrent(current=current, duration=step.pulse, limits=limits, recording=pulse_recording),
            name=f"{name} pulse {pulse}",
            label="GITT",
            estimate=step.pulse if likely else 0.0,
            basis=basis,
            group=group,
            notes={"gitt": dict(analysis, pulse=pulse, phase="pulse", expected=likely)},
        )
        draft.emit(
            place,
            OpenCircuit(duration=step.rest, recording=rest_recording),
            name=f"{name} rest {pulse}",
            label="GITT",
            estimate=step.rest if likely else 0.0,
            basis="rest time" if likely else basis,
            group=group,
            notes={"gitt": dict(analysis, pulse=pulse, phase="rest", expected=likely)},
        )


def _analysis_inputs(draft: Draft, step: GITTStep, place: Place) -> dict[str, Any] | None:
    """What the Weppner-Huggins estimate needs, checked now so the analysis cannot fail after days."""
    inputs: dict[str, Any] = {
        "particle_radius": step.particle_radius,
        "molar_volume": step.molar_volume,
        "electrode_area": step.electrode_area or draft.cell.electrode_area,
        "active_mass": draft.cell.mass,
        "molar_mass": draft.cell.molar_mass,
    }
    if step.particle_radius is not None:
        return inputs
    missing = [
        (place.field("electrode_area"), "electrode_area", "the electrode area (here or cell.electrode_area)"),
        ("cell.active_mass", "active_mass", "the active mass"),
        ("cell.formula", "molar_mass", "the active material's formula (for its molar mass)"),
    ]
    ok = True
    for where, key, what in missing:
        if inputs[key] is None:
            draft.problem(where, f"GITT with molar_volume needs {what}; or give {place.path}.particle_radius")
            ok = False
    return inputs if ok else None


def _pulse_counts(
    draft: Draft, step: GITTStep, current: float | None, voltage: float | None, place: Place
) -> tuple[int | None, int]:
    """Pulse/rest pairs to plan (a safe maximum), and how many are expected before the voltage limit."""
    capacity = draft.cell.rated_capacity
    if current is None:
        return None, 0
    per_pulse = abs(current) * step.pulse
    if step.max_pulses is not None and step.max_pulses > MAX_GITT_PULSES:
        draft.problem(
            place.field("max_pulses"),
            f"{step.max_pulses} pulse/rest pairs are more than {MAX_GITT_PULSES}: plan at most "
            f"{MAX_GITT_PULSES} (longer pulses or a larger current cover the same capacity in fewer)",
            step.max_pulses,
        )
        return None, 0
    if capacity is None:
        if step.max_pulses is None:
            draft.problem(
                place.field("max_pulses"),
                "needed: the cell's capacity is unknown (no active mass "
                "or capacity in [cell]), so nothing else bounds the number of pulses",
            )
            return None, 0
        return step.max_pulses, step.max_pulses
    count = step.max_pulses or math.ceil(GITT_CAPACITY_MARGIN * capacity / per_pulse)
    if count > MAX_GITT_PULSES:
        draft.problem(
            place.field("pulse"),
            f"{format_duration(step.pulse)} pulses at "
            f"{format_si(current, 'A')} would need {count} pulses to cover the capacity (more than "
            f"{MAX_GITT_PULSES}): use longer pulses, a larger current, or set max_pulses",
        )
        return None, 0
    return count, draft.charge.pulses_to(current, voltage, per_pulse, count)
