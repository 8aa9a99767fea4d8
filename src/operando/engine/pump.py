"""The point pump: reads the potentiostat, records every point, finds each step's stop, trips on a limit.

It follows the step the executor started (:meth:`PointPump.follow`) until the instrument reports it stopped
(:attr:`PointPump.done`), stopping it first when a stop condition, a safety limit or a pause asks. Reads go
through the link keeper (a lost link or missing data suspend the run) and are shielded: a read cut short by
a cancellation keeps its points for :meth:`PointPump.drain`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from operando.clock import InstrumentTimeout
from operando.engine.events import Event, ImpedanceRecorded, PointsRecorded, RigSnapshot, SafetyTripped
from operando.engine.imaging import Imaging
from operando.engine.link import LinkKeeper
from operando.engine.recorder import Recorder, StepRecord
from operando.engine.stops import StopReason, first_stop, first_violation
from operando.errors import SafetyTrip
from operando.plan import SafetyLimits
from operando.roles.potentiostat import Potentiostat, Readout

log = logging.getLogger(__name__)


class PointPump:
    """Reads ``potentiostat`` every ``poll_interval`` s of the experiment clock into ``recorder``.

    ``pause_reason()`` is the reason of a pause asked for, or None; ``pause_code`` the technique code of the
    pause's rest (never stopped for a pause); ``rig_state()`` (a simulated rig's) is saved with each batch;
    ``on_suspend`` goes to the link keeper.
    """

    def __init__(self, potentiostat: Potentiostat, recorder: Recorder, safety: SafetyLimits, *,
                 publish: Callable[[Event], Awaitable[None]], now: Callable[[], float],
                 on_suspend: Callable[[bool, str], Awaitable[None]], rig_state: Callable[[], Any] | None,
                 pause_reason: Callable[[], str | None], pause_code: int, instrument_name: str = "potentiostat",
                 poll_interval: float = 1.0, safe_state_timeout: float = 30.0) -> None:
        self.potentiostat = potentiostat
        self.recorder = recorder
        self.safety = safety
        self._publish = publish
        self._now = now
        self.rig_state = rig_state
        self._pause_reason = pause_reason
        self._pause_code = pause_code
        self.instrument_name = instrument_name
        self.poll_interval = poll_interval
        self.safe_state_timeout = safe_state_timeout
        self.link = LinkKeeper(potentiostat, self.read, safety, publish=publish, now=now, on_suspend=on_suspend,
                               instrument=instrument_name, poll_interval=poll_interval)
        self.imaging: Imaging | None = None  # offered every batch once imaging runs
        self.current: StepRecord | None = None  # the step whose points come in
        self.stop: StopReason | None = None  # why the current step is being stopped, once it is
        self.done = asyncio.Event()  # the instrument reports the current step's technique stopped
        self._started = asyncio.Event()
        self._wake = asyncio.Event()  # cuts the pump's sleep short (a pause, a resume)
        self._pending_read: asyncio.Task[Readout] | None = None

    def follow(self, record: StepRecord) -> None:
        """Record the points of ``record``'s step from now on (its technique was just started)."""
        self.stop = None
        self.done.clear()
        self.current = record

    def start_reading(self) -> None:
        """The step's start is published: read it."""
        self._started.set()

    def stop_for(self, reason: str) -> None:
        """Stop the current step now and go on to the next (the rest of a pause, when resumed)."""
        self.stop = StopReason(reason, "next", 0)
        self._wake.set()

    def wake(self) -> None:
        """Read now rather than at the next poll (a pause or a resume asked for)."""
        self._wake.set()

    async def read(self) -> Readout:
        """One read of the potentiostat. Shielded: a read cancelled half-way would drop points the instrument
        already handed over; :meth:`drain` collects its result instead."""
        if self._pending_read is None:
            self._pending_read = asyncio.ensure_future(self.potentiostat.read())
        try:
            readout = await asyncio.shield(self._pending_read)
        except asyncio.CancelledError:
            raise  # the read stays pending for drain
        except BaseException:
            self._pending_read = None
            raise
        self._pending_read = None
        return readout

    async def run(self) -> None:
        """Pump until cancelled: read, record, check, stop the step when asked, sleep to the next poll."""
        while True:
            record = self.current
            if record is None or self.done.is_set():
                self._started.clear()
                await self._started.wait()
                continue
            pause = self._pause_reason()
            if pause is not None and self.stop is None and record.technique_code != self._pause_code:
                self.stop = StopReason(pause, "pause", 0)
            readout = await self.link.read(record)
            await self.ingest(record, readout, check=True)
            if self.stop is not None and readout.running and not record.stop_sent:
                record.stop_sent = True
                await self.link.call(self.potentiostat.stop)
                continue  # read at once: the instrument hands over its last points and reports it stopped
            if not readout.running:
                self.done.set()
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

    async def ingest(self, record: StepRecord, readout: Readout, *, check: bool) -> None:
        """Record a readout's points; with ``check``, find the step's stop and trip on a safety violation."""
        if readout.points:
            batch = self.recorder.record(record, readout.points)
            if self.imaging is not None:
                self.imaging.offer_points(batch)
            await self._publish(PointsRecorded(float(batch.t[-1]), batch, self._snapshot()))
            if check:
                violation = first_violation(self.safety, batch)
                if self.stop is None:
                    self.stop = first_stop(record, batch)
                if violation is not None:
                    await self._publish(SafetyTripped(float(batch.t[violation.point]), violation.quantity,
                                                      violation.value, violation.limit, violation.message))
                    raise SafetyTrip(violation.message)
        if readout.impedance:
            impedance = self.recorder.record_impedance(record, readout.impedance)
            await self._publish(ImpedanceRecorded(float(impedance.t[-1]), impedance))

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

    async def drain(self, record: StepRecord, attempts: int = 20) -> None:
        """Collect points the instrument holds after stopping (and any read cut short), without checks."""
        for _ in range(attempts):
            try:
                async with InstrumentTimeout(self.safe_state_timeout):
                    readout = await self.read()
            except Exception as exc:  # noqa: BLE001 - the instrument may be gone: keep what we have
                log.warning("%s: could not collect the last points: %s", self.instrument_name, exc)
                return
            await self.ingest(record, readout, check=False)
            if not readout.running and not readout.points:
                return
