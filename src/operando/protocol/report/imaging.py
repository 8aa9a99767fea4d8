"""The imaging part of `operando check`: each region's settings and what it will cost, as text or JSON."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from operando.plan import CellSummary, Plan, RegionOfInterest
from operando.protocol.display import (
    describe_trigger,
    format_bytes,
    format_dose,
    format_duration,
    format_si,
)
from operando.protocol.estimates.imaging import ImagingEstimate, RegionEstimate
from operando.protocol.schema.imaging_model import dwell_of, nearest_scan_rate


def _degrees(radians: float) -> str:
    return f"{math.degrees(radians):.4g} deg"


def _scan(region: RegionOfInterest) -> str:
    width, height = region.frame_size
    field_width, field_height = region.field_of_view
    rate = nearest_scan_rate(region.dwell)
    scan_rate = f" (scan rate {rate})" if math.isclose(region.dwell, dwell_of(rate), rel_tol=0.01) else ""
    return (
        f"{width}x{height} px of {format_si(region.pixel_size, 'm')} "
        f"({field_width * 1e6:.4g} x {field_height * 1e6:.4g} um), {' + '.join(region.detectors)}, "
        f"{format_si(region.accelerating_voltage, 'V')}, {format_si(region.probe_current, 'A')}, "
        f"dwell {format_si(region.dwell, 's')}{scan_rate}"
    )


def _where(region: RegionOfInterest) -> str:
    stage = region.stage_position
    where = (
        "where the stage is at the start"
        if stage is None
        else f"x {stage.x * 1e3:.6g} mm, y {stage.y * 1e3:.6g} mm, z {stage.z * 1e3:.6g} mm, "
        f"tilt {_degrees(stage.tilt)}, rotation {_degrees(stage.rotation)}"
    )
    tilt = "as set" if region.tilt_correction is None else _degrees(region.tilt_correction)
    return (
        f"stage: {where}; tilt correction {tilt}; scan rotation {_degrees(region.scan_rotation)}; "
        f"settle {format_duration(region.settle_time)}; min interval {format_duration(region.min_interval)}"
    )


def _triggers(region: RegionOfInterest, estimate: RegionEstimate, cell: CellSummary) -> str:
    parts = []
    for trigger, count in zip(region.triggers, estimate.fired, strict=True):
        expected = "not estimated" if count is None else f"{count}x"
        parts.append(f"{describe_trigger(trigger, cell)} ({expected})")
    return "triggers: " + "; ".join(parts)


def _frames(region: RegionOfInterest, estimate: RegionEstimate) -> str:
    lost = [
        (estimate.coalesced, "coalesced with an acquisition under way"),
        (estimate.skipped_min_interval, "within the minimum interval"),
        (estimate.skipped_budget, "refused by the dose budget"),
    ]
    dropped = "; ".join(f"{count} {why}" for count, why in lost if count)
    return (
        f"expected {estimate.frames} frames" + (f" ({dropped})" if dropped else "") + f"; a frame scans in "
        f"{format_duration(estimate.frame_time)} (+{format_duration(region.settle_time)} settling), "
        f"{format_duration(estimate.acquisition_time)} of microscope time in all"
    )


def _tracking(settings: dict[str, Any]) -> str:
    if not settings.get("enabled"):
        return "drift tracking off"
    parts = ["correcting" if settings.get("correct", True) else "measuring only (no correction)"]
    if "confidence_threshold" in settings:
        parts.append(f"confidence >= {settings['confidence_threshold']:g}")
    count = settings.get("tracking_frames") or 0
    if count:
        width, height = settings["tracking_frame_size"]
        dwell = format_si(settings["tracking_dwell"], "s")
        parts.append(f"{count} tracking frame(s) of {width}x{height} px at {dwell} before each frame")
    if settings.get("local_fields", True):
        parts.append(f"local displacement fields on a {settings.get('grid', 64)} px grid")
    return f"drift tracking on ({'; '.join(parts)})"


def _dose(estimate: RegionEstimate) -> str:
    per_frame = format_dose(estimate.frame_dose)
    if estimate.tracking_dose:
        per_frame += f" + {format_dose(estimate.tracking_dose)} of tracking frames"
    text = f"dose: {per_frame} per frame, {format_dose(estimate.total_dose)} in all"
    budget = estimate.dose_budget
    if budget is None:
        return text + " (no budget)"
    if estimate.budget_reached_at is None:
        return text + f", {100 * estimate.total_dose / budget:.3g} % of the budget {format_dose(budget)}"
    soc = estimate.budget_reached_soc
    at = format_duration(estimate.budget_reached_at)
    if soc is not None and math.isfinite(soc):
        at += f" ({100 * soc:.3g} % SOC)"
    then = "skipped" if estimate.on_budget_exceeded == "skip" else "refused: the region stops"
    return text + (
        f"; the budget {format_dose(budget)} is reached at about {at}: {estimate.skipped_budget} later "
        f"trigger(s) {then}"
    )


def _disk(region: RegionOfInterest, estimate: RegionEstimate, tracking: dict[str, Any]) -> str:
    width, height = region.frame_size
    fields = tracking.get("enabled") and tracking.get("local_fields", True)
    extra = "its table row and displacement field" if fields else "its table row"
    return (
        f"disk: {format_bytes(estimate.disk_bytes)} ({format_bytes(estimate.frame_bytes)} per frame: "
        f"{len(region.detectors)} detector(s) x {width} x {height} px x 2 B, plus {extra})"
    )


def render_imaging(plan: Plan, estimate: ImagingEstimate) -> list[str]:
    """Lines for `operando check`: each region, then the totals."""
    assert plan.imaging is not None
    tracking = plan.extras.get("tracking", {})
    lines = [
        f"imaging: {len(plan.imaging.regions)} region(s); expected from the plan's estimated course "
        "(frames taken on request not counted)"
    ]
    for region, region_estimate in zip(plan.imaging.regions, estimate.regions, strict=True):
        settings = tracking.get(region.name, {})
        lines += [
            f"  {region.name}: {_scan(region)}",
            f"        {_where(region)}",
            f"        {_triggers(region, region_estimate, plan.cell)}",
            f"        {_tracking(settings)}",
            f"        {_frames(region, region_estimate)}",
            f"        {_dose(region_estimate)}",
            f"        {_disk(region, region_estimate, settings)}",
        ]
    share = estimate.acquisition_time / estimate.duration if estimate.duration else 0.0
    lines.append(
        f"imaging in all: {estimate.frames} frames, {format_duration(estimate.acquisition_time)} of "
        f"microscope time ({100 * share:.2g} % of the run), {format_bytes(estimate.disk_bytes)} on disk"
    )
    return lines


def imaging_to_dict(plan: Plan, estimate: ImagingEstimate) -> dict[str, Any]:
    """The imaging plan (SI) and its estimate, for `operando check --json`."""
    assert plan.imaging is not None
    return {
        "plan": dataclasses.asdict(plan.imaging),
        "estimate": dataclasses.asdict(estimate),
    }
