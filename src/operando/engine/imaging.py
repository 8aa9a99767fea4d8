"""The imaging side of an experiment: trigger scheduler, acquisition worker and frame finisher.

The data pump and the executor only *offer* points and step boundaries (no waiting); three tasks do the rest:
the scheduler turns trigger firings into acquisition requests (coalescing those for a region already queued
or being imaged, skipping within ``min_interval``), the worker takes one frame at a time, and the finisher
gives each frame the electrochemical state at its mid-scan time, waiting for the point after it when needed.
A microscope fault costs frames and events, never the cycling: after ``fault_limit`` faults in a row a
region rests for ``retry_after`` s (doubling each time), then is tried again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from operando.clock import InstrumentTimeout
from operando.engine.acquisition import RegionSetter, TakenFrame, frame_dose, stack, thumbnail
from operando.engine.events import (
    AcquisitionSkipped,
    DriftMeasured,
    Event,
    Fault,
    FrameAcquired,
    Note,
    PointBatch,
    RegionLost,
    RegionSuspended,
    TriggerCoalesced,
)
from operando.engine.history import ElectrochemState, PointHistory
from operando.engine.triggers import Firing, RegionTriggers, manual_code
from operando.plan import Plan, RegionOfInterest
from operando.roles.microscope import Microscope
from operando.storage import EC_SOURCES, FrameRecord, displacement_grid

if TYPE_CHECKING:  # operando.drift costs half a second to import (scikit-image): only a run that tracks does
    from operando.drift import DriftResult, RegionTracker, TrackingSettings

log = logging.getLogger(__name__)

NM2 = 1e-18  # m^2 per nm^2: dose budgets read in e-/nm^2


@dataclass(frozen=True)
class RegionStart:
    """Where a region's record stands when a run (re)starts: frames taken, dose so far, last request; for a
    resumed run also its triggers as the record leaves them, the firings still owed a frame (fired at once)
    and why it was no longer imaged, if it was not."""

    frames: int = 0
    cumulative_dose: float = 0.0  # electrons/m^2
    last_request: float = -math.inf  # s on the timeline
    triggers: RegionTriggers | None = None
    due: tuple[Firing, ...] = ()
    lost: str = ""


@dataclass
class _Region:
    region: RegionOfInterest
    triggers: RegionTriggers
    frames: int
    cumulative_dose: float
    last_request: float
    tracker: RegionTracker | None = None
    in_flight: bool = False
    lost: str = ""  # set when the region is no longer imaged (dose budget spent with stop_region)
    tracking_lost: bool = False  # the drift tracker cannot find the region; frames go on so it can re-acquire
    faults: int = 0
    suspensions: int = 0
    retry_at: float = -math.inf
    last_frame_dose: float | None = None


@dataclass(frozen=True)
class _Request:
    firing: Firing


@dataclass
class _Pending:
    region: _Region
    request: _Request
    taken: TakenFrame
    index: int
    cumulative_dose: float
    drift: DriftResult | None = None
    measured: Mapping[str, Any] = field(default_factory=dict)  # the values of columns a subclass adds


def _tracking_settings(plan: Plan, name: str) -> TrackingSettings | Mapping[str, Any] | None:
    settings = (plan.extras.get("tracking") or {}).get(name)
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        enabled = settings.get("enabled", False)
    else:
        enabled = getattr(settings, "enabled", False)
    return settings if enabled else None


class Imaging:
    """Runs a plan's imaging on ``microscope``; ``publish`` sends events, ``now`` reads the timeline (s) and
    ``loop_offset`` s turns the microscope's loop times into timeline times (t = loop time - offset).

    Each frame is recorded as one :attr:`record_type`, filled once here; a subclass that records more per
    frame (a microstructure metric) names a :class:`FrameRecord` subclass there and gives the added columns'
    values in :meth:`measure`.
    """

    record_type: type[FrameRecord] = FrameRecord

    def __init__(self, plan: Plan, microscope: Microscope, *, publish: Callable[[Event], Awaitable[None]],
                 now: Callable[[], float], history: PointHistory, loop_offset: float, ec_wait: float,
                 start: Mapping[str, RegionStart] | None = None, microscope_name: str = "microscope",
                 fault_limit: int = 3, retry_after: float = 600.0) -> None:
        if plan.imaging is None:
            raise ValueError(f"plan {plan.name!r} has no imaging plan")
        self.plan = plan
        self.microscope = microscope
        self.microscope_name = microscope_name
        self.history = history
        self.loop_offset = loop_offset
        self.ec_wait = ec_wait
        self.fault_limit = fault_limit
        self.retry_after = retry_after
        self.active = True
        self.inactive_reason = "the experiment is paused"  # what a skipped trigger says while not active
        self._publish = publish
        self._now = now
        self._setter = RegionSetter(microscope)
        self._inbox: asyncio.Queue[Firing] = asyncio.Queue()
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self._pending: asyncio.Queue[_Pending] = asyncio.Queue()
        self._unfinished: list[_Pending] = []
        resumed = start is not None
        start = start or {}
        t0 = now()
        soc = history.state_at(t0).soc
        # A fresh run's timed grid starts at t = 0, even when the clock has moved on a little while the
        # instruments connected (on the wall clock, or a speed-limited simulation); a resumed run takes up the
        # grid where it is.
        grid_start = t0 if resumed else 0.0
        self.regions: dict[str, _Region] = {}
        self._owed: list[Firing] = []
        for region in plan.imaging.regions:
            begun = start.get(region.name, RegionStart())
            if begun.triggers is not None:  # a copy: the resume state may serve more than one attempt
                triggers = copy.deepcopy(begun.triggers)
            else:
                triggers = RegionTriggers(region, start=grid_start, soc=soc)
            self.regions[region.name] = _Region(region, triggers, begun.frames, begun.cumulative_dose,
                                                begun.last_request, lost=begun.lost)
            self._owed.extend(begun.due)
        self._owed.sort(key=lambda f: f.t)
        for firing in self._owed:  # queued now: a run whose last step had ended drains them before it stops
            self._inbox.put_nowait(firing)

    # offered by the engine (never waits)

    def offer_points(self, batch: PointBatch) -> None:
        self.history.add(batch)
        for state in self.regions.values():
            for firing in state.triggers.points(batch):
                self._inbox.put_nowait(firing)

    def offer_step(self, kind: str, t: float, name: str, label: str) -> None:
        for state in self.regions.values():
            for firing in state.triggers.step_boundary(kind, t, name, label):
                self._inbox.put_nowait(firing)

    def request(self, region: str | None = None, author: str = "") -> list[str]:
        """Ask for a frame of ``region`` (None: every region) now; returns the regions asked for."""
        if region is not None and region not in self.regions:
            raise ValueError(f"no region {region!r} in this experiment; regions: {', '.join(self.regions)}")
        names = list(self.regions) if region is None else [region]
        t = self._now()
        for name in names:
            state = self.regions[name]
            code = manual_code(state.region)
            self._inbox.put_nowait(Firing(name, code, state.triggers.labels[code], t, author))
        return names

    # tasks

    async def run(self) -> None:
        """Scheduler, worker and finisher; runs until cancelled (then call :meth:`finish`)."""
        await self._start_trackers()
        for firing in self._owed:  # due when the interrupted run stopped
            await self._publish(Note(self._now(), f"trigger {firing.label!r} of {firing.region} fired at t = "
                                     f"{firing.t:.0f} s had no frame recorded when the run was interrupted: "
                                     f"fired again", "operando"))
        self._owed = []
        async with asyncio.TaskGroup() as group:
            group.create_task(self._schedule(), name="imaging scheduler")
            group.create_task(self._work(), name="acquisition worker")
            group.create_task(self._finish_frames(), name="frame finisher")

    async def _start_trackers(self) -> None:
        wanted = {name: settings for name in self.regions
                  if (settings := _tracking_settings(self.plan, name)) is not None}
        if not wanted:
            return
        try:
            from operando.drift import RegionTracker  # its import costs; only when a region is tracked
        except ImportError as exc:
            await self._publish(Fault(self._now(), f"drift tracking asked for {', '.join(wanted)} but "
                                      f"unavailable ({exc}); imaging goes on without it", "drift tracker"))
            return
        for name, settings in wanted.items():
            try:
                self.regions[name].tracker = RegionTracker(self.regions[name].region, settings)
            except Exception as exc:  # noqa: BLE001 - a tracker that cannot start costs tracking, not frames
                await self._publish(Fault(self._now(), f"region {name!r}: drift tracker could not start: "
                                          f"{exc}", "drift tracker"))

    async def _schedule(self) -> None:
        while True:
            due = min(state.triggers.next_due() for state in self.regions.values())
            timeout = due - self._now()
            firings: list[Firing] = []
            taken = 0  # inbox items fetched, marked done once handled (drain() waits on that)
            if timeout > 0:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives as
                # the queue delivers, and this loop would then run on after the experiment ended.
                try:
                    async with asyncio.timeout(timeout if math.isfinite(timeout) else None):
                        firings.append(await self._inbox.get())
                        taken += 1
                except TimeoutError:
                    pass
            while not self._inbox.empty():
                firings.append(self._inbox.get_nowait())
                taken += 1
            now = self._now()
            for state in self.regions.values():
                firings.extend(state.triggers.due(now))
            firings.sort(key=lambda f: f.t)
            for firing in firings:
                await self._fire(firing)
            for _ in range(taken):
                self._inbox.task_done()

    async def _fire(self, firing: Firing) -> None:
        state = self.regions[firing.region]
        now = self._now()
        if firing.author:
            await self._publish(Note(now, f"frame of {firing.region} requested", firing.author))
        skip = ""
        if state.lost:
            skip = f"region no longer imaged: {state.lost}"
        elif not self.active:
            skip = self.inactive_reason
        elif now < state.retry_at:
            skip = f"region resting after microscope faults until t = {state.retry_at:.0f} s"
        elif state.in_flight:
            await self._publish(TriggerCoalesced(now, firing.region, firing.label))
            return
        elif firing.t - state.last_request < state.region.min_interval:
            skip = (f"{firing.t - state.last_request:.0f} s after the last frame, within min_interval "
                    f"{state.region.min_interval:g} s")
        if skip:
            await self._publish(AcquisitionSkipped(now, firing.region, firing.label, skip))
            return
        state.in_flight = True
        state.last_request = firing.t
        self._requests.put_nowait(_Request(firing))

    async def _work(self) -> None:
        while True:
            request = await self._requests.get()
            state = self.regions[request.firing.region]
            try:
                await self._acquire(state, request)
            finally:
                state.in_flight = False
                self._requests.task_done()
            _stop_if_cancelled()

    def _budget_problem(self, state: _Region) -> str:
        budget = state.region.dose_budget
        if budget is None:
            return ""
        expected = state.last_frame_dose if state.last_frame_dose is not None else state.region.frame_dose
        if state.cumulative_dose + expected <= budget * (1 + 1e-9):
            return ""
        return (f"dose budget: {state.cumulative_dose * NM2:.4g} + {expected * NM2:.4g} e-/nm^2 would exceed "
                f"{budget * NM2:.4g} e-/nm^2")

    async def _acquire(self, state: _Region, request: _Request) -> None:
        firing, region = request.firing, state.region
        if not self.active:
            await self._publish(AcquisitionSkipped(self._now(), firing.region, firing.label,
                                                   self.inactive_reason))
            return
        problem = self._budget_problem(state)
        if problem:
            if region.on_budget_exceeded == "stop_region":
                state.lost = problem
                await self._publish(RegionLost(self._now(), region.name, problem))
            else:
                await self._publish(AcquisitionSkipped(self._now(), region.name, firing.label, problem))
            return
        try:
            taken = await self._take(state)
        except Exception as exc:  # noqa: BLE001 - a microscope fault costs this frame, never the run
            await self._fault(state, exc)
            return
        state.faults = 0
        state.suspensions = 0
        state.last_frame_dose = taken.dose
        state.cumulative_dose += taken.dose
        drift = await self._track(state, taken)
        # Low-dose tracking frames hit the same area: they count against the region's budget too.
        state.cumulative_dose += float(drift.tracking_dose or 0.0) if drift is not None else 0.0
        measured = await self._measured(state, taken)
        pending = _Pending(state, request, taken, state.frames, state.cumulative_dose, drift, measured)
        state.frames += 1
        self._unfinished.append(pending)
        self._pending.put_nowait(pending)

    async def measure(self, region: RegionOfInterest, taken: TakenFrame) -> Mapping[str, Any]:
        """The values of the columns :attr:`record_type` adds to :class:`FrameRecord`, by field name (none
        here). Runs on the event loop once per frame: heavy work belongs on a thread."""
        return {}

    async def _measured(self, state: _Region, taken: TakenFrame) -> Mapping[str, Any]:
        try:
            return await self.measure(state.region, taken)
        except Exception as exc:  # noqa: BLE001 - a failed measurement costs its values (their defaults), never the frame
            await self._publish(Fault(self._now(), f"region {state.region.name!r}: per-frame measurement "
                                      f"failed: {exc}", "operando"))
            return {}

    async def _take(self, state: _Region) -> TakenFrame:
        microscope, region = self.microscope, state.region
        try:
            # Once its drift tracker holds the region's stage position (its own moves included), it puts the
            # stage back itself; the plan's position would undo the tracker's stage corrections.
            held = state.tracker is not None and state.tracker.holds_stage
            await self._setter.apply(region, stage=not held)
            if held:
                await state.tracker.return_stage(microscope)  # before settling, like any stage move
            await asyncio.sleep(region.settle_time)  # blanked: stage and settings settle, no dose
            if state.tracker is not None:
                try:
                    await state.tracker.before_frame(microscope, self._now())
                except Exception as exc:  # noqa: BLE001 - a failed prediction costs the correction only
                    await self._publish(Fault(self._now(), f"region {region.name!r}: drift prediction "
                                              f"failed: {exc}", "drift tracker"))
            frames = await microscope.grab()
        except BaseException:
            self._setter.forget()
            raise
        finally:
            await self._blank()
        metadata = frames[0].metadata
        images = stack(region, frames)
        dose = frame_dose(frames[0])  # the detectors share one scan: one frame's dose
        t_start, t_end = metadata.t_start - self.loop_offset, metadata.t_end - self.loop_offset
        return TakenFrame(frames, t_start, t_end, images, dose)

    async def _blank(self) -> None:
        try:
            await self.microscope.blank()
        except Exception as exc:  # noqa: BLE001 - reported; the fault that caused it is handled by the caller
            log.error("%s: blanking the beam failed: %s", self.microscope_name, exc)

    async def _track(self, state: _Region, taken: TakenFrame) -> DriftResult | None:
        if state.tracker is None:
            return None
        try:
            result = await state.tracker.after_frame(self.microscope, taken.frames)
        except Exception as exc:  # noqa: BLE001 - a failed registration costs the drift value only
            await self._publish(Fault(self._now(), f"region {state.region.name!r}: drift tracking failed: "
                                      f"{exc}", "drift tracker"))
            return None
        await self._publish(DriftMeasured(self._now(), state.region.name, tuple(result.shift),
                                          float(result.confidence), tuple(result.correction),
                                          bool(result.stage_moved), bool(result.valid), str(result.reason)))
        lost = bool(result.lost)
        if lost and not state.tracking_lost:
            reason = f"drift tracker lost the region: {result.reason or 'no match'}"
            await self._publish(RegionLost(self._now(), state.region.name, reason))
        elif state.tracking_lost and not lost:
            await self._publish(Note(self._now(), f"drift tracker found region {state.region.name!r} again",
                                     "drift tracker"))
        state.tracking_lost = lost
        return result

    async def _fault(self, state: _Region, error: BaseException) -> None:
        now = self._now()
        state.faults += 1
        code, name = getattr(error, "code", None), getattr(error, "name", "")
        await self._publish(Fault(now, f"region {state.region.name!r}: frame lost: {error}",
                                  self.microscope_name, code if isinstance(code, int) else None,
                                  name if isinstance(name, str) else ""))
        if state.faults >= self.fault_limit:
            rest = min(self.retry_after * 2**state.suspensions, 8 * self.retry_after)
            state.suspensions += 1
            state.faults = 0
            state.retry_at = now + rest
            reason = f"{self.fault_limit} microscope faults in a row"
            await self._publish(RegionSuspended(now, state.region.name, reason, state.retry_at))

    async def _finish_frames(self) -> None:
        while True:
            pending = await self._pending.get()
            await self.history.wait_after(pending.taken.t_mid, self.ec_wait)
            await self._publish_frame(pending)

    async def drain(self, limit: float = 300.0) -> None:
        """Let what was asked for before the last step ended be taken (the end of the last step is a
        trigger too); gives up after ``limit`` s."""
        try:
            async with InstrumentTimeout(limit):
                await self._inbox.join()
                await self._requests.join()
        except TimeoutError:
            log.warning("imaging: frames asked for at the end were not all taken within %g s", limit)

    async def finish(self) -> None:
        """Publish frames still waiting for their electrochemical state with what is known (the run ends)."""
        self.history.close()
        for pending in list(self._unfinished):
            await self._publish_frame(pending)

    async def _publish_frame(self, pending: _Pending) -> None:
        if pending not in self._unfinished:
            return
        self._unfinished.remove(pending)
        taken, state, firing = pending.taken, pending.region, pending.request.firing
        record = self._record(pending, self.history.state_at(taken.t_mid))
        await self._publish(FrameAcquired(self._now(), record, firing.label, tuple(state.region.detectors),
                                          thumbnail(taken.images[0]), pending.drift))
        oldest = min((p.taken.t_mid for p in self._unfinished), default=taken.t_mid)
        self.history.forget_before(oldest)

    def _record(self, pending: _Pending, ec: ElectrochemState) -> FrameRecord:
        """The frame as the record keeps it, from the scan, the state at mid-scan and the tracker's verdict."""
        taken, firing, region = pending.taken, pending.request.firing, pending.region.region
        metadata = taken.frames[0].metadata
        stage = metadata.stage
        return self.record_type(
            region=region.name, images=taken.images, displacement=_displacement(pending.drift, region),
            index=pending.index, trigger=firing.code, t_requested=firing.t, t_start=taken.t_start,
            t_mid=taken.t_mid, t_end=taken.t_end,
            E_we=ec.E_we, I=ec.I, Q=ec.Q, soc=ec.soc, cycle=ec.cycle, step=ec.step,
            ec_source=EC_SOURCES.index(ec.source),
            pixel_size=metadata.pixel_size, accelerating_voltage=metadata.voltage, probe_current=metadata.current,
            dwell=metadata.dwell, working_distance=metadata.working_distance, attempts=metadata.attempts,
            stage_x=stage.x, stage_y=stage.y, stage_z=stage.z, stage_tilt=stage.tilt,
            stage_rotation=stage.rotation, beam_shift_x=metadata.beam_shift[0], beam_shift_y=metadata.beam_shift[1],
            **_drift_columns(pending.drift),
            frame_dose=taken.dose, cumulative_dose=pending.cumulative_dose,
            **pending.measured)

    def set_active(self, active: bool, reason: str = "the experiment is paused") -> None:
        """Paused or suspended experiments take no frames; a frame being scanned finishes. ``reason`` is
        what triggers skipped meanwhile say."""
        self.active = active
        self.inactive_reason = reason


def _stop_if_cancelled() -> None:
    """End this task if it was cancelled and a call below swallowed the cancellation (Python 3.11's
    asyncio.wait_for does when the call completes as the cancellation arrives; a driver may use it): the
    worker would otherwise wait for the next request and the run's TaskGroup for the worker, for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _displacement(drift: DriftResult | None, region: RegionOfInterest) -> np.ndarray | None:
    """The tracker's local displacement field if it has the file's grid shape (2, gy, gx)."""
    field = drift.displacement if drift is not None else None
    if field is None:
        return None
    field = np.asarray(field, np.float32)
    gy, gx = displacement_grid(region.frame_size)
    if field.shape != (2, gy, gx):
        log.warning("region %r: displacement field of shape %s, expected %s: not stored", region.name,
                    field.shape, (2, gy, gx))
        return None
    return field


def _drift_columns(drift: DriftResult | None) -> dict[str, float | int]:
    """The frame record's drift fields (their defaults without tracking)."""
    if drift is None:
        return {}
    return {"drift_y": float(drift.shift[0]), "drift_x": float(drift.shift[1]),
            "drift_confidence": float(drift.confidence), "drift_valid": int(bool(drift.valid)),
            "correction_x": float(drift.correction[0]), "correction_y": float(drift.correction[1]),
            "stage_moved": int(bool(drift.stage_moved)),
            "max_local_displacement": float(drift.max_local_displacement or math.nan)}
