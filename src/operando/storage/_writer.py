"""The file's own thread: appends what the engine hands it, flushed at least every second of wall time.

Writing on a thread keeps disk I/O off the event loop; flushing on the wall clock (not the experiment's
possibly simulated clock) bounds what a killed process loses to the last ``flush_interval`` seconds.

A write that fails (disk full, read-only, I/O error) is reported once through ``on_error`` and the writer keeps
going with everything but frames, so the fault, the final status and the last points still reach the file. If
HDF5 cannot even flush (nothing can be written any more) the file is left as last flushed and never closed:
closing, or freeing its objects, after a failed flush crashes HDF5 (a segfault at exit). Such a process ends
with :func:`operando.storage.exit_now` instead of the interpreter's normal exit.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from operando.storage._file import ExperimentFile
from operando.storage._space import SpaceGuard, StorageError, is_disk_full
from operando.storage._unclosed import keep_open
from operando.storage.frame_record import FrameRecord

log = logging.getLogger(__name__)

def _reason(error: BaseException, path: str) -> StorageError:
    """A one-line StorageError for whatever the write raised (HDF5 messages are long and carry a buffer)."""
    if isinstance(error, StorageError):
        return error
    if is_disk_full(error):
        return StorageError(errno.ENOSPC, f"disk full: {path} could not be written ({os.strerror(errno.ENOSPC)})")
    found = re.search(r"error message = '([^']*)'", str(error))
    cause = found.group(1) if found else (str(error).splitlines() or [type(error).__name__])[0]
    return StorageError(getattr(error, "errno", None), f"{path} could not be written: {cause}")


def _frame_bytes(data: FrameRecord | dict[str, Any]) -> int:
    images, displacement = (data.images, data.displacement) if isinstance(data, FrameRecord) else \
        (data["images"], data.get("displacement"))
    return int(images.nbytes) + (int(displacement.nbytes) if displacement is not None else 0)

_STOP = object()


def _concatenate(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(batches) == 1:
        return batches[0]
    return {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}


class FileWriter:
    """Owns an :class:`ExperimentFile` on a dedicated thread; calls from the loop only enqueue work.

    ``space`` checks the free space before every write (default: the record's folder with the default
    margin, no reserve); ``on_error`` is told once, from the writer's thread, when a write fails.
    """

    def __init__(self, file: ExperimentFile, *, flush_interval: float = 1.0, max_pending: int = 10_000,
                 max_batch: int = 2_000, on_done: Callable[[], None] | None = None,
                 space: SpaceGuard | None = None,
                 on_error: Callable[[StorageError], None] | None = None) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive seconds, got {flush_interval!r}")
        self.file = file
        self.path = file.file.filename
        self.flush_interval = flush_interval
        self.max_pending = max_pending  # operations handed over and not yet written before submit waits
        self.max_batch = max_batch  # operations that trigger a write before the interval is up
        self.appends = 0  # writes to the file so far (each followed by a flush)
        self.space = space if space is not None else SpaceGuard(self.path, reserve=0)
        self.error: StorageError | None = None  # the first write that failed: the run's reason to stop
        self.wedged = False  # HDF5 cannot flush the file any more: nothing more is written, it is not closed
        self.frames_dropped = 0  # frames handed over after the failure (the disk has no room for them)
        self.on_done = on_done
        self.on_error = on_error
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="operando-file-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Operations handed over and not yet written."""
        return self._pending

    def submit(self, kind: str, data: Any) -> None:
        """Queue ``("points"|"impedance", columns)``, ``("events", rows)``, ``("status", kwargs)`` or
        ``("frame", FrameRecord or kwargs of ExperimentFile.append_frame)``; a frame is written and flushed at
        once.
        After a failed write everything but frames is still written; raises once nothing can be."""
        if self.wedged:
            raise self.error or StorageError(None, f"{self.path} can no longer be written")
        if not self._thread.is_alive():
            raise RuntimeError("the file writer has stopped; nothing more can be written")
        with self._lock:
            self._pending += 1
        self._queue.put((kind, data))

    def submit_together(self, work: list[tuple[str, Any]]) -> None:
        """Queue several writes that land in the same flush (points and the rig state taken after them: a
        killed process leaves both or neither)."""
        if self.wedged:
            raise self.error or StorageError(None, f"{self.path} can no longer be written")
        if not self._thread.is_alive():
            raise RuntimeError("the file writer has stopped; nothing more can be written")
        with self._lock:
            self._pending += len(work)
        self._queue.put(("together", work))

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, flush and close the file (blocking: call it from a thread); raises if the
        file could not be completed."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        if self.wedged:
            raise self.error or StorageError(None, f"{self.path} could not be closed")

    def _check_space(self, work: list[tuple[str, Any]]) -> None:
        frames = [_frame_bytes(data) for kind, data in work if kind == "frame"]
        rest = sum(sum(np.asarray(v).nbytes for v in data.values()) if kind in ("points", "impedance") else 0
                   for kind, data in work)
        self.space.check(sum(frames) + rest, frame=max(frames, default=0))

    def _write(self, work: list[tuple[str, Any]]) -> None:
        # Runs of consecutive point (or impedance) batches are written as one append: fewer, larger writes.
        # ``work`` is consumed from the front, so after a failure it holds what was not written. Of the rig
        # states only the last is kept, written after the rest: it belongs to the last points of this flush.
        states = [item for item in work if item[0] == "rig_state"]
        work[:] = [item for item in work if item[0] != "rig_state"] + states[-1:]
        while work:
            kind, data = work[0]
            count = 1
            mergeable = kind in ("points", "impedance", "events")
            while mergeable and count < len(work) and work[count][0] == kind:
                count += 1
            run = [item[1] for item in work[:count]]
            if kind == "points":
                self.file.append_points(_concatenate(run))
            elif kind == "impedance":
                self.file.append_impedance(_concatenate(run))
            elif kind == "events":
                self.file.append_events([row for rows in run for row in rows])
            elif kind == "frame":
                if self.error is None and isinstance(data, FrameRecord):
                    self.file.append_record(data)
                elif self.error is None:
                    self.file.append_frame(**data)
                else:
                    self.frames_dropped += 1
                    region, index = (data.region, data.index) if isinstance(data, FrameRecord) else \
                        (data["region"], data["row"].get("index"))
                    log.info("%s: frame %s of %s not written: %s", self.path, index, region, self.error)
            elif kind == "table":
                self.file.append_table(**data)
            elif kind == "status":
                self.file.set_status(**data)
            elif kind == "rig_state":
                self.file.append_rig_state(**data)
            else:
                raise ValueError(f"unknown write {kind!r}")
            del work[:count]

    def _write_and_flush(self, work: list[tuple[str, Any]]) -> None:
        """Write ``work`` and flush; on a failure recover what can be, then write the rest (but frames)."""
        for _ in range(2):
            if self.wedged:
                return
            try:
                if self.error is None:
                    self._check_space(work)
                self._write(work)
                self.file.flush()
                return
            except Exception as exc:  # noqa: BLE001 - disk full, read-only, I/O error: the run stops on it
                self._failed(exc)  # then once more: the rows were rolled back, frames are now dropped

    def _failed(self, exc: BaseException) -> None:
        first = self.error is None
        if first:
            self.error = _reason(exc, self.path)
            log.info("%s", self.error)
        if is_disk_full(exc):
            self.space.release()  # room for the fault, the status and the last points
        try:
            self.file.flush()
            self.file.roll_back()
            self.file.flush()
        except Exception as again:  # noqa: BLE001 - HDF5 cannot write: leave the file as last flushed
            self.wedged = True
            keep_open(self.file, self.path)
            log.error("%s: nothing more can be written (%s); it holds what was flushed before", self.path,
                      _reason(again, self.path))
        if first and self.on_error is not None:
            self.on_error(self.error)

    def _close(self) -> None:
        if not self.wedged:
            try:
                self.file.flush()
            except Exception as exc:  # noqa: BLE001 - as a failed write: recover, or leave the file open
                self._failed(exc)
        if not self.wedged:
            try:
                self.file.close()
            except Exception as exc:  # noqa: BLE001 - flushed just before: should not happen
                self.wedged = True
                keep_open(self.file, self.path)
                self.error = self.error or _reason(exc, self.path)
        self.space.release()

    def _work(self) -> None:
        # Work is kept in memory and written, then flushed, once per flush interval (or when much is waiting):
        # a fast simulated run makes a few large appends instead of thousands of small ones, and a killed
        # process still loses at most the last interval.
        last_flush = time.monotonic()
        waiting: list[tuple[str, Any]] = []
        stopping = framed = False
        try:
            while not stopping:
                due = last_flush + self.flush_interval
                timeout = max(0.0, due - time.monotonic()) if waiting else None
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                while item is not None:
                    if item is _STOP:
                        stopping = True
                        break
                    if item[0] == "together":
                        waiting.extend(item[1])
                    else:
                        waiting.append(item)
                    framed = framed or item[0] == "frame"
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                # A frame is written at once: it is the expensive thing to lose.
                if waiting and (stopping or framed or len(waiting) >= self.max_batch
                                or time.monotonic() >= due):
                    count = len(waiting)
                    self._write_and_flush(waiting)
                    self.appends += 1
                    last_flush = time.monotonic()
                    with self._lock:
                        self._pending -= count
                    waiting = []
                    framed = False
                    if self.on_done is not None:
                        self.on_done()
        except BaseException as exc:  # a bug in the writer itself: reported like a failed write
            if self.error is None:
                self.error = _reason(exc, self.path)
                if self.on_error is not None:
                    self.on_error(self.error)
            if self.on_done is not None:
                self.on_done()
        finally:
            self._close()
