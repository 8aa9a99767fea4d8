"""An experiment: run a plan on a potentiostat (and a microscope), record everything to one file, always
leave the instruments safe.

The conductor. Every request is answered from the run's state table (:mod:`operando.engine.states`); the
instruments connect, are made safe and disconnect together (:mod:`operando.engine.session`). Under one
TaskGroup: the protocol executor (:mod:`operando.engine.executor`, step after step, pauses included), the point
pump (:mod:`operando.engine.pump`: reads, stamps, checks stops and safety), the imaging tasks (see
:mod:`operando.engine.imaging`: they never hold up the two before), the sensors, the duration watchdog, an abort
listener, and the sinks (the file first). Whatever ends the run (the last step, a safety trip, an instrument
fault, a bug, an abort or a cancellation), :meth:`Experiment._finish` puts the potentiostat in its safe state,
blanks the beam, keeps every point and frame already received and closes the file with the matching status. A
run can also continue an interrupted one (``resume``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from operando.engine.bus import EventBus
from operando.engine.events import Event, ExperimentState, Fault, Note, Resumed, SafetyTripped, StepEnded
from operando.engine.executor import ProtocolExecutor, elapsed
from operando.engine.history import PointHistory
from operando.engine.imaging import Imaging
from operando.engine.outcome import AbortRequested, ExperimentResult, classify
from operando.engine.pump import PointPump
from operando.engine.recorder import Recorder
from operando.engine.resume import ResumeState
from operando.engine.run_file import RunFile
from operando.engine.sensors import SensorPoller, sensor_limits
from operando.engine.session import InstrumentSession
from operando.engine.states import Request, RunStates, Verdict
from operando.errors import InstrumentError, SafetyTrip
from operando.plan import Plan
from operando.roles.microscope import Microscope
from operando.roles.potentiostat import Potentiostat
from operando.roles.sensor import Sensor
from operando.storage import PAUSE_LABEL, create_rig_state, technique_labels
from operando.techniques import Recording
from operando.timeline import Timeline

__all__ = ["AbortRequested", "Experiment", "ExperimentResult"]

log = logging.getLogger(__name__)
S = ExperimentState


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
        self.bus = EventBus()
        self.rig_state = rig_state
        self.imaging_step = imaging_step
        # Cell sensors (operando.engine.sensors): polled beside the protocol, limits from [safety.sensors].
        self.sensors = (SensorPoller(sensors or {}, intervals=sensor_intervals,
                                     limits=sensor_limits(plan))
                        if sensors or sensor_limits(plan) else None)
        self.states = RunStates()
        self.timeline: Timeline | None = None
        self.recorder = Recorder(plan.cell)
        self._labels = {label: code for code, label in enumerate(technique_labels(plan))}
        self._abort_reason = ""
        self._storage_error: BaseException | None = None
        self.imaging: Imaging | None = None
        self.history = PointHistory(plan.cell.capacity) if self.microscope is not None else None
        self.session = InstrumentSession(
            potentiostat, potentiostat_name=instrument_name, microscope=self.microscope,
            microscope_name=microscope_name, sensors=self.sensors, safe_state_timeout=safe_state_timeout,
            regions=plan.imaging.regions if self.microscope is not None and plan.imaging is not None else ())
        # Link outages and missing data suspend the run (operando.engine.link), they do not fail it.
        self.pump = PointPump(
            potentiostat, self.recorder, plan.safety, publish=lambda event: self._publish(event), now=self._now,
            on_suspend=self._suspend, rig_state=rig_state, pause_reason=self._pause_reason,
            pause_code=self._labels[PAUSE_LABEL], instrument_name=instrument_name,
            poll_interval=self.poll_interval, safe_state_timeout=safe_state_timeout)
        if resume is not None:
            self.recorder.counter.resume(resume.charge, resume.charged, resume.discharged)
            self.recorder.points = resume.points

    @property
    def state(self) -> ExperimentState:
        """The state as recorded (files, telemetry, the GUI); :attr:`states` also knows the passing ones."""
        return self.states.recorded

    # public controls (all callable from the event loop at any time)

    def request_pause(self, reason: str = "", author: str = "") -> None:
        """Pause: the step stops, the cell rests at open circuit (recorded), no frames, beam blanked."""
        self._grant(Request.PAUSE, reason or "paused by request", author)
        self.pump.wake()

    def request_resume(self, author: str = "") -> None:
        """Continue a paused experiment: the interrupted step goes on with what it had left. Suspended by a
        fault, the instrument is tried again now."""
        if self._grant(Request.RESUME, "resumed", author).outcome == "queued":
            self.pump.link.retry_now()
            return
        self.pump.wake()

    def request_acquisition(self, region: str | None = None, author: str = "") -> None:
        """Take a frame of ``region`` (None: every region) as soon as the microscope is free."""
        if self.microscope is None:
            raise ValueError("cannot acquire: this experiment has no imaging plan")
        self._grant(Request.ACQUIRE, "acquisition asked for", author)
        if self.imaging is None:  # the run has just started: imaging starts with it
            raise ValueError(f"cannot acquire: the experiment is {self.states.state.value}")
        self.imaging.request(region, author)

    def request_abort(self, reason: str = "aborted by the user") -> None:
        """Stop the run as soon as possible: safe state, status aborted (callable from a signal handler)."""
        verdict = self.states.ask(Request.ABORT)
        if not verdict.refused and not self._abort_reason:
            self._abort_reason = reason
            if verdict.to is not None:
                self.states.move(verdict.to, reason, self._now())
        elif self.states.state.final:
            log.warning("%s: %s", reason, verdict.reason)
        else:  # a second Ctrl-C or SIGTERM: say the first is being obeyed, not ignored
            log.warning("%s: the run is already stopping (%s); the instruments are being made safe", reason,
                        self._abort_reason or self.states.why.get(self.states.state, ("",))[0])

    async def note(self, text: str, author: str = "researcher") -> None:
        """Add a remark to the record at the present time."""
        await self._publish(Note(self._now(), text, author))

    def _grant(self, request: Request, reason: str, author: str) -> Verdict:
        """Answer ``request`` from the table: refused raises ValueError naming the state; allowed moves."""
        verdict = self.states.ask(request)
        if verdict.refused:
            raise ValueError(verdict.reason)
        if verdict.to is not None and verdict.to is not self.states.state:
            change = self.states.move(verdict.to, reason, self._now(), by=author)
            assert change is None, "a request leads to a passing state, recorded later by the engine"
        return verdict

    def _pause_reason(self) -> str | None:
        """Why a pause was asked for, while it is being made (the pump then stops the step)."""
        if self.states.underlying is not S.PAUSING:
            return None
        return self.states.why[S.PAUSING][0]

    # the run

    async def run(self) -> ExperimentResult:
        """Run the whole plan; returns how it ended (raises only if it cannot start, or when cancelled)."""
        if self.states.ask(Request.START).refused:
            raise RuntimeError(f"experiment {self.plan.name!r} already {self.states.state.value}; make a new one")
        file = RunFile(self.out_path, self.plan, resume=self.resume is not None, flush_interval=self.flush_interval,
                       rig_config=self.rig_config, sections=self._sections(),
                       frame_record=self.imaging_step.record_type)  # refusals before anything moves
        self.states.move(S.CONNECTING, "started", 0.0)
        if self._abort_reason:  # asked before the start: taken up now
            self.states.move(S.ABORTING, self._abort_reason, 0.0)
        try:
            await self._open(file)
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(file.sink(self.bus.subscribe("file", maxsize=1000), self._storage_failed).run(),
                                      name="file sink")
                    status, reason, error = await self._supervise()
            finally:
                end = self._now()
                await file.close(self.state.value, end, self.timeline.utc(end))  # type: ignore[union-attr]
        finally:
            file.release()
        if isinstance(error, asyncio.CancelledError):
            raise error
        counter = self.recorder.counter
        return ExperimentResult(status, self.out_path, self.recorder.points, counter.charge, end, reason,
                                error, counter.charged, counter.discharged)

    async def _open(self, file: RunFile) -> None:
        """Connect the instruments (an abort cuts it short), start the timeline, open the file. If either
        fails nothing has started: the instruments are left safe and disconnected, the run idle."""
        try:
            instruments = await self.session.connect(lambda: self.states.wait_for(S.ABORTING))
            self.timeline = Timeline() if self.resume is None else self.resume.timeline()
            try:
                await file.open(instruments, self.timeline.start_utc)
            except BaseException:
                await self.session.close()
                raise
        except BaseException:
            self.states.move(S.IDLE, "not started: the instruments or the file could not be opened", self._now())
            raise

    async def _supervise(self) -> tuple[ExperimentState, str, BaseException | None]:
        """Run the protocol tasks, classify how they ended, then finish; never raises."""
        if self.states.state is S.ABORTING:
            return await self._aborted_before_start()
        assert self.timeline is not None
        await self._move(S.RUNNING, "started" if self.resume is None else "resumed")
        status, reason, error = S.COMPLETED, "all steps done", None
        try:
            if self.resume is not None:
                await self._publish(Resumed(self._now(), self.resume.last_record,
                                            self._now() - self.resume.last_record, self.resume.reason))
            self._start_imaging()
            executor = ProtocolExecutor(self.plan, self.pump, self.recorder, self.timeline, self.states,
                                        publish=self._publish, move=self._move, labels=self._labels,
                                        imaging=self.imaging, resume=self.resume,
                                        instrument_name=self.instrument_name)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.pump.run(), name="data pump"),
                         group.create_task(self._watch_duration(), name="duration watchdog"),
                         group.create_task(self._listen_for_abort(), name="abort listener")]
                if self.imaging is not None:
                    tasks.append(group.create_task(self.imaging.run(), name="imaging"))
                if self.sensors is not None:
                    tasks.append(group.create_task(self._poll_sensors(), name="sensors"))
                await executor.run()
                if self.imaging is not None:
                    await self.imaging.drain()
                for task in tasks:
                    task.cancel()
        except asyncio.CancelledError as cancelled:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            status, reason, error = S.ABORTED, "cancelled (interrupted)", cancelled
        except BaseException as raised:  # noqa: BLE001 - every way out must leave the cell safe
            status, reason, error = classify(raised)
        await self._finish(status, reason, error)
        return status, reason, error

    async def _aborted_before_start(self) -> tuple[ExperimentState, str, BaseException | None]:
        """Aborted while the instruments connected: nothing is started; the record says so."""
        reason = f"{self._abort_reason} (before the start: nothing was started)"
        if self.session.released:  # cut short while connecting: already safe and disconnected
            await self._move(S.FINISHING, reason)
            await self._move(S.ABORTED, reason)
            await self.bus.close()
        else:
            await self._finish(S.ABORTED, reason, None)
        return S.ABORTED, reason, AbortRequested(reason)

    def _start_imaging(self) -> None:
        if self.microscope is None or self.history is None:
            return
        loop = asyncio.get_running_loop()
        polls = [getattr(step.technique, "recording", Recording()).dt for step in self.plan.steps]
        resume = self.resume
        if resume is not None:
            self.history.seed(resume.recent_points)
        self.imaging = self.pump.imaging = self.imaging_step(
            self.plan, self.microscope, publish=self._publish, now=self._now, history=self.history,
            loop_offset=loop.time() - self._now(), ec_wait=2 * self.poll_interval + max(polls, default=0.0),
            start=resume.regions if resume is not None else None, microscope_name=self.microscope_name)

    async def _suspend(self, suspended: bool, reason: str) -> None:
        """The link keeper suspends the run (no frames meanwhile) and lifts it, back to where it was; a run
        being stopped is neither (the table refuses)."""
        verdict = self.states.ask(Request.SUSPEND if suspended else Request.LIFT)
        if verdict.refused or verdict.to is None:
            log.info("%s: %s", reason, verdict.reason)
            return
        if suspended and self.imaging is not None:
            self.imaging.set_active(False, f"the experiment is suspended ({reason})")
        await self._move(verdict.to, reason)
        if not suspended and self.imaging is not None and self.state is S.RUNNING:
            self.imaging.set_active(True)

    # watchdog, abort and the file's failure

    async def _watch_duration(self) -> None:
        limit = self.plan.safety.max_duration
        await asyncio.sleep(max(0.0, limit - self._now()))
        message = f"run time beyond max_duration {limit:.0f} s"
        await self._publish(SafetyTripped(self._now(), "duration", self._now(), limit, message))
        raise SafetyTrip(message)

    async def _listen_for_abort(self) -> None:
        await self.states.wait_for(S.ABORTING)
        if self._storage_error is not None:
            raise self._storage_error
        raise AbortRequested(self._abort_reason)

    def _storage_failed(self, error: BaseException) -> None:
        """The file cannot be written (disk full, removed): stop the run, status failed, cell safe."""
        if self._storage_error is None:
            self._storage_error = error
            if self.states.ask(Request.ABORT).to is S.ABORTING:
                self.states.move(S.ABORTING, f"file failure: {error}", self._now())

    # the way out

    async def _finish(self, status: ExperimentState, reason: str, error: BaseException | None) -> None:
        """Safe state first (cell, then beam), then keep what the instruments hold, then close the record."""
        await self._move(S.FINISHING, reason)
        if error is not None and not isinstance(error, SafetyTrip | AbortRequested | asyncio.CancelledError):
            code, name = (error.code, error.name) if isinstance(error, InstrumentError) else (None, "")
            source = self.instrument_name if isinstance(error, InstrumentError) else "operando"
            await self._publish(Fault(self._now(), str(error) or type(error).__name__, source, code, name))
        await self.session.make_safe(report=self._publish, now=self._now)
        record = self.pump.current
        if record is not None:
            await self.pump.drain(record)
            if status is not S.COMPLETED:
                await self._publish(StepEnded(self._now(), record.step.index, record.step.name, "stopped",
                                              None, "stop", record.points, record.charge, reason,
                                              elapsed(record, self._now())))
        if self.imaging is not None:
            await self.imaging.finish()
        await self._move(status, reason)
        await self.session.disconnect()
        await self.bus.close()

    def _sections(self) -> tuple[Any, ...]:
        sections: tuple[Any, ...] = (self.sensors.section,) if self.sensors is not None else ()
        return (*sections, create_rig_state) if self.rig_state is not None else sections

    async def _poll_sensors(self) -> None:
        assert self.sensors is not None
        loop_offset = asyncio.get_running_loop().time() - self._now()
        await self.sensors.run(self._publish, self._now, loop_offset)

    # helpers

    def _now(self) -> float:
        return self.timeline.now() if self.timeline is not None else 0.0

    async def _publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def _move(self, new: ExperimentState, reason: str) -> None:
        """Every state change the engine makes: checked by the table, published when it is recorded."""
        change = self.states.move(new, reason, self._now())
        if change is not None:
            await self._publish(change)
