"""Run slow work (file reads, frame decoding, protocol resolution) on Qt's thread pool, never the GUI thread.

The result comes back as a queued signal, so the callback runs on the GUI thread. A ``Latest`` keeps only the
newest request's answer: a slider dragged over fifty frames shows the last one, not all fifty in turn.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, function: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._function, self._relay = function, relay

    def run(self) -> None:
        try:
            result = self._function()
        except Exception as exc:  # handed to the caller's on_error on the GUI thread
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self._relay.failed.emit(exc)
        else:
            self._relay.done.emit(result)


_alive: set[_Relay] = set()  # relays must outlive their task until the queued signal is delivered


def submit(function: Callable[[], Any], on_done: Callable[[Any], None],
           on_error: Callable[[Exception], None] | None = None) -> None:
    """Run ``function()`` on the pool; ``on_done(result)`` or ``on_error(exc)`` then run on the GUI thread."""
    relay = _Relay()
    _alive.add(relay)

    def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
        _alive.discard(relay)
        relay.deleteLater()
        if callback is not None:
            callback(value)

    relay.done.connect(lambda result: finish(on_done, result))
    relay.failed.connect(lambda exc: finish(on_error, exc))
    QThreadPool.globalInstance().start(_Task(function, relay))


class Latest:
    """Submit requests of one kind; only the answer to the newest one is delivered."""

    def __init__(self) -> None:
        self._generation = 0

    def submit(self, function: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[Exception], None] | None = None) -> None:
        self._generation += 1
        mine = self._generation

        def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
            if mine == self._generation and callback is not None:
                callback(value)

        submit(function, lambda result: deliver(on_done, result), lambda exc: deliver(on_error, exc))


def wait_idle(timeout_ms: int = 10_000) -> bool:
    """Block until the pool has no work (tests and screenshots); True when it drained in time."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
