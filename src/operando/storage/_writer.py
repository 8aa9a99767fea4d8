"""The file's own thread: appends what the engine hands it, flushed at least every second of wall time.

Writing on a thread keeps disk I/O off the event loop; flushing on the wall clock (not the experiment's
possibly simulated clock) bounds what a killed process loses to the last ``flush_interval`` seconds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from operando.storage._file import ExperimentFile

_STOP = object()


def _concatenate(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(batches) == 1:
        return batches[0]
    return {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}


class FileWriter:
    """Owns an :class:`ExperimentFile` on a dedicated thread; calls from the loop only enqueue work."""

    def __init__(self, file: ExperimentFile, *, flush_interval: float = 1.0, max_pending: int = 10_000,
                 max_batch: int = 2_000, on_done: Callable[[], None] | None = None) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive seconds, got {flush_interval!r}")
        self.file = file
        self.flush_interval = flush_interval
        self.max_pending = max_pending  # operations handed over and not yet written before submit waits
        self.max_batch = max_batch  # operations that trigger a write before the interval is up
        self.appends = 0  # writes to the file so far (each followed by a flush)
        self.error: BaseException | None = None
        self.on_done = on_done
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
        ``("frame", kwargs of ExperimentFile.append_frame)``; a frame is written and flushed at once."""
        if self.error is not None:
            raise self.error
        if not self._thread.is_alive():
            raise RuntimeError("the file writer has stopped; nothing more can be written")
        with self._lock:
            self._pending += 1
        self._queue.put((kind, data))

    def submit_together(self, work: list[tuple[str, Any]]) -> None:
        """Queue several writes that land in the same flush (points and the rig state taken after them: a
        killed process leaves both or neither)."""
        if self.error is not None:
            raise self.error
        if not self._thread.is_alive():
            raise RuntimeError("the file writer has stopped; nothing more can be written")
        with self._lock:
            self._pending += len(work)
        self._queue.put(("together", work))

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, flush and close the file (blocking: call it from a thread)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def _write(self, work: list[tuple[str, Any]]) -> None:
        # Runs of consecutive point (or impedance) batches are written as one append: fewer, larger writes.
        # Of the rig states only the last is kept: it belongs to the last points of this flush.
        states = [data for kind, data in work if kind == "rig_state"]
        work = [(kind, data) for kind, data in work if kind != "rig_state"]
        index = 0
        while index < len(work):
            kind, data = work[index]
            run = [data]
            mergeable = kind in ("points", "impedance", "events")
            while mergeable and index + 1 < len(work) and work[index + 1][0] == kind:
                index += 1
                run.append(work[index][1])
            if kind == "points":
                self.file.append_points(_concatenate(run))
            elif kind == "impedance":
                self.file.append_impedance(_concatenate(run))
            elif kind == "events":
                self.file.append_events([row for rows in run for row in rows])
            elif kind == "frame":
                self.file.append_frame(**data)
            elif kind == "table":
                self.file.append_table(**data)
            elif kind == "status":
                self.file.set_status(**data)
            else:
                raise ValueError(f"unknown write {kind!r}")
            index += 1
        if states:
            self.file.append_rig_state(**states[-1])

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
                    self._write(waiting)
                    self.file.flush()
                    self.appends += 1
                    last_flush = time.monotonic()
                    with self._lock:
                        self._pending -= len(waiting)
                    waiting = []
                    framed = False
                    if self.on_done is not None:
                        self.on_done()
        except BaseException as exc:  # disk full, file deleted: reported to the engine on its next submit
            self.error = exc
            if self.on_done is not None:
                self.on_done()
        finally:
            try:
                self.file.close()
            except Exception as exc:
                self.error = self.error or exc
