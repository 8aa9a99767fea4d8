"""One dedicated worker thread per instrument: blocking vendor calls (DLL, COM, VISA, serial) run there, in order.

The event loop never blocks on a vendor call. On simulated time the loop's clock is held while the call runs,
so a slow machine and a fast machine, at any speed, see the same simulated timeline; a call's timeout is
therefore counted on the wall clock, the time the call really spends on its thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from operando.clock import call_later_wall

T = TypeVar("T")


async def _held_while(submit: Callable[[], Future[T]], within: float | None = None) -> T:
    """Await the thread work ``submit()`` starts, holding simulated time until it returns.

    With ``within`` (s of wall time since the work was handed over), TimeoutError is raised once it passes;
    the clock is then let go even though the thread may still be stuck in the call. A caller cancelled while
    the work runs leaves the clock held until the work returns (or its timeout passes): the thread is still
    working for the loop.
    """
    loop = asyncio.get_running_loop()
    hold = getattr(loop, "hold", None)
    release = getattr(loop, "release", None)
    holding = hold is not None and release is not None
    result: asyncio.Future[T] = loop.create_future()
    held = False

    def let_go() -> None:
        nonlocal held
        if held:
            held = False
            release()

    def deliver(work: Future[T]) -> None:
        # On the loop: hand over the result, then release the clock, in one callback. Released first, the
        # loop could see no ready work and jump simulated time before the awaiting task resumes.
        if timer is not None:
            timer.cancel()
        if work.cancelled():
            if not result.done():
                result.cancel()  # the thread was closed before the call could run
        elif not result.done():
            error = work.exception()
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(work.result())
        let_go()  # even if the awaiting task was cancelled meanwhile: the thread really finished

    def expire() -> None:
        if not result.done():
            result.set_exception(TimeoutError(f"the call did not return within {within:g} s of wall time"))
        let_go()

    def on_done(work: Future[T]) -> None:  # on the worker thread
        with contextlib.suppress(RuntimeError):  # the loop closed while a timed-out call was still stuck
            loop.call_soon_threadsafe(deliver, work)

    if holding:
        hold()
        held = True
    timer = None
    try:
        work = submit()
    except BaseException:
        let_go()
        raise
    if within is not None:
        timer = call_later_wall(within, expire, loop=loop)
    work.add_done_callback(on_done)
    return await result


class InstrumentThread:
    """Serialises every call to one instrument on its own thread (COM apartments and EClib need that)."""

    def __init__(self, name: str, initializer: Callable[[], None] | None = None) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"instrument-{name}",
                                            initializer=initializer)
        self._closed = False

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` on the instrument thread and await its result."""
        return await self.call_within(None, function, *args, **kwargs)

    async def call_within(self, within: float | None, function: Callable[..., T], *args: Any,
                          **kwargs: Any) -> T:
        """As :meth:`call`, but TimeoutError once ``within`` s of wall time pass from handing the call over
        (waiting behind earlier calls counts, as it would on the wall clock); None waits as long as it takes."""
        if self._closed:
            raise RuntimeError(f"instrument thread {self.name!r} is closed")
        if within is not None and not within > 0:
            raise ValueError(f"within must be positive seconds or None, got {within!r}")
        return await _held_while(lambda: self._executor.submit(functools.partial(function, *args, **kwargs)),
                                 within)

    def close(self, wait: bool = True) -> None:
        """Stop accepting calls; with ``wait``, let the running call finish."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)


async def run_blocking(function: Callable[..., T], *args: Any, within: float | None = None) -> T:
    """Like :func:`asyncio.to_thread`, but holding simulated time while
    ``function(*args)`` runs, with an optional wall-clock timeout ``within`` (s): for one-off blocking work that is no
    instrument's (starting a broker, stopping a link)."""
    return await _held_while(lambda: _start_thread(function, *args), within)


def _start_thread(function: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``function(*args)`` on a new daemon thread (never joined at exit); returns its future."""
    work: Future[T] = Future()

    def run() -> None:
        if not work.set_running_or_notify_cancel():
            return
        try:
            work.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting task
            work.set_exception(exc)

    threading.Thread(target=run, name=f"operando-blocking-{getattr(function, '__name__', 'call')}",
                     daemon=True).start()
    return work
