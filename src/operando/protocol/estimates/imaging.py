"""What a plan's imaging will cost, before it starts: frames, electron dose, microscope time and disk space.

The triggers are played against the plan's estimated course (:mod:`operando.protocol.estimates.trajectory`) the way the
engine plays them against measured points:

- ``every``: at the start of the run and at each multiple of the interval after it, while the run lasts.
- ``soc_step``: each time the SOC reaches a multiple of the step, going up, or falls below one, going down.
- ``charge_step``: each time the charge passed either way (the throughput) reaches a multiple of the step.
- ``voltage``: each time E_we passes the level in the direction asked; where the run starts is no crossing.
- ``step_start`` / ``step_end``: at each start or end of a step of that name or technique label.
- ``manual``: only on request, so never in an estimate.

One microscope takes one acquisition at a time, first come first served. A trigger of a region whose previous
acquisition is still under way is coalesced; one within ``min_interval`` of its previous frame is skipped;
one whose frame would take the region over its dose budget is skipped (policy "skip") or ends the region's
imaging (policy "stop_region").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from operando.plan import Plan, RegionOfInterest, Trigger
from operando.protocol.estimates.timing import acquisition_time, frame_bytes, frame_time, tracking_dose
from operando.protocol.estimates.trajectory import Trajectory, estimate_trajectory


@dataclass(frozen=True)
class RegionEstimate:
    """One region's expected imaging. Doses in electrons/m^2, times in s, sizes in bytes."""

    name: str
    frames: int
    frame_times: tuple[float, ...]  # s, mid-scan of each expected frame
    fired: tuple[int | None, ...]  # times each of the region's triggers fires; None: cannot be estimated
    coalesced: int  # fired while this region's acquisition was under way
    skipped_min_interval: int
    skipped_budget: int  # refused by the dose budget (skipped, or after the region stopped)
    frame_time: float  # s of one scan
    acquisition_time: float  # s busy in all: settle, tracking frames and scan per frame
    frame_dose: float
    tracking_dose: float  # of the tracking frames before each frame
    total_dose: float
    dose_budget: float | None
    on_budget_exceeded: str
    budget_reached_at: float | None  # s: the first frame the budget refuses; None: never
    budget_reached_soc: float | None
    frame_bytes: int
    disk_bytes: int


@dataclass(frozen=True)
class ImagingEstimate:
    """Every region's estimate and the totals of the run."""

    regions: tuple[RegionEstimate, ...]
    duration: float  # s: the estimated run
    frames: int = field(init=False)
    acquisition_time: float = field(init=False)
    disk_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", sum(region.frames for region in self.regions))
        object.__setattr__(self, "acquisition_time", sum(region.acquisition_time for region in self.regions))
        object.__setattr__(self, "disk_bytes", sum(region.disk_bytes for region in self.regions))

    def region(self, name: str) -> RegionEstimate:
        return next(region for region in self.regions if region.name == name)


def _grid_crossings(t: np.ndarray, values: np.ndarray, step: float) -> list[float]:
    """Times at which piecewise-linear ``values`` reach k x step going up, or fall below it going down."""
    times: list[float] = []
    for index in range(len(t) - 1):
        low, high = values[index], values[index + 1]
        if not (math.isfinite(low) and math.isfinite(high)) or low == high:
            continue
        # The levels in (smaller, larger]: going up, each is reached; going down, each is left below.
        smaller, larger = min(low, high), max(low, high)
        for level in range(math.floor(smaller / step + 1e-9) + 1, math.floor(larger / step + 1e-9) + 1):
            fraction = (level * step - low) / (high - low)
            times.append(float(t[index] + fraction * (t[index + 1] - t[index])))
    return times


def _voltage_crossings(t: np.ndarray, voltage: np.ndarray, level: float, direction: str) -> list[float]:
    times: list[float] = []
    side = 0
    for index in range(len(t)):
        value = voltage[index]
        if not math.isfinite(value):
            continue
        now = 1 if value > level + 1e-6 else -1 if value < level - 1e-6 else 0
        if now == 0 or now == side:
            continue
        if side != 0 and (direction == "either" or (direction == "rising") == (now > 0)):
            before = index - 1
            while not math.isfinite(voltage[before]):
                before -= 1
            low, high = voltage[before], value
            fraction = (level - low) / (high - low) if high != low else 1.0
            times.append(float(t[before] + min(max(fraction, 0.0), 1.0) * (t[index] - t[before])))
        side = now
    return times


def trigger_times(trigger: Trigger, course: Trajectory) -> list[float] | None:
    """When ``trigger`` fires on the estimated course; None when it cannot be estimated."""
    end = course.duration
    if trigger.kind == "every":
        interval = trigger.interval or math.inf
        return [count * interval for count in range(math.ceil(end / interval - 1e-9))] if end > 0 else [0.0]
    if trigger.kind == "soc_step":
        if not np.isfinite(course.soc).all():
            return None
        return _grid_crossings(course.t, course.soc, trigger.soc_step or 1.0)
    if trigger.kind == "charge_step":
        return _grid_crossings(course.t, course.throughput, trigger.charge_step or math.inf)
    if trigger.kind == "voltage_crossing":
        if not course.voltage_known:
            return None
        return _voltage_crossings(course.t, course.voltage, trigger.voltage or 0.0, trigger.direction)
    if trigger.kind in ("step_start", "step_end"):
        return [
            boundary.t
            for boundary in course.boundaries
            if boundary.kind == trigger.kind
            and trigger.step in (None, boundary.step.name, boundary.step.label)
        ]
    return None


@dataclass
class _Region:
    """The running tally of one region while the estimate plays the triggers."""

    region: RegionOfInterest
    tracking: dict[str, Any]
    busy_until: float = -math.inf
    last_start: float = -math.inf
    dose: float = 0.0
    stopped: bool = False
    frame_times: list[float] = field(default_factory=list)
    coalesced: int = 0
    skipped_min_interval: int = 0
    skipped_budget: int = 0
    budget_reached_at: float | None = None

    def offer(self, t: float, microscope_free: float) -> float | None:
        """A trigger fires at ``t``: the acquisition's end if one is taken, else None."""
        region = self.region
        if self.stopped:
            self.skipped_budget += 1
            return None
        if t < self.busy_until:
            self.coalesced += 1
            return None
        if t - self.last_start < region.min_interval - 1e-9:
            self.skipped_min_interval += 1
            return None
        dose = region.frame_dose + tracking_dose(region, self.tracking)
        budget = region.dose_budget
        if budget is not None and self.dose + dose > budget * (1 + 1e-12):
            self.skipped_budget += 1
            if self.budget_reached_at is None:
                self.budget_reached_at = t
            self.stopped = region.on_budget_exceeded == "stop_region"
            return None
        start = max(t, microscope_free)
        self.busy_until = start + acquisition_time(region, self.tracking)
        self.last_start = start
        self.dose += dose
        self.frame_times.append(self.busy_until - frame_time(region) / 2)
        return self.busy_until


def estimate_imaging(plan: Plan, course: Trajectory | None = None) -> ImagingEstimate | None:
    """The imaging estimate of ``plan``, or None for a plan without imaging."""
    if plan.imaging is None:
        return None
    course = course or estimate_trajectory(plan)
    tracking = plan.extras.get("tracking", {})
    tallies = [_Region(region, tracking.get(region.name, {})) for region in plan.imaging.regions]
    fired: list[tuple[int | None, ...]] = []
    offers: list[tuple[float, int]] = []
    for number, region in enumerate(plan.imaging.regions):
        counts: list[int | None] = []
        for trigger in region.triggers:
            times = trigger_times(trigger, course)
            counts.append(None if times is None else len(times))
            offers.extend((time, number) for time in times or ())
        fired.append(tuple(counts))
    microscope_free = -math.inf
    for time, number in sorted(offers):
        end = tallies[number].offer(time, microscope_free)
        if end is not None:
            microscope_free = end
    estimates = []
    for tally, counts in zip(tallies, fired, strict=True):
        region = tally.region
        per_frame = frame_bytes(region, tally.tracking)
        frames = len(tally.frame_times)
        reached = tally.budget_reached_at
        estimates.append(
            RegionEstimate(
                name=region.name,
                frames=frames,
                frame_times=tuple(tally.frame_times),
                fired=counts,
                coalesced=tally.coalesced,
                skipped_min_interval=tally.skipped_min_interval,
                skipped_budget=tally.skipped_budget,
                frame_time=frame_time(region),
                acquisition_time=frames * acquisition_time(region, tally.tracking),
                frame_dose=region.frame_dose,
                tracking_dose=tracking_dose(region, tally.tracking),
                total_dose=tally.dose,
                dose_budget=region.dose_budget,
                on_budget_exceeded=region.on_budget_exceeded,
                budget_reached_at=reached,
                budget_reached_soc=course.soc_at(reached) if reached is not None else None,
                frame_bytes=per_frame,
                disk_bytes=frames * per_frame,
            )
        )
    return ImagingEstimate(regions=tuple(estimates), duration=course.duration)
