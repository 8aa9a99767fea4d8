"""Resolve the ``[imaging]`` section against the cell and the steps into an operando.plan.ImagingPlan.

Voltages of crossings become what the potentiostat measures, step names are checked against the plan, and the
settings that cannot work are refused before anything moves: a frame that takes longer than the region's
minimum interval or its ``every``, a single frame over the dose budget, a state-of-charge trigger on a cell of
unknown capacity. Questionable but possible choices (above 2 kV, a dwell no scan rate gives) are warnings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from operando.cells import Cell
from operando.errors import QuantityError
from operando.plan import (
    ImagingPlan,
    Plan,
    PlannedStep,
    RegionOfInterest,
    SafetyLimits,
    StagePosition,
    Trigger,
)
from operando.protocol.display import describe_trigger, format_duration
from operando.protocol.estimates.imaging import estimate_imaging
from operando.protocol.estimates.timing import acquisition_time, frame_time, tracking_dose, tracking_time
from operando.protocol.schema.imaging_model import (
    OPERANDO_VOLTAGE,
    Imaging,
    RegionSpec,
    TrackingSpec,
    TriggerSpec,
    dwell_of,
    nearest_scan_rate,
)

Problem = Callable[[str, str, object], None]
NANOMETRE_SQUARED = 1e-18  # m^2: doses are shown per nm^2


def resolve_imaging(
    imaging: Imaging,
    cell: Cell,
    safety: SafetyLimits,
    steps: tuple[PlannedStep, ...],
    problem: Problem,
    warnings: list[str],
) -> tuple[ImagingPlan, dict[str, dict[str, Any]]]:
    """The imaging plan and each region's tracking settings; problems and warnings reported, not raised."""
    regions = []
    tracking: dict[str, dict[str, Any]] = {}
    for position, spec in enumerate(imaging.regions):
        path = f"imaging.regions[{position}]"
        triggers = tuple(
            trigger
            for number, written in enumerate(spec.triggers)
            if (trigger := _trigger(written, f"{path}.triggers[{number}]", cell, safety, steps, problem))
        )
        region = _region(spec, triggers)
        tracking[spec.name] = tracking_settings(spec.tracking, path, problem)
        _check_timing(region, tracking[spec.name], path, problem)
        _warn(region, spec, path, warnings)
        regions.append(region)
    return ImagingPlan(regions=tuple(regions)), tracking


def _region(spec: RegionSpec, triggers: tuple[Trigger, ...]) -> RegionOfInterest:
    stage = spec.stage_position
    return RegionOfInterest(
        name=spec.name,
        stage_position=(
            StagePosition(x=stage.x, y=stage.y, z=stage.z, tilt=stage.tilt, rotation=stage.rotation)
            if stage is not None
            else None
        ),
        pixel_size=spec.resolved_pixel_size,
        frame_size=spec.frame_size,
        dwell=spec.resolved_dwell,
        detectors=tuple(spec.detectors),
        accelerating_voltage=spec.accelerating_voltage,
        probe_current=spec.probe_current,
        triggers=triggers,
        tilt_correction=spec.tilt_correction,
        scan_rotation=spec.scan_rotation,
        min_interval=spec.min_interval,
        dose_budget=spec.dose_budget,
        on_budget_exceeded=spec.on_budget_exceeded,
        settle_time=spec.settle_time,
    )


def _trigger(
    spec: TriggerSpec,
    path: str,
    cell: Cell,
    safety: SafetyLimits,
    steps: tuple[PlannedStep, ...],
    problem: Problem,
) -> Trigger | None:
    kind = spec.kind
    if kind == "every":
        return Trigger("every", interval=spec.every)
    if kind == "soc_step":
        if cell.rated_capacity is None:
            problem(
                f"{path}.soc_step",
                "a state-of-charge trigger needs the cell's capacity: give cell.active_mass (with a known "
                "material or formula) or cell.capacity",
                spec.soc_step,
            )
            return None
        return Trigger("soc_step", soc_step=spec.soc_step)
    if kind == "charge_step":
        return Trigger("charge_step", charge_step=spec.charge_step)
    if kind == "voltage":
        assert spec.voltage is not None
        try:
            level = cell.measured(spec.voltage)
        except QuantityError as exc:
            problem(f"{path}.voltage", str(exc), None)
            return None
        if not safety.E_min < level < safety.E_max:
            problem(
                f"{path}.voltage",
                f"{spec.voltage} is {level:.4g} V as measured (vs {cell.counter_name}), outside the safety "
                f"window {safety.E_min:.4g}..{safety.E_max:.4g} V: the cell can never cross it",
                None,
            )
            return None
        return Trigger("voltage_crossing", voltage=level, direction=spec.direction or "either")
    if kind in ("step_start", "step_end"):
        written = getattr(spec, kind)
        if written is True:
            return Trigger(kind, step=None)  # type: ignore[arg-type]
        name = step_called(written, steps)
        if name is None:
            message = f"no step or technique label is called {written!r}; {known_steps(steps)}"
            problem(f"{path}.{kind}", message, None)
            return None
        return Trigger(kind, step=name)  # type: ignore[arg-type]
    return Trigger("manual")


def step_called(written: str, steps: tuple[PlannedStep, ...]) -> str | None:
    """The plan's own spelling of a step name or technique label ("Charge" -> "charge"), or None."""
    wanted = written.strip().lower()
    for step in steps:
        if step.name.lower() == wanted:
            return step.name
    for step in steps:
        if step.label.lower() == wanted:
            return step.label
    return None


def known_steps(steps: tuple[PlannedStep, ...], most: int = 12) -> str:
    """The step names and labels of the plan, for an error message (GITT trains folded)."""
    names = list(dict.fromkeys(step.name for step in steps if step.label != "GITT"))
    trains = list(dict.fromkeys(step.name.rsplit(" ", 1)[0] + " N" for step in steps if step.label == "GITT"))
    shown = (names + [name for name in trains if name not in names])[:most]
    labels = ", ".join(dict.fromkeys(step.label for step in steps))
    more = ", ..." if len(names) + len(trains) > most else ""
    return f"the plan's steps: {', '.join(shown)}{more}; technique labels: {labels}"


def _check_timing(region: RegionOfInterest, tracking: dict[str, Any], path: str, problem: Problem) -> None:
    """Refuse what cannot work: acquisitions longer than the minimum interval or ``every``, a first frame
    over the dose budget."""
    scan = frame_time(region)
    busy = acquisition_time(region, tracking)
    tracked = tracking_time(tracking)
    detail = f"a frame takes {scan:.3g} s to scan (+{region.settle_time:g} s settling"
    detail += f", +{tracked:.3g} s of tracking frames)" if tracked else ")"
    if 0 < region.min_interval < busy:
        problem(
            f"{path}.min_interval",
            f"{format_duration(region.min_interval)} is shorter than one acquisition: {detail}",
            None,
        )
    for number, trigger in enumerate(region.triggers):
        if trigger.kind == "every" and (trigger.interval or 0) < busy:
            problem(
                f"{path}.triggers[{number}].every",
                f"every {format_duration(trigger.interval or 0)} cannot keep up: {detail}",
                None,
            )
    extra = tracking_dose(region, tracking)
    dose = region.frame_dose + extra
    if region.dose_budget is not None and dose > region.dose_budget:
        each = f"{dose * NANOMETRE_SQUARED:.4g} e-/nm^2 each"
        each += ", tracking frames included" if extra else ""
        problem(
            f"{path}.dose_budget",
            f"{region.dose_budget * NANOMETRE_SQUARED:.4g} e-/nm^2 is spent by the first frame ({each}): "
            "raise it, or lower the probe current or dwell, or use larger pixels",
            None,
        )


def _warn(region: RegionOfInterest, spec: RegionSpec, path: str, warnings: list[str]) -> None:
    if region.accelerating_voltage > OPERANDO_VOLTAGE * (1 + 1e-9):
        warnings.append(
            f"{path}.accelerating_voltage: {region.accelerating_voltage / 1e3:.3g} kV is above the 1.5-2 kV "
            "used for battery cross-sections: the beam reaches deeper and damages the electrolyte more"
        )
    if spec.dwell is not None:
        rate = nearest_scan_rate(spec.dwell)
        if not math.isclose(spec.dwell, dwell_of(rate), rel_tol=0.01):
            warnings.append(
                f"{path}.dwell: {spec.dwell * 1e9:.4g} ns is no Zeiss scan rate's dwell (50 ns x 2^n): the "
                f"microscope will scan at rate {rate}, {dwell_of(rate) * 1e9:.4g} ns, and the frame dose and "
                f"time will differ; write dwell = '{dwell_of(rate) * 1e9:.4g} ns' or scan_rate = {rate}"
            )


def tracking_settings(spec: TrackingSpec, path: str, problem: Problem) -> dict[str, Any]:
    """The region's drift-tracking settings, every field of operando.drift.TrackingSettings with the
    tracker's defaults for those not written, as a plain dict in SI units (what the file records)."""
    from operando.drift import TrackingSettings, TrackingSettingsError  # its import costs; only with imaging

    values = {name: getattr(spec, name) for name in type(spec).model_fields}
    try:
        settings = TrackingSettings.from_mapping(
            {key: value for key, value in values.items() if value is not None}
        )
    except TrackingSettingsError as exc:
        problem(f"{path}.tracking", str(exc), None)
        return {"enabled": False}
    return dataclasses.asdict(settings)


def check_estimate(plan: Plan, spec: Imaging, problem: Problem, warnings: list[str]) -> None:
    """Refuse a plan whose triggers would exceed a dose budget unless the protocol says what happens then;
    warn about triggers never expected to fire and a microscope busy most of the run."""
    estimate = estimate_imaging(plan)
    assert estimate is not None and plan.imaging is not None
    for position, (region, written) in enumerate(zip(estimate.regions, spec.regions, strict=True)):
        path = f"imaging.regions[{position}]"
        for number, count in enumerate(region.fired):
            if count == 0:
                trigger = describe_trigger(plan.imaging.regions[position].triggers[number], plan.cell)
                warnings.append(f"{path}.triggers[{number}] ({trigger}): not expected to fire in this plan")
        if region.budget_reached_at is None or region.dose_budget is None:
            continue
        when = format_duration(region.budget_reached_at)
        soc = region.budget_reached_soc
        at = f"{when} into the run"
        if soc is not None and math.isfinite(soc):
            at += f", at {100 * soc:.3g} % SOC"
        text = (
            f"the triggers would take the region over its budget of "
            f"{region.dose_budget * NANOMETRE_SQUARED:.4g} e-/nm^2 after {region.frames} frames of "
            f"{region.frame_dose * NANOMETRE_SQUARED:.4g} e-/nm^2, about {at}"
        )
        if "on_budget_exceeded" in written.model_fields_set:
            then = "skipped" if region.on_budget_exceeded == "skip" else "refused: the region stops"
            warnings.append(f"{path}.dose_budget: {text}; {region.skipped_budget} later trigger(s) {then}")
        else:
            problem(
                f"{path}.dose_budget",
                f"{text}: say what should happen then (on_budget_exceeded = 'skip' skips frames with an "
                "event, 'stop_region' stops imaging the region), or lower the dose",
                None,
            )
    if estimate.duration > 0 and estimate.acquisition_time > 0.5 * estimate.duration:
        warnings.append(
            f"imaging: the microscope would be busy {100 * estimate.acquisition_time / estimate.duration:.3g}"
            " % of the run: triggers will queue behind each other and frames come late"
        )
