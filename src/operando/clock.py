"""The experiment clock: an asyncio loop whose time runs faster than the wall clock, or jumps when idle.

Every wait in operando goes through the event loop (``asyncio.sleep``, ``loop.time()``), so a simulated
experiment of 67 h can run in seconds and tests can fast-forward deterministically. Blocking vendor calls run
on an instrument thread (see :mod:`operando.instrument_thread`) which *holds* simulated time while it works, so
a simulated run gives the same result for the same seed however fast the machine is.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from collections.abc import Coroutine
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class _ScaledSelector(selectors.BaseSelector):
    """Wraps the real selector; turns the loop's timeout (simulated seconds) into real waiting."""

    def __init__(self, loop: SimulatedTimeLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    def register(self, fileobj, events, data=None):  # noqa: ANN001, ANN201
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):  # noqa: ANN001, ANN201
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):  # noqa: ANN001, ANN201
        return self._real.modify(fileobj, events, data)

    def get_map(self):  # noqa: ANN201
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None):  # noqa: ANN201
        loop = self._loop
        if loop._holds > 0:
            # A vendor call is running on an instrument thread: simulated time stands still until it returns.
            return self._real.select(None if timeout is None else max(timeout, 0.05))
        if math.isinf(loop.speed):
            ready = self._real.select(0)
            if ready or timeout is None:
                return ready or self._real.select(None)
            loop._now += max(timeout, 0.0)
            return []
        started = time.monotonic()
        ready = self._real.select(None if timeout is None else max(timeout, 0.0) / loop.speed)
        elapsed = (time.monotonic() - started) * loop.speed
        if not ready and timeout is not None:
            elapsed = max(elapsed, timeout)
        loop._now += elapsed
        return ready


class SimulatedTimeLoop(asyncio.SelectorEventLoop):
    """Event loop on simulated time: ``speed`` times the wall clock, or as fast as possible when infinite."""

    def __init__(self, speed: float = math.inf) -> None:
        if not (speed > 0):
            self._closed = True  # so the half-built loop's __del__ does not trip over missing state
            raise ValueError(f"speed must be a positive factor of real time, got {speed!r}")
        self.speed = float(speed)
        self._now = 0.0
        self._holds = 0
        super().__init__(selectors.DefaultSelector())
        self._selector = _ScaledSelector(self, self._selector)

    def time(self) -> float:
        return self._now

    def hold(self) -> None:
        """Stop simulated time until :meth:`release` (an instrument thread is working)."""
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1

    @contextmanager
    def hold_time(self):  # noqa: ANN201
        self.hold()
        try:
            yield
        finally:
            self.release()


def is_simulated(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """True when running on simulated time (a simulator rig or a test)."""
    loop = loop or asyncio.get_running_loop()
    return isinstance(loop, SimulatedTimeLoop)


def run(coroutine: Coroutine[Any, Any, T], *, speed: float | None = None) -> T:
    """Run ``coroutine`` to completion: on the wall clock when ``speed`` is None, else on simulated time."""
    if speed is None:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=lambda: SimulatedTimeLoop(speed)) as runner:
        return runner.run(coroutine)


def run_simulated(coroutine: Coroutine[Any, Any, T], *, speed: float = math.inf) -> T:
    """Run on simulated time, as fast as possible by default: for tests and simulated experiments."""
    return run(coroutine, speed=speed)
