"""An experiment: run a plan on a potentiostat (and a microscope), record everything to one file, always
leave the instruments safe.

Under one TaskGroup: the protocol executor (step after step, pauses included), the data pump (reads, stamps,
checks stops and safety), the imaging tasks (see :mod:`operando.engine.imaging`: they never hold up the two
before), the duration watchdog, an abort listener, and the sinks (the file first). Whatever ends the run
(the last step, a safety trip, an instrument fault, a bug, an abort or a cancellation), :meth:`_finish`
puts the potentiostat in its safe state, blanks the beam, keeps every point and frame already received and
closes the file with the matching status. A run can also continue an interrupted one (``resume``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from operando.clock import InstrumentTimeout, is_simulated
from operando.engine.acquisition import RegionSetter
from operando.engine.bus import EventBus
from operando.engine.continuation import Continuation, remaining
from operando.engine.events import (
    Event,
    ExperimentState,
    Fault,
    ImpedanceRecorded,
    Note,
    PointsRecorded,
    Resumed,
    RigSnapshot,
    SafetyTripped,
    StateChanged,
    StepEnded,
    StepStarted,
)
from operando.engine.file_sink import StorageSink
from operando.engine.history import PointHistory
from operando.engine.imaging import Imaging
from operando.engine.link import LinkKeeper
from operando.engine.recorder import Recorder, StepRecord
from operando.engine.resume import ResumeState
from operando.engine.sensors import SensorPoller, sensor_limits
from operando.engine.stops import StopReason, first_stop, first_violation
from operando.errors import InstrumentError, OperandoError, SafetyTrip
from operando.instrument_thread import InstrumentThread
from operando.plan import Plan, PlannedStep
from operando.roles.microscope import Microscope
from operando.roles.potentiostat import InstrumentInfo, Potentiostat, Readout
from operando.roles.sensor import Sensor
from operando.storage import (
    PAUSE_LABEL,
    ExperimentFile,
    FileWriter,
    SpaceGuard,
    StorageError,
    create_rig_state,
    frame_bytes,
    technique_labels,
)
from operando.techniques import Impedance, OpenCircuit, Recording
from operando.timeline import Timeline

log = logging.getLogger(__name__)


class AbortRequested(OperandoError):
    """The researcher (or a signal) asked the run to stop: status aborted."""


@dataclass(frozen=True)
class ExperimentResult:
    """How a run ended. ``charge`` C is the net charge at the end (Q of the last point), ``charged`` and
    ``discharged`` C what passed in each direction; ``duration`` s on the timeline."""

    status: ExperimentState
    path: Path
    points: int
    charge: float
    duration: float
    reason: str
    error: BaseException | None = None
    charged: float = 0.0
    discharged: float = 0.0


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


class Experiment:
    """Runs ``plan`` on ``potentiostat`` (and ``microscope`` for its imaging plan) and writes ``out_path``;
    subscribe to :attr:`bus` before :meth:`run`.

    ``poll_interval`` s between reads of the potentiostat (on the experiment clock, simulated or not);
    ``flush_interval`` s of wall time between file flushes at most. With ``resume`` (read from an interrupted
    run's file by :func:`operando.engine.resume.read_resume_state`) the run continues in that file.
    ``rig_state`` (a simulated rig's ``snapshot``) is called after every batch of points read: its JSON state
    is saved with them so a resumed run can put the rig back exactly (see :mod:`operando.storage`).
    ``imaging_step`` takes the frames: an :class:`Imaging` subclass records more per frame (its
    ``record_type``, whose columns the file's region tables get).
    """

    def __init__(self, plan: Plan, potentiostat: Potentiostat, out_path: str | Path, *,
                 poll_interval: float = 1.0, rig_config: Mapping[str, Any] | None = None,
                 instrument_name: str = "potentiostat", flush_interval: float = 1.0,
                 safe_state_timeout: float = 30.0, microscope: Microscope | None = None,
                 microscope_name: str = "microscope", resume: ResumeState | None = None,
                 sensors: Mapping[str, Sensor] | None = None,
                 sensor_intervals: Mapping[str, float] | None = None,
                 rig_state: Callable[[], Any] | None = None,
                 imaging_step: type[Imaging] = Imaging) -> None:
        if not (poll_interval > 0 and math.isfinite(poll_interval)):
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if not plan.steps:
            raise ValueError(f"plan {plan.name!r} has no steps to run")
        if plan.imaging is not None and plan.imaging.regions and microscope is None:
            names = ", ".join(region.name for region in plan.imaging.regions)
            raise ValueError(f"plan {plan.name!r} images {names} but the rig has no microscope")
        self.plan = plan
        self.microscope = microscope if plan.imaging is not None and plan.imaging.regions else None
        self.microscope_name = microscope_name
        self.resume = resume
        self.potentiostat = potentiostat
        self.out_path = Path(out_path)
        self.poll_interval = float(poll_interval)
        self.rig_config = dict(rig_config or {})
        self.instrument_name = instrument_name
        self.flush_interval = flush_interval
        self.safe_state_timeout = safe_state_timeout
        self.bus = EventBus()
        self.rig_state = rig_state
        # Cell sensors (operando.engine.sensors): polled beside the protocol, limits from [safety.sensors].
        self.sensors = (SensorPoller(sensors or {}, intervals=sensor_intervals,
                                     limits=sensor_limits(plan))
                        if sensors or sensor_limits(plan) else None)
        self.state = ExperimentState.IDLE
        self.timeline: Timeline | None = None
        self.recorder = Recorder(plan.cell)
        self._labels = {label: code for code, label in enumerate(technique_labels(plan))}
        self._current: StepRecord | None = None
        self._stop: StopReason | None = None
        self._step_done = asyncio.Event()
        self._step_started = asyncio.Event()
        self._abort = asyncio.Event()
        self._abort_reason = ""
        self._released = False  # an abort cut the connection short: every instrument is safe and disconnected
        self._storage_error: BaseException | None = None
        self._pending_read: asyncio.Task[Readout] | None = None
        self._impedance_runs = 0
        self._wake = asyncio.Event()  # cuts the pump's sleep short (a pause, a resume)
        self._pause_wanted: tuple[str, str] | None = None  # (reason, author) until the executor pauses
        self._resume_wanted = asyncio.Event()
        self._resume_author = ""
        self.imaging: Imaging | None = None
        self.imaging_step = imaging_step
        self.history = PointHistory(plan.cell.capacity) if self.microscope is not None else None
        # Link outages and missing data suspend the run (operando.engine.link), they do not fail it.
        self.link = LinkKeeper(potentiostat, self._read, plan.safety, publish=self._publish, now=self._now,
                               on_suspend=self._suspend, instrument=instrument_name,
                               poll_interval=self.poll_interval)
        self._state_before_suspension = ExperimentState.RUNNING
        if resume is not None:
            self.recorder.counter.resume(resume.charge, resume.charged, resume.discharged)
            self.recorder.points = resume.points
            self._impedance_runs = resume.impedance_runs

    # public controls (all callable from the event loop at any time)

    def request_pause(self, reason: str = "", author: str = "") -> None:
        """Pause: the step stops, the cell rests at open circuit (recorded), no frames, beam blanked."""
        if self.state is not ExperimentState.RUNNING or self._pause_wanted is not None:
            raise ValueError(f"cannot pause: the experiment is {self._state_words()}")
        self._pause_wanted = (reason or "paused by request", author)
        self._resume_wanted.clear()
        self._wake.set()

    def request_resume(self, author: str = "") -> None:
        """Continue a paused experiment: the interrupted step goes on with what it had left."""
        if self.state is ExperimentState.SUSPENDED:
            self.link.retry_now()  # suspended by a fault: try the instrument again now
            return
        paused = (ExperimentState.PAUSED, ExperimentState.SUSPENDED)
        if self.state not in paused or self._resume_wanted.is_set():
            raise ValueError(f"cannot resume: the experiment is {self._state_words()}, not paused")
        self._resume_author = author
        self._resume_wanted.set()
        self._wake.set()

    def request_acquisition(self, region: str | None = None, author: str = "") -> None:
        """Take a frame of ``region`` (None: every region) as soon as the microscope is free."""
        if self.imaging is None:
            raise ValueError("cannot acquire: this experiment has no imaging plan" if self.microscope is None
                             else f"cannot acquire: the experiment is {self._state_words()}")
        if self.state is not ExperimentState.RUNNING:
            raise ValueError(f"cannot acquire: the experiment is {self._state_words()}")
        self.imaging.request(region, author)

    def _state_words(self) -> str:
        if self._pause_wanted is not None and self.state is ExperimentState.RUNNING:
            return "pausing"
        return self.state.value

    def request_abort(self, reason: str = "aborted by the user") -> None:
        """Stop the run as soon as possible: safe state, status aborted (callable from a signal handler)."""
        if not self._abort.is_set():
            self._abort_reason = reason
            self._abort.set()
        else:  # a second Ctrl-C or SIGTERM: say the first is being obeyed, not ignored
            log.warning("%s: the run is already stopping (%s); the instruments are being made safe", reason,
                        self._abort_reason or "file failure")

    async def note(self, text: str, author: str = "researcher") -> None:
        """Add a remark to the record at the present time."""
        await self._publish(Note(self._now(), text, author))

    # the run

    async def run(self) -> ExperimentResult:
        """Run the whole plan; returns how it ended (raises only if it cannot start, or when cancelled)."""
        if self.state is not ExperimentState.IDLE:
            raise RuntimeError(f"experiment {self.plan.name!r} already {self.state.value}; make a new one")
        if self.resume is None and self.out_path.exists():  # refused before anything moves
            raise FileExistsError(f"{self.out_path} already exists; a record is never overwritten")
        if self.resume is not None and not self.out_path.exists():
            raise FileNotFoundError(f"{self.out_path}: the file to resume into does not exist")
        space = SpaceGuard(self.out_path)
        space.prepare(frame=frame_bytes(self.plan))  # a full or read-only disk is refused before anything moves
        file_thread = InstrumentThread("file")
        try:
            instruments = await self._connect()
            if self.resume is None:
                self.timeline = Timeline()
            else:
                self.timeline = Timeline.resumed(self.resume.last_record + self._resume_gap(),
                                                 self.resume.start_utc)
            try:
                if self.resume is None:
                    file = await file_thread.call(
                        ExperimentFile.create, self.out_path, plan=self.plan, instruments=instruments,
                        start_utc=self.timeline.start_utc, rig_config=self.rig_config,
                        sections=self._sections(), frame_record=self.imaging_step.record_type)
                else:
                    file = await file_thread.call(ExperimentFile.reopen, self.out_path)
            except BaseException:
                await self._safe_state()
                await self._microscope_safe_state()
                await self._disconnect()
                raise
            writer = FileWriter(file, flush_interval=self.flush_interval, space=space)
            subscription = self.bus.subscribe("file", maxsize=1000)
            sink = StorageSink(writer, subscription, on_error=self._storage_failed)
            writer.on_done = sink.notify
            outcome: tuple[ExperimentState, str, BaseException | None]
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(sink.run(), name="file sink")
                    outcome = await self._supervise()
            finally:
                end = self.timeline.now()
                try:
                    writer.submit("status", {"status": self.state.value, "end_utc": self.timeline.utc(end),
                                             "duration": end})
                    await file_thread.call(writer.close)
                except Exception as exc:  # noqa: BLE001 - the storage failure is already the run's outcome
                    log.error("%s: the file could not be completed: %s", self.out_path, exc)
        finally:
            space.release()  # the reserve goes with the run however it ended (a failed connect too)
            file_thread.close(wait=False)
        status, reason, error = outcome
        if isinstance(error, asyncio.CancelledError):
            raise error
        counter = self.recorder.counter
        return ExperimentResult(status, self.out_path, self.recorder.points, counter.charge, end, reason,
                                error, counter.charged, counter.discharged)

    async def _connect(self) -> dict[str, InstrumentInfo]:
        """Connect every instrument. One that cannot connect stops the start; an abort meanwhile cuts the
        connection short (an EHT run-up, a firmware load) and the run then ends aborted before anything starts.
        Either way every instrument is left safe and disconnected."""
        instruments: dict[str, InstrumentInfo] = {}
        connecting = asyncio.ensure_future(self._connect_each(instruments))
        abort = asyncio.ensure_future(self._abort.wait())
        try:
            await asyncio.wait((connecting, abort), return_when=asyncio.FIRST_COMPLETED)
        finally:
            abort.cancel()
            if not connecting.done():
                connecting.cancel()
                await asyncio.wait((connecting,))  # its cleanup: instruments safe and disconnected
        if connecting.cancelled() and self._abort.is_set():
            self._released = True
            return instruments  # those that had connected, for the record of the run that never started
        return connecting.result()

    async def _connect_each(self, instruments: dict[str, InstrumentInfo]) -> dict[str, InstrumentInfo]:
        """Connect the potentiostat, the microscope (blanked, regions checked, EHT on) and the sensors, filling
        ``instruments``; whatever stops it (a fault, a cancellation) leaves them safe and disconnected."""
        try:
            instruments[self.instrument_name] = await self.potentiostat.connect()
            if self.microscope is not None:
                instruments[self.microscope_name] = await self.microscope.connect()
                await self.microscope.blank()
                checker = RegionSetter(self.microscope)
                for region in self.plan.imaging.regions:  # type: ignore[union-attr]
                    await checker.check(region)
                if not (await self.microscope.beam()).on:
                    await self.microscope.beam_on()
            if self.sensors is not None:
                instruments.update(await self.sensors.connect())
        except asyncio.CancelledError:
            await self._safe_state()  # the channel may have been running before: stopped, as on any abort
            await self._connected_microscope_safe(instruments)
            await self._disconnect()
            raise
        except BaseException:
            if self.instrument_name in instruments:
                await self._safe_state()
            await self._connected_microscope_safe(instruments)
            await self._disconnect()
            raise
        return instruments

    async def _connected_microscope_safe(self, instruments: dict[str, InstrumentInfo]) -> None:
        if self.microscope_name in instruments:  # a microscope that failed to connect released itself
            await self._microscope_safe_state()

    def _resume_gap(self) -> float:
        """Seconds between the last record and now: the wall clock's gap, none on simulated time (a simulated
        run has no real gap: it continues where the record stops)."""
        assert self.resume is not None
        if is_simulated():
            return 0.0
        since_start = (datetime.now(UTC) - self.resume.start_utc).total_seconds()
        return max(0.0, since_start - self.resume.last_record)

    async def _supervise(self) -> tuple[ExperimentState, str, BaseException | None]:
        """Run the protocol tasks, classify how they ended, then finish; never raises."""
        if self._abort.is_set() and self._storage_error is None:
            return await self._aborted_before_start()
        await self._set_state(ExperimentState.RUNNING, "started" if self.resume is None else "resumed")
        status, reason, error = ExperimentState.COMPLETED, "all steps done", None
        try:
            if self.resume is not None:
                await self._publish(Resumed(self._now(), self.resume.last_record,
                                            self._now() - self.resume.last_record, self.resume.reason))
            self._start_imaging()
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._pump(), name="data pump"),
                         group.create_task(self._watch_duration(), name="duration watchdog"),
                         group.create_task(self._listen_for_abort(), name="abort listener")]
                if self.imaging is not None:
                    tasks.append(group.create_task(self.imaging.run(), name="imaging"))
                if self.sensors is not None:
                    tasks.append(group.create_task(self._poll_sensors(), name="sensors"))
                await self._execute()
                if self.imaging is not None:
                    await self.imaging.drain()
                for task in tasks:
                    task.cancel()
        except asyncio.CancelledError as cancelled:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            status, reason, error = ExperimentState.ABORTED, "cancelled (interrupted)", cancelled
        except BaseException as raised:  # noqa: BLE001 - every way out must leave the cell safe
            status, reason, error = self._classify(raised)
        await self._finish(status, reason, error)
        return status, reason, error

    async def _aborted_before_start(self) -> tuple[ExperimentState, str, BaseException | None]:
        """Aborted while the instruments connected: nothing is started; the record says so."""
        reason = f"{self._abort_reason} (before the start: nothing was started)"
        if self._released:  # cut short while connecting: already safe and disconnected
            await self._set_state(ExperimentState.FINISHING, reason)
            await self._set_state(ExperimentState.ABORTED, reason)
            await self.bus.close()
        else:
            await self._finish(ExperimentState.ABORTED, reason, None)
        return ExperimentState.ABORTED, reason, AbortRequested(reason)

    def _start_imaging(self) -> None:
        if self.microscope is None or self.history is None:
            return
        loop = asyncio.get_running_loop()
        polls = [getattr(step.technique, "recording", Recording()).dt for step in self.plan.steps]
        resume = self.resume
        if resume is not None:
            self.history.seed(resume.recent_points)
        self.imaging = self.imaging_step(
            self.plan, self.microscope, publish=self._publish, now=self._now, history=self.history,
            loop_offset=loop.time() - self._now(), ec_wait=2 * self.poll_interval + max(polls, default=0.0),
            start=resume.regions if resume is not None else None, microscope_name=self.microscope_name)

    @staticmethod
    def _classify(raised: BaseException) -> tuple[ExperimentState, str, BaseException]:
        leaves = _leaves(raised)
        for kind, status in ((SafetyTrip, ExperimentState.ABORTED), (AbortRequested, ExperimentState.ABORTED),
                             (InstrumentError, ExperimentState.FAILED), (StorageError, ExperimentState.FAILED)):
            for leaf in leaves:
                if isinstance(leaf, kind):
                    return status, str(leaf), leaf
        leaf = leaves[0]
        return ExperimentState.FAILED, f"internal error: {type(leaf).__name__}: {leaf}", leaf

    # protocol executor

    async def _execute(self) -> None:
        steps = self.plan.steps
        index = self.resume.step_index if self.resume is not None else 0
        carry = self.resume.continuation if self.resume is not None else None
        while index < len(steps):
            if self._pause_wanted is not None:
                await self._pause(steps[index])
            step = steps[index]
            record = await self._start_step(step, carry)
            carry = None
            if record is None:  # a continued step with nothing left to run
                index += 1
                continue
            await self._step_done.wait()
            stop = self._stop
            now = self._now()
            elapsed = self._elapsed(record, now)
            self._current = None
            if stop is not None and stop.action == "pause":
                await self._publish(StepEnded(now, step.index, step.name, "paused", None, "pause",
                                              record.points, record.charge, stop.description, elapsed))
                carry = Continuation(elapsed, record.charge_at_start, record.first_abs_current, record.points,
                                     record.charge)
                await self._pause(step)
                continue
            reason = "limit" if stop is not None else "duration"
            await self._publish(StepEnded(now, step.index, step.name, reason,
                                          stop.description if stop else None, stop.action if stop else "next",
                                          record.points, record.charge, "", elapsed))
            if self.imaging is not None:
                self.imaging.offer_step("step_end", now, step.name, step.label)
            index += 1
            if stop is not None and stop.action == "end_group" and step.group is not None:
                skipped = []
                while index < len(steps) and steps[index].group == step.group:
                    skipped.append(steps[index].index)
                    index += 1
                if skipped:
                    text = f"group {step.group!r} ended by {stop.description}: skipped steps {skipped}"
                    await self._publish(Note(self._now(), text))

    def _elapsed(self, record: StepRecord, now: float) -> float:
        """Seconds the step's technique has run, pauses excluded, at most its planned duration."""
        ran = record.elapsed_before + max(0.0, now - record.clock.offset)
        return min(ran, getattr(record.step.technique, "duration", math.inf))

    async def _start_step(self, step: PlannedStep, carry: Continuation | None = None) -> StepRecord | None:
        assert self.timeline is not None
        technique, elapsed_before = step.technique, 0.0
        if carry is not None:
            technique, elapsed_before = remaining(step.technique, carry)
            if getattr(technique, "duration", math.inf) <= 0:
                return None
        record = await self._run_technique(step, technique, self._labels[step.label])
        if carry is not None and elapsed_before > 0:
            record.elapsed_before = elapsed_before
            record.charge_at_start = carry.charge_at_start
            record.first_abs_current = carry.first_abs_current
            record.points = carry.points
            record.last_charge = self.recorder.counter.charge
        await self._publish(StepStarted(record.clock.offset, step.index, step.name, step.label, step.cycle,
                                        step.source, record.clock.offset, record.clock.uncertainty,
                                        carry is not None, elapsed_before))
        if self.imaging is not None and carry is None:
            self.imaging.offer_step("step_start", record.clock.offset, step.name, step.label)
        self._step_started.set()
        return record

    async def _run_technique(self, step: PlannedStep, technique: Any, code: int) -> StepRecord:
        """Start a technique on the potentiostat and make it the one the pump records."""
        assert self.timeline is not None
        before = self.timeline.now()
        await self.link.call(lambda: self.potentiostat.start(technique))
        after = self.timeline.now()
        clock = self.timeline.device_clock(f"{self.instrument_name} step {step.index}", before, after)
        run_step = step if technique is step.technique else replace(step, technique=technique)
        record = StepRecord(run_step, clock, code, self.recorder.counter.charge)
        if isinstance(technique, Impedance):
            record.impedance_run = self._impedance_runs
            self._impedance_runs += 1
        self._stop = None
        self._step_done.clear()
        self._current = record
        return record

    # pause and resume

    async def _pause(self, step: PlannedStep) -> None:
        """Rest at open circuit (recorded as the interrupted step, technique "OCV (pause)") until resumed."""
        reason, author = self._pause_wanted or ("paused", "")
        if self.imaging is not None:
            self.imaging.set_active(False)
        await self._set_state(ExperimentState.PAUSED, f"{reason} ({author})" if author else reason)
        recording = getattr(step.technique, "recording", None) or Recording(dt=60.0)
        rest = OpenCircuit(duration=max(self.plan.safety.max_duration - self._now(), 1.0),
                           recording=Recording(dt=recording.dt))
        pause_step = replace(step, name="pause", label=PAUSE_LABEL, technique=rest, stops=(),
                             relative_current_stop=None)
        record = await self._run_technique(pause_step, rest, self._labels[PAUSE_LABEL])
        await self._publish(StepStarted(record.clock.offset, step.index, "pause", PAUSE_LABEL, step.cycle,
                                        step.source, record.clock.offset, record.clock.uncertainty))
        self._step_started.set()
        await self._resume_wanted.wait()
        self._stop = StopReason("resumed", "next", 0)
        self._wake.set()
        await self._step_done.wait()
        await self._publish(StepEnded(self._now(), step.index, "pause", "duration", None, "next",
                                      record.points, record.charge, "", self._elapsed(record, self._now())))
        self._current = None
        self._pause_wanted = None
        self._resume_wanted.clear()
        author = self._resume_author
        await self._set_state(ExperimentState.RUNNING, f"resumed ({author})" if author else "resumed")
        if self.imaging is not None:
            self.imaging.set_active(True)

    # data pump

    async def _read(self) -> Readout:
        # Shielded: a read cancelled half-way would drop points the instrument already handed over; _finish
        # collects its result instead.
        if self._pending_read is None:
            self._pending_read = asyncio.ensure_future(self.potentiostat.read())
        try:
            readout = await asyncio.shield(self._pending_read)
        except asyncio.CancelledError:
            raise  # the read stays pending for _finish
        except BaseException:
            self._pending_read = None
            raise
        self._pending_read = None
        return readout

    async def _pump(self) -> None:
        pause_code = self._labels[PAUSE_LABEL]
        while True:
            record = self._current
            if record is None or self._step_done.is_set():
                self._step_started.clear()
                await self._step_started.wait()
                continue
            if self._pause_wanted is not None and self._stop is None and record.technique_code != pause_code:
                self._stop = StopReason(self._pause_wanted[0], "pause", 0)
            readout = await self.link.read(record)
            await self._ingest(record, readout, check=True)
            if self._stop is not None and readout.running and not record.stop_sent:
                record.stop_sent = True
                await self.link.call(self.potentiostat.stop)
                continue  # read at once: the instrument hands over its last points and reports it stopped
            if not readout.running:
                self._step_done.set()
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(self._next_poll(record)):  # not wait_for: see imaging._schedule
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _next_poll(self, record: StepRecord) -> float:
        """Poll interval, shortened to wake when a timed step should end so the next starts on time."""
        remaining = getattr(record.step.technique, "duration", math.inf) - (self._now() - record.clock.offset)
        poll = remaining if 0 < remaining < self.poll_interval else self.poll_interval
        deadline = self.link.deadline(record)  # the data watchdog reads at its deadline
        return min(poll, deadline - self._now()) if deadline is not None and deadline > self._now() else poll

    async def _ingest(self, record: StepRecord, readout: Readout, *, check: bool) -> None:
        """Record a readout's points; with ``check``, find the step's stop and trip on a safety violation."""
        if readout.points:
            batch = self.recorder.record(record, readout.points)
            if self.imaging is not None:
                self.imaging.offer_points(batch)
            await self._publish(PointsRecorded(float(batch.t[-1]), batch, self._snapshot()))
            if check:
                violation = first_violation(self.plan.safety, batch)
                if self._stop is None:
                    self._stop = first_stop(record, batch)
                if violation is not None:
                    await self._publish(SafetyTripped(float(batch.t[violation.point]), violation.quantity,
                                                      violation.value, violation.limit, violation.message))
                    raise SafetyTrip(violation.message)
        if readout.impedance:
            impedance = self.recorder.record_impedance(record, readout.impedance)
            await self._publish(ImpedanceRecorded(float(impedance.t[-1]), impedance))

    async def _suspend(self, suspended: bool, reason: str) -> None:
        """The link keeper suspends the run (no frames meanwhile) and lifts it, back to where it was."""
        if suspended:
            self._state_before_suspension = self.state
            if self.imaging is not None:
                self.imaging.set_active(False, f"the experiment is suspended ({reason})")
            await self._set_state(ExperimentState.SUSPENDED, reason)
            return
        await self._set_state(self._state_before_suspension, reason)
        if self.imaging is not None and self.state is ExperimentState.RUNNING:
            self.imaging.set_active(True)

    # watchdog and abort

    async def _watch_duration(self) -> None:
        limit = self.plan.safety.max_duration
        await asyncio.sleep(max(0.0, limit - self._now()))
        message = f"run time beyond max_duration {limit:.0f} s"
        await self._publish(SafetyTripped(self._now(), "duration", self._now(), limit, message))
        raise SafetyTrip(message)

    async def _listen_for_abort(self) -> None:
        await self._abort.wait()
        if self._storage_error is not None:
            raise self._storage_error
        raise AbortRequested(self._abort_reason)

    def _storage_failed(self, error: BaseException) -> None:
        """The file cannot be written (disk full, removed): stop the run, status failed, cell safe."""
        if self._storage_error is None:
            self._storage_error = error
            self._abort.set()

    # the way out

    async def _finish(self, status: ExperimentState, reason: str, error: BaseException | None) -> None:
        """Safe state first (cell, then beam), then keep what the instruments hold, then close the record."""
        await self._set_state(ExperimentState.FINISHING, reason)
        if error is not None and not isinstance(error, SafetyTrip | AbortRequested | asyncio.CancelledError):
            code, name = (error.code, error.name) if isinstance(error, InstrumentError) else (None, "")
            source = self.instrument_name if isinstance(error, InstrumentError) else "operando"
            await self._publish(Fault(self._now(), str(error) or type(error).__name__, source, code, name))
        await self._safe_state()
        await self._microscope_safe_state()
        record = self._current
        if record is not None:
            await self._drain(record)
            if status is not ExperimentState.COMPLETED:
                await self._publish(StepEnded(self._now(), record.step.index, record.step.name, "stopped",
                                              None, "stop", record.points, record.charge, reason,
                                              self._elapsed(record, self._now())))
        if self.imaging is not None:
            await self.imaging.finish()
        await self._set_state(status, reason)
        await self._disconnect()
        await self.bus.close()

    def _sections(self) -> tuple[Any, ...]:
        sections: tuple[Any, ...] = (self.sensors.section,) if self.sensors is not None else ()
        return (*sections, create_rig_state) if self.rig_state is not None else sections

    def _snapshot(self) -> RigSnapshot | None:
        """The rig's state now (between instrument calls: just after a read), or None without one; a rig
        that fails to give it costs the saved state, never the run."""
        if self.rig_state is None:
            return None
        try:
            return RigSnapshot(self._now(), self.recorder.points, self.rig_state())
        except Exception as exc:  # noqa: BLE001 - ground truth for a resume, not a measurement
            log.warning("the rig's state could not be saved (a resume will rebuild it less exactly): %s", exc)
            return None

    async def _poll_sensors(self) -> None:
        assert self.sensors is not None
        loop_offset = asyncio.get_running_loop().time() - self._now()
        await self.sensors.run(self._publish, self._now, loop_offset)

    async def _disconnect(self) -> None:
        if self.sensors is not None:
            await self.sensors.disconnect()
        try:
            await self.potentiostat.disconnect()
        except Exception as exc:  # noqa: BLE001 - already safe; a failed goodbye is only worth a line
            log.warning("%s: disconnect failed: %s", self.instrument_name, exc)
        if self.microscope is not None:
            try:
                await self.microscope.disconnect()
            except Exception as exc:  # noqa: BLE001 - as above
                log.warning("%s: disconnect failed: %s", self.microscope_name, exc)

    async def _microscope_safe_state(self) -> None:
        """Blank the beam and stop the stage; a failure is recorded (the cell is already safe)."""
        if self.microscope is None:
            return
        try:
            async with InstrumentTimeout(self.safe_state_timeout):
                await self.microscope.safe_state()
        except Exception as exc:  # noqa: BLE001 - reported; nothing more can be done from software
            exc = self._named(exc)
            log.error("%s: safe state failed: %s", self.microscope_name, exc)
            if self.timeline is not None and self.state is not ExperimentState.IDLE:
                await self._publish(Fault(self._now(), f"safe state failed: {exc}", self.microscope_name,
                                          getattr(exc, "code", None), getattr(exc, "name", "")))

    async def _safe_state(self) -> None:
        try:
            async with InstrumentTimeout(self.safe_state_timeout):
                await self.potentiostat.safe_state()
        except Exception as exc:  # noqa: BLE001 - reported; nothing more can be done from software
            exc = self._named(exc)
            log.error("%s: safe state failed: %s", self.instrument_name, exc)
            if self.timeline is not None and self.state is not ExperimentState.IDLE:
                await self._publish(Fault(self._now(), f"safe state failed: {exc}", self.instrument_name,
                                          getattr(exc, "code", None), getattr(exc, "name", "")))

    async def _drain(self, record: StepRecord, attempts: int = 20) -> None:
        """Collect points the instrument holds after stopping (and any read cut short), without checks."""
        for _ in range(attempts):
            try:
                async with InstrumentTimeout(self.safe_state_timeout):
                    readout = await self._read()
            except Exception as exc:  # noqa: BLE001 - the instrument may be gone: keep what we have
                log.warning("%s: could not collect the last points: %s", self.instrument_name, exc)
                return
            await self._ingest(record, readout, check=False)
            if not readout.running and not readout.points:
                return

    # helpers

    def _named(self, error: Exception) -> Exception:
        """A timeout says what it waited for (TimeoutError has no message of its own)."""
        if isinstance(error, TimeoutError) and not str(error):
            return TimeoutError(f"no answer within {self.safe_state_timeout:g} s")
        return error

    def _now(self) -> float:
        return self.timeline.now() if self.timeline is not None else 0.0

    async def _publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def _set_state(self, new: ExperimentState, reason: str) -> None:
        old, self.state = self.state, new
        await self._publish(StateChanged(self._now(), old, new, reason))
