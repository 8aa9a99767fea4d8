"""Keeps the potentiostat's data coming: a lost link or missing data suspends the run instead of failing it.

A potentiostat runs its loaded technique on its own, within the technique's limits, and buffers the points it
records (a VMP-300 does; the fake EClib models it). So when the link drops (InstrumentConnectionLost), the run
is SUSPENDED with a fault event, reads are retried with back-off (1, 2, 4 ... 60 s on the experiment clock),
and once one succeeds the channel is checked (does it still run what was started?), the buffered points are
handed to the pump, the gap is recorded (:class:`LinkRestored`) and the run goes on. The data watchdog does
the same when a running step that records on time (rest, constant current, constant voltage) brings no new
point for ``missing_points_max`` recording intervals
(or for one poll interval, if the engine reads less often): an occupied channel, or one whose data another client
reads. Only after ``link_outage_max`` s without the link or the data does the run fail (cell made safe).
Imaging stops while suspended (a frame needs the cell's state at mid-scan; no dose without a record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from operando.engine.events import Event, Fault, LinkRestored
from operando.engine.recorder import StepRecord
from operando.errors import InstrumentConnectionLost, InstrumentError
from operando.plan import SafetyLimits
from operando.roles.potentiostat import ChannelChecked, Readout
from operando.techniques import ConstantCurrent, ConstantVoltage, OpenCircuit

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_RETRY = 1.0  # s before the first retry; doubles after each one
LONGEST_RETRY = 60.0  # s, the back-off's ceiling
TOLERANCE = 1e-6  # s, a wake-up at the watchdog's deadline counts as at it

LINK_LOST, NO_DATA = "link lost", "no data"


class LinkGaveUp(InstrumentError):
    """The link or the data stayed away longer than safety.link_outage_max: the run fails."""


def recording_interval(record: StepRecord) -> float | None:
    """s between points the instrument records at the latest, for steps that record on time; None otherwise
    (a voltammetry records on potential change, an impedance per frequency: no time bound to watch)."""
    technique = record.step.technique
    if not isinstance(technique, OpenCircuit | ConstantCurrent | ConstantVoltage):
        return None
    dt = technique.recording.dt
    return dt if dt and dt > 0 else None


def _duration_words(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


class LinkKeeper:
    """Reads through :meth:`read` and calls through :meth:`call`; rides out outages as described above.

    ``read`` is the engine's read of the potentiostat; ``on_suspend(suspended, reason)`` moves the run to
    SUSPENDED and back; ``now`` gives timeline seconds; ``publish`` takes events.
    """

    def __init__(self, potentiostat: object, read: Callable[[], Awaitable[Readout]], safety: SafetyLimits, *,
                 publish: Callable[[Event], Awaitable[None]], now: Callable[[], float],
                 on_suspend: Callable[[bool, str], Awaitable[None]], instrument: str = "potentiostat",
                 poll_interval: float = 0.0, first_retry: float = FIRST_RETRY,
                 longest_retry: float = LONGEST_RETRY) -> None:
        self.potentiostat = potentiostat
        self._read = read
        self.limit = safety.link_outage_max
        self.missing_points_max = safety.missing_points_max
        self._publish = publish
        self._now = now
        self._on_suspend = on_suspend
        self.instrument = instrument
        self.poll_interval = poll_interval  # s between the engine's reads: no point can arrive sooner
        self.first_retry = first_retry
        self.longest_retry = longest_retry
        self._last_point = float("-inf")  # timeline s of the newest point read (or of a suspension's end)
        self._retry = asyncio.Event()
        self.suspended = False

    def retry_now(self) -> None:
        """Cut the present back-off short (a researcher's "resume" while suspended)."""
        self._retry.set()

    def deadline(self, record: StepRecord) -> float | None:
        """Timeline s by which a new point must have arrived, or None where the watchdog does not apply."""
        interval = recording_interval(record)
        if interval is None:
            return None
        window = max(self.missing_points_max * interval, self.poll_interval)
        return max(self._last_point, record.clock.offset) + window

    async def read(self, record: StepRecord) -> Readout:
        """A read of the potentiostat; a lost link or overdue data suspend the run until data flow again."""
        try:
            readout = await self._read()
        except InstrumentConnectionLost as lost:
            return await self._ride_out(LINK_LOST, f"link lost: {lost}", lost, self._recovered_read)
        if readout.points or readout.impedance:
            newest = max(point.t_device for point in (*readout.points, *readout.impedance))
            self._last_point = max(self._last_point, record.clock.offset + newest)
            return readout
        deadline = self.deadline(record)
        if readout.running and deadline is not None and self._now() >= deadline - TOLERANCE:
            since = max(self._last_point, record.clock.offset)
            step = record.step
            message = (f"no new point for {self._now() - since:.0f} s (watchdog: {self.missing_points_max} "
                       f"recording intervals of {recording_interval(record):g} s) while step {step.index} "
                       f"{step.name!r} runs: the channel answers but sends no data (used by another client?)")
            return await self._ride_out(NO_DATA, message, None, self._data_read)
        return readout

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` (a start or a stop); a lost link suspends the run and retries it."""
        try:
            return await operation()
        except InstrumentConnectionLost as lost:
            async def again() -> tuple[T]:
                return (await operation(),)

            (result,) = await self._ride_out(LINK_LOST, f"link lost: {lost}", lost, again)
            return result

    # recovery attempts: a result once the link (and for NO_DATA, the data) are back; None to keep waiting

    async def _recovered_read(self) -> Readout:
        readout = await self._read()
        if isinstance(self.potentiostat, ChannelChecked):
            await self.potentiostat.check_channel()
        return readout

    async def _data_read(self) -> Readout | None:
        readout = await self._read()
        return readout if readout.points or readout.impedance or not readout.running else None

    async def _ride_out(self, cause: str, message: str, error: InstrumentError | None,
                        attempt: Callable[[], Awaitable[T | None]]) -> T:
        start = self._now()
        log.warning("%s: %s; the run is suspended", self.instrument, message)
        await self._publish(Fault(start, message, self.instrument, getattr(error, "code", None),
                                  getattr(error, "name", "")))
        self.suspended = True
        await self._on_suspend(True, f"{self.instrument} {cause}: retrying for up to "
                                     f"{_duration_words(self.limit)}")
        delay, attempts = self.first_retry, 0
        while True:
            left = self.limit - (self._now() - start)
            if left <= 0:
                raise self._give_up(cause, start, error)
            self._retry.clear()
            try:
                async with asyncio.timeout(min(delay, left)):
                    await self._retry.wait()
            except TimeoutError:
                pass
            delay = min(2 * delay, self.longest_retry)
            attempts += 1
            try:
                result = await attempt()
            except InstrumentConnectionLost as again:
                error = again
                continue
            if result is None:
                continue
            end = self._now()
            points = len(result.points) if isinstance(result, Readout) else 0
            await self._publish(LinkRestored(end, cause, start, end - start, points, attempts))
            self._last_point = end  # the watchdog counts afresh from here
            self.suspended = False
            await self._on_suspend(False, f"{self.instrument} back after {_duration_words(end - start)} "
                                          f"({cause}); {points} points from the instrument's buffer")
            return result

    def _give_up(self, cause: str, start: float, error: InstrumentError | None) -> LinkGaveUp:
        waited = _duration_words(self._now() - start)
        what = "without the link" if cause == LINK_LOST else "without new data"
        # The last error's code and name close the message (InstrumentError adds them).
        return LinkGaveUp(f"{waited} {what} (safety.link_outage_max {_duration_words(self.limit)}): gave up; "
                          "the channel runs its technique within its own limits until it is stopped",
                          instrument=self.instrument, code=getattr(error, "code", None),
                          name=getattr(error, "name", ""))
