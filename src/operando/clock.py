"""The experiment clock: an asyncio loop whose time runs faster than the wall clock, or jumps when idle.

Every wait in operando goes through the event loop (``asyncio.sleep``, ``loop.time()``), so a simulated
experiment of 67 h can run in seconds and tests can fast-forward deterministically. Simulated time moves only
from one timer's deadline to the next, never by how long the machine took: the speed factor paces the jumps
against the wall clock, it does not count wall time as simulated time. Blocking work runs on a thread (see
:mod:`operando.instrument_thread`) that *holds* simulated time until it returns, so a simulated run gives the
same result for the same seed at any speed on any machine. A timeout around such a call is counted on the wall
clock (:func:`call_later_wall`): the call takes no simulated time, but a hung call still ends.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import selectors
import time
from collections.abc import Callable, Coroutine
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

# Wall seconds the pacing may lag before it stops trying to catch up (after a long instrument call or a heavy
# computation): simulated time then runs on at the set speed from where it is, never in a burst.
_MAX_LAG = 0.1


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
        wall = loop._wall_wait()
        if loop._holds > 0 or timeout is None or timeout <= 0:
            # Work is ready, a thread holds the clock, or no timer is set: simulated time stands still.
            ready = self._real.select(0 if timeout is not None and timeout <= 0 else wall)
        elif math.isinf(loop.speed):
            ready = self._real.select(0)
            if not ready:
                loop._now += timeout
        else:
            ready = self._paced(timeout, wall)
        loop._run_due_wall_timers()
        return ready

    def _paced(self, timeout: float, wall: float | None):  # noqa: ANN202
        """Wait until the wall clock reaches the next timer's deadline at ``speed``; then, and only then, jump
        simulated time to it. Anything that wakes the loop earlier leaves simulated time where it is."""
        loop = self._loop
        now_wall = time.monotonic()
        if loop._anchor is None or loop._wall_at(loop._now) < now_wall - _MAX_LAG:
            loop._anchor = (now_wall, loop._now)
        wait = max(0.0, loop._wall_at(loop._now + timeout) - now_wall)
        cut_short = wall is not None and wall < wait
        ready = self._real.select(wall if cut_short else wait)
        if not ready and not cut_short:
            loop._now += timeout
        return ready


class SimulatedTimeLoop(asyncio.SelectorEventLoop):
    """Event loop on simulated time: paced at ``speed`` times the wall clock, or as fast as possible when
    infinite; either way the same simulated timeline."""

    def __init__(self, speed: float = math.inf) -> None:
        if not (speed > 0):
            self._closed = True  # so the half-built loop's __del__ does not trip over missing state
            raise ValueError(f"speed must be a positive factor of real time, got {speed!r}")
        self.speed = float(speed)
        self._now = 0.0
        self._holds = 0
        self._anchor: tuple[float, float] | None = None  # (wall s, simulated s) the pacing counts from
        self._wall_timers: list[asyncio.TimerHandle] = []  # a heap on the wall clock (time.monotonic)
        self._held_total = 0.0  # wall s spent with the clock held, before the present hold
        self._held_since = 0.0  # time.monotonic() when the present hold began
        self._guards: set[InstrumentTimeout] = set()  # told when the clock is held and let go
        super().__init__(selectors.DefaultSelector())
        self._selector = _ScaledSelector(self, self._selector)

    def time(self) -> float:
        return self._now

    def hold(self) -> None:
        """Stop simulated time until :meth:`release` (a thread is working for the loop)."""
        self._holds += 1
        if self._holds == 1:
            self._held_since = time.monotonic()
            for guard in list(self._guards):
                guard._rearm()

    def release(self) -> None:
        self._holds -= 1
        if self._holds == 0:
            self._held_total += time.monotonic() - self._held_since
            for guard in list(self._guards):
                guard._rearm()

    def held_wall_time(self) -> float:
        """Wall seconds simulated time has stood still for threads working for the loop, since it started."""
        ongoing = time.monotonic() - self._held_since if self._holds > 0 else 0.0
        return self._held_total + ongoing

    @contextmanager
    def hold_time(self):  # noqa: ANN201
        self.hold()
        try:
            yield
        finally:
            self.release()

    def call_later_wall(self, delay: float, callback: Callable[..., object], *args: Any) -> asyncio.TimerHandle:
        """Call ``callback(*args)`` after ``delay`` s of wall time, whatever simulated time does meanwhile."""
        handle = asyncio.TimerHandle(time.monotonic() + delay, callback, args, self)
        heapq.heappush(self._wall_timers, handle)
        return handle

    def _wall_at(self, simulated: float) -> float:
        """The wall time (time.monotonic) at which the pacing reaches ``simulated``."""
        assert self._anchor is not None
        wall, start = self._anchor
        return wall + (simulated - start) / self.speed

    def _wall_wait(self) -> float | None:
        """Wall seconds until the next wall timer, None if there is none."""
        timers = self._wall_timers
        while timers and timers[0].cancelled():
            heapq.heappop(timers)
        return max(0.0, timers[0].when() - time.monotonic()) if timers else None

    def _run_due_wall_timers(self) -> None:
        timers = self._wall_timers
        now = time.monotonic()
        while timers and (timers[0].cancelled() or timers[0].when() <= now):
            handle = heapq.heappop(timers)
            if not handle.cancelled():
                self._ready.append(handle)  # run in this iteration, as asyncio runs its own due timers


def call_later_wall(delay: float, callback: Callable[..., object], *args: Any,
                    loop: asyncio.AbstractEventLoop | None = None) -> asyncio.TimerHandle:
    """Call ``callback(*args)`` on the loop after ``delay`` s of wall time: for timeouts of work that holds
    simulated time (a plain loop's own clock is the wall clock)."""
    loop = loop or asyncio.get_running_loop()
    if isinstance(loop, SimulatedTimeLoop):
        return loop.call_later_wall(delay, callback, *args)
    return loop.call_later(delay, callback, *args)


class InstrumentTimeout:
    """``async with InstrumentTimeout(30.0):`` TimeoutError once the block has taken ``seconds``, counting the
    simulated time that passed plus the wall time instrument calls held the clock meanwhile.

    A guard against a hung instrument around work that mixes waiting (simulated) and vendor calls (real, and
    standing for no simulated time): on a plain loop it is :func:`asyncio.timeout`. Not for scheduling: the
    wall time of calls makes when it fires depend on the machine.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"a timeout must be positive seconds, got {seconds!r}")
        self.seconds = seconds
        self._timeout = asyncio.Timeout(None)
        self._loop: SimulatedTimeLoop | None = None
        self._start = (0.0, 0.0)  # (simulated s, held wall s) at entry
        self._wall_timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> InstrumentTimeout:
        loop = asyncio.get_running_loop()
        await self._timeout.__aenter__()
        if isinstance(loop, SimulatedTimeLoop):
            self._loop = loop
            self._start = (loop.time(), loop.held_wall_time())
            loop._guards.add(self)
            self._rearm()
        else:
            self._timeout.reschedule(loop.time() + self.seconds)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        if self._loop is not None:
            self._loop._guards.discard(self)
            if self._wall_timer is not None:
                self._wall_timer.cancel()
        return await self._timeout.__aexit__(*exc_info)

    def expired(self) -> bool:
        return self._timeout.expired()

    def _left(self) -> float:
        loop = self._loop
        assert loop is not None
        simulated, held = self._start
        return self.seconds - (loop.time() - simulated) - (loop.held_wall_time() - held)

    def _rearm(self) -> None:
        """The clock was held or let go: count down on the wall clock while held, else on simulated time."""
        loop = self._loop
        if loop is None or self._timeout.expired():
            return
        if self._wall_timer is not None:
            self._wall_timer.cancel()
            self._wall_timer = None
        if loop._holds > 0:
            self._timeout.reschedule(None)
            self._wall_timer = loop.call_later_wall(max(0.0, self._left()), self._expire)
        else:
            self._timeout.reschedule(loop.time() + max(0.0, self._left()))

    def _expire(self) -> None:
        if not self._timeout.expired():
            self._timeout.reschedule(self._loop.time() if self._loop is not None else None)


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
