"""The file as an event sink: every event of the run, in order, handed to the file's writer thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from operando.engine.bus import Subscription
from operando.engine.events import Event, FrameAcquired, ImpedanceRecorded, PointsRecorded
from operando.engine.sensors import SensorRead
from operando.storage import FileWriter


class StorageSink:
    """Consumes a subscription until the bus closes; waits (holding simulated time) if the disk lags."""

    def __init__(self, writer: FileWriter, subscription: Subscription,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.writer = writer
        self.subscription = subscription
        self.on_error = on_error  # told once if the file cannot be written; the sink keeps draining the bus
        self.error: BaseException | None = None
        self.points_written = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room = asyncio.Event()

    def notify(self) -> None:
        """Called from the writer thread after each write: the queue has room again (or a write failed)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        self._room.set()
        if self.writer.error is not None:
            self._failed(self.writer.error)

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)

    async def run(self) -> None:
        # After a failed write the writer still takes everything but frames (the fault, the final status, the
        # last points); only once it can take nothing more are events dropped, so publishers never wait.
        self._loop = asyncio.get_running_loop()
        while (event := await self.subscription.get()) is not None:
            if self.writer.wedged:
                continue
            try:
                for item in [event, *self.subscription.drain_nowait()]:
                    self._submit(item)
                await self._wait_for_room()
            except Exception as exc:  # noqa: BLE001 - disk full, file gone: the engine decides what follows
                if self.on_error is None and self.error is None:
                    self.error = exc
                    raise
                self._failed(exc)

    def _submit(self, event: Event) -> None:
        if isinstance(event, PointsRecorded):
            if event.rig_state is None:
                self.writer.submit("points", event.points.columns())
            else:  # both in one flush: a resumed run finds the state of its last recorded point
                snapshot = event.rig_state
                self.writer.submit_together([
                    ("points", event.points.columns()),
                    ("rig_state", {"t": snapshot.t, "points": snapshot.points, "state": snapshot.state})])
            self.points_written += len(event.points)
        elif isinstance(event, SensorRead):
            self.writer.submit("table", event.table_rows())
        elif isinstance(event, ImpedanceRecorded):
            self.writer.submit("impedance", event.impedance.columns())
        elif isinstance(event, FrameAcquired):
            self.writer.submit("frame", event.record)
        else:
            self.writer.submit("events", [(event.t, event.kind, event.payload())])

    async def _wait_for_room(self) -> None:
        if self.writer.pending <= self.writer.max_pending:
            return
        loop = asyncio.get_running_loop()
        hold, release = getattr(loop, "hold", None), getattr(loop, "release", None)
        # On simulated time the experiment must not run ahead while the disk catches up.
        if hold is not None and release is not None:
            hold()
        try:
            while True:
                self._room.clear()
                if self.writer.wedged:
                    raise self.writer.error or RuntimeError("the file can no longer be written")
                if self.writer.pending <= self.writer.max_pending:
                    break
                await self._room.wait()
        finally:
            if hold is not None and release is not None:
                release()
