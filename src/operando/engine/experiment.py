"""An experiment: run a plan on a potentiostat, record every point to one file, always leave the cell safe.

Under one TaskGroup: the protocol executor (step after step), the data pump (reads, stamps, checks stops and
safety), the duration watchdog, an abort listener, and the sinks (the file first). Whatever ends the run
(the last step, a safety trip, an instrument fault, a bug, an abort or a cancellation), :meth:`_finish`
puts the potentiostat in its safe state, keeps every point already received and closes the file with the
matching status.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operando.engine.bus import EventBus
from operando.engine.events import (
    Event,
    ExperimentState,
    Fault,
    ImpedanceRecorded,
    Note,
    PointsRecorded,
    SafetyTripped,
    StateChanged,
    StepEnded,
    StepStarted,
)
from operando.engine.file_sink import StorageSink
from operando.engine.recorder import Recorder, StepRecord
from operando.engine.sensors import SensorPoller, sensor_limits
from operando.engine.stops import StopReason, first_stop, first_violation
from operando.errors import InstrumentError, OperandoError, SafetyTrip
from operando.instrument_thread import InstrumentThread
from operando.plan import Plan, PlannedStep
from operando.roles.potentiostat import InstrumentInfo, Potentiostat, Readout
from operando.roles.sensor import Sensor
from operando.storage import ExperimentFile, FileWriter, technique_labels
from operando.techniques import Impedance
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
    """Runs ``plan`` on ``potentiostat`` and writes ``out_path``; subscribe to :attr:`bus` before :meth:`run`.

    ``poll_interval`` s between reads of the potentiostat (on the experiment clock, simulated or not);
    ``flush_interval`` s of wall time between file flushes at most.
    """

    def __init__(self, plan: Plan, potentiostat: Potentiostat, out_path: str | Path, *,
                 poll_interval: float = 1.0, rig_config: Mapping[str, Any] | None = None,
                 instrument_name: str = "potentiostat", flush_interval: float = 1.0,
                 safe_state_timeout: float = 30.0, sensors: Mapping[str, Sensor] | None = None,
                 sensor_intervals: Mapping[str, float] | None = None) -> None:
        if not (poll_interval > 0 and math.isfinite(poll_interval)):
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if not plan.steps:
            raise ValueError(f"plan {plan.name!r} has no steps to run")
        self.plan = plan
        self.potentiostat = potentiostat
        self.out_path = Path(out_path)
        self.poll_interval = float(poll_interval)
        self.rig_config = dict(rig_config or {})
        self.instrument_name = instrument_name
        self.flush_interval = flush_interval
        self.safe_state_timeout = safe_state_timeout
        self.bus = EventBus()
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
        self._storage_error: BaseException | None = None
        self._pending_read: asyncio.Task[Readout] | None = None
        self._impedance_runs = 0

    # public controls

    def request_abort(self, reason: str = "aborted by the user") -> None:
        """Stop the run as soon as possible: safe state, status aborted (callable from a signal handler)."""
        if not self._abort.is_set():
            self._abort_reason = reason
            self._abort.set()

    async def note(self, text: str, author: str = "researcher") -> None:
        """Add a remark to the record at the present time."""
        await self._publish(Note(self._now(), text, author))

    # the run

    async def run(self) -> ExperimentResult:
        """Run the whole plan; returns how it ended (raises only if it cannot start, or when cancelled)."""
        if self.state is not ExperimentState.IDLE:
            raise RuntimeError(f"experiment {self.plan.name!r} already {self.state.value}; make a new one")
        if self.out_path.exists():  # refused before anything moves
            raise FileExistsError(f"{self.out_path} already exists; a record is never overwritten")
        file_thread = InstrumentThread("file")
        try:
            info = await self.potentiostat.connect()
            instruments = {self.instrument_name: info, **await self._connect_sensors()}
            self.timeline = Timeline()
            try:
                file = await file_thread.call(
                    ExperimentFile.create, self.out_path, plan=self.plan,
                    instruments=instruments, start_utc=self.timeline.start_utc,
                    rig_config=self.rig_config, sections=self._sections())
            except BaseException:
                await self._safe_state()
                await self._disconnect()
                raise
            writer = FileWriter(file, flush_interval=self.flush_interval)
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
            file_thread.close(wait=False)
        status, reason, error = outcome
        if isinstance(error, asyncio.CancelledError):
            raise error
        counter = self.recorder.counter
        return ExperimentResult(status, self.out_path, self.recorder.points, counter.charge, end, reason,
                                error, counter.charged, counter.discharged)

    async def _supervise(self) -> tuple[ExperimentState, str, BaseException | None]:
        """Run the protocol tasks, classify how they ended, then finish; never raises."""
        await self._set_state(ExperimentState.RUNNING, "started")
        status, reason, error = ExperimentState.COMPLETED, "all steps done", None
        try:
            async with asyncio.TaskGroup() as group:
                pump = group.create_task(self._pump(), name="data pump")
                watchdog = group.create_task(self._watch_duration(), name="duration watchdog")
                listener = group.create_task(self._listen_for_abort(), name="abort listener")
                polling = ([group.create_task(self._poll_sensors(), name="sensors")]
                           if self.sensors is not None else [])
                await self._execute()
                for task in (pump, watchdog, listener, *polling):
                    task.cancel()
        except asyncio.CancelledError as cancelled:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            status, reason, error = ExperimentState.ABORTED, "cancelled (interrupted)", cancelled
        except BaseException as raised:  # noqa: BLE001 - every way out must leave the cell safe
            status, reason, error = self._classify(raised)
        await self._finish(status, reason, error)
        return status, reason, error

    @staticmethod
    def _classify(raised: BaseException) -> tuple[ExperimentState, str, BaseException]:
        leaves = _leaves(raised)
        for kind, status in ((SafetyTrip, ExperimentState.ABORTED), (AbortRequested, ExperimentState.ABORTED),
                             (InstrumentError, ExperimentState.FAILED)):
            for leaf in leaves:
                if isinstance(leaf, kind):
                    return status, str(leaf), leaf
        leaf = leaves[0]
        return ExperimentState.FAILED, f"internal error: {type(leaf).__name__}: {leaf}", leaf

    # protocol executor

    async def _execute(self) -> None:
        steps = self.plan.steps
        index = 0
        while index < len(steps):
            step = steps[index]
            record = await self._start_step(step)
            await self._step_done.wait()
            stop = self._stop
            reason = "limit" if stop is not None else "duration"
            await self._publish(StepEnded(self._now(), step.index, step.name, reason,
                                          stop.description if stop else None, stop.action if stop else "next",
                                          record.points, record.charge))
            self._current = None
            index += 1
            if stop is not None and stop.action == "end_group" and step.group is not None:
                skipped = []
                while index < len(steps) and steps[index].group == step.group:
                    skipped.append(steps[index].index)
                    index += 1
                if skipped:
                    text = f"group {step.group!r} ended by {stop.description}: skipped steps {skipped}"
                    await self._publish(Note(self._now(), text))

    async def _start_step(self, step: PlannedStep) -> StepRecord:
        assert self.timeline is not None
        before = self.timeline.now()
        await self.potentiostat.start(step.technique)
        after = self.timeline.now()
        clock = self.timeline.device_clock(f"{self.instrument_name} step {step.index}", before, after)
        record = StepRecord(step, clock, self._labels[step.label], self.recorder.counter.charge)
        if isinstance(step.technique, Impedance):
            record.impedance_run = self._impedance_runs
            self._impedance_runs += 1
        self._stop = None
        self._step_done.clear()
        self._current = record
        await self._publish(StepStarted(after, step.index, step.name, step.label, step.cycle, step.source,
                                        clock.offset, clock.uncertainty))
        self._step_started.set()
        return record

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
        while True:
            record = self._current
            if record is None or self._step_done.is_set():
                self._step_started.clear()
                await self._step_started.wait()
                continue
            readout = await self._read()
            await self._ingest(record, readout, check=True)
            if self._stop is not None and readout.running and not record.stop_sent:
                record.stop_sent = True
                await self.potentiostat.stop()
                continue  # read at once: the instrument hands over its last points and reports it stopped
            if not readout.running:
                self._step_done.set()
                continue
            await asyncio.sleep(self._next_poll(record))

    def _next_poll(self, record: StepRecord) -> float:
        """Poll interval, shortened to wake when a timed step should end so the next starts on time."""
        remaining = getattr(record.step.technique, "duration", math.inf) - (self._now() - record.clock.offset)
        return remaining if 0 < remaining < self.poll_interval else self.poll_interval

    async def _ingest(self, record: StepRecord, readout: Readout, *, check: bool) -> None:
        """Record a readout's points; with ``check``, find the step's stop and trip on a safety violation."""
        if readout.points:
            batch = self.recorder.record(record, readout.points)
            await self._publish(PointsRecorded(float(batch.t[-1]), batch))
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
        """Safe state first, then keep what the instrument still holds, then close the record."""
        await self._set_state(ExperimentState.FINISHING, reason)
        if error is not None and not isinstance(error, SafetyTrip | AbortRequested | asyncio.CancelledError):
            code, name = (error.code, error.name) if isinstance(error, InstrumentError) else (None, "")
            source = self.instrument_name if isinstance(error, InstrumentError) else "operando"
            await self._publish(Fault(self._now(), str(error) or type(error).__name__, source, code, name))
        await self._safe_state()
        record = self._current
        if record is not None:
            await self._drain(record)
            if status is not ExperimentState.COMPLETED:
                await self._publish(StepEnded(self._now(), record.step.index, record.step.name, "stopped",
                                              None, "stop", record.points, record.charge, reason))
        await self._set_state(status, reason)
        await self._disconnect()
        await self.bus.close()

    async def _connect_sensors(self) -> dict[str, InstrumentInfo]:
        """Connect the cell sensors; one failing leaves every instrument safe and disconnected."""
        if self.sensors is None:
            return {}
        try:
            return await self.sensors.connect()
        except BaseException:
            await self._safe_state()
            await self._disconnect()
            raise

    def _sections(self) -> tuple[Any, ...]:
        return (self.sensors.section,) if self.sensors is not None else ()

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

    async def _safe_state(self) -> None:
        try:
            await asyncio.wait_for(self.potentiostat.safe_state(), self.safe_state_timeout)
        except Exception as exc:  # noqa: BLE001 - reported; nothing more can be done from software
            log.error("%s: safe state failed: %s", self.instrument_name, exc)
            if self.timeline is not None and self.state is not ExperimentState.IDLE:
                await self._publish(Fault(self._now(), f"safe state failed: {exc}", self.instrument_name,
                                          getattr(exc, "code", None), getattr(exc, "name", "")))

    async def _drain(self, record: StepRecord, attempts: int = 20) -> None:
        """Collect points the instrument holds after stopping (and any read cut short), without checks."""
        for _ in range(attempts):
            try:
                readout = await asyncio.wait_for(self._read(), self.safe_state_timeout)
            except Exception as exc:  # noqa: BLE001 - the instrument may be gone: keep what we have
                log.warning("%s: could not collect the last points: %s", self.instrument_name, exc)
                return
            await self._ingest(record, readout, check=False)
            if not readout.running and not readout.points:
                return

    # helpers

    def _now(self) -> float:
        return self.timeline.now() if self.timeline is not None else 0.0

    async def _publish(self, event: Event) -> None:
        await self.bus.publish(event)

    async def _set_state(self, new: ExperimentState, reason: str) -> None:
        old, self.state = self.state, new
        await self._publish(StateChanged(self._now(), old, new, reason))
