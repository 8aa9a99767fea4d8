"""The run's file: checked and its disk space reserved before anything moves, created (or reopened, for a
resumed run) once the instruments answer, fed by the file sink during the run, closed with the run's status
however the run ended."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from operando.engine.bus import Subscription
from operando.engine.file_sink import StorageSink
from operando.instrument_thread import InstrumentThread
from operando.plan import Plan
from operando.roles.instrument import InstrumentInfo
from operando.storage import ExperimentFile, FileWriter, FrameRecord, SpaceGuard, frame_bytes

log = logging.getLogger(__name__)


class RunFile:
    """``path`` for ``plan``: new (refused if it exists) or, with ``resume``, the interrupted run's (which must
    exist). A full or read-only disk is refused here, before anything moves; call :meth:`release` at the end."""

    def __init__(self, path: Path, plan: Plan, *, resume: bool, flush_interval: float = 1.0,
                 rig_config: Mapping[str, Any] | None = None, sections: tuple[Any, ...] = (),
                 frame_record: type[FrameRecord] = FrameRecord) -> None:
        if not resume and path.exists():
            raise FileExistsError(f"{path} already exists; a record is never overwritten")
        if resume and not path.exists():
            raise FileNotFoundError(f"{path}: the file to resume into does not exist")
        self.path = path
        self.plan = plan
        self.resume = resume
        self.flush_interval = flush_interval
        self.rig_config = dict(rig_config or {})
        self.sections = sections
        self.frame_record = frame_record  # the frame table's columns (a subclass adds its own)
        self.space = SpaceGuard(path)
        self.space.prepare(frame=frame_bytes(plan))
        self._thread = InstrumentThread("file")
        self.writer: FileWriter | None = None

    async def open(self, instruments: dict[str, InstrumentInfo], start_utc: datetime) -> None:
        """Create the file (plan, instruments, rig configuration, extra sections) or reopen the resumed one."""
        if self.resume:
            file = await self._thread.call(ExperimentFile.reopen, self.path)
        else:
            file = await self._thread.call(ExperimentFile.create, self.path, plan=self.plan, instruments=instruments,
                                           start_utc=start_utc, rig_config=self.rig_config, sections=self.sections,
                                           frame_record=self.frame_record)
        self.writer = FileWriter(file, flush_interval=self.flush_interval, space=self.space)

    def sink(self, subscription: Subscription, on_error: Callable[[BaseException], None]) -> StorageSink:
        """The sink that writes ``subscription``'s events; ``on_error`` is told once if the file fails."""
        assert self.writer is not None, "open the file first"
        sink = StorageSink(self.writer, subscription, on_error=on_error)
        self.writer.on_done = sink.notify
        return sink

    async def close(self, status: str, end: float, end_utc: datetime) -> None:
        """Write the run's ``status``, its end (timeline s ``end``, ``end_utc``) and close the file."""
        assert self.writer is not None
        try:
            self.writer.submit("status", {"status": status, "end_utc": end_utc, "duration": end})
            await self._thread.call(self.writer.close)
        except Exception as exc:  # noqa: BLE001 - the storage failure is already the run's outcome
            log.error("%s: the file could not be completed: %s", self.path, exc)

    def release(self) -> None:
        """The disk reserve and the file's thread go with the run, however it ended (a failed connect too)."""
        self.space.release()
        self._thread.close(wait=False)
