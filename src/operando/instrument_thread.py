"""One dedicated worker thread per instrument: blocking vendor calls (DLL, COM, VISA, serial) run there, in order.

The event loop never blocks on a vendor call. On simulated time the loop's clock is held while the call runs,
so a slow machine and a fast machine see the same simulated timeline.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class InstrumentThread:
    """Serialises every call to one instrument on its own thread (COM apartments and EClib need that)."""

    def __init__(self, name: str, initializer: Callable[[], None] | None = None) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"instrument-{name}",
                                            initializer=initializer)
        self._closed = False

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` on the instrument thread and await its result."""
        if self._closed:
            raise RuntimeError(f"instrument thread {self.name!r} is closed")
        loop = asyncio.get_running_loop()
        hold = getattr(loop, "hold", None)
        release = getattr(loop, "release", None)
        result: asyncio.Future[T] = loop.create_future()

        def deliver(work: Future[T]) -> None:
            # On the loop: hand over the result, then release the clock, in one callback. Released first, the
            # loop could see no ready work and jump simulated time before the awaiting task resumes.
            if work.cancelled():
                result.cancel()  # the thread was closed before the call could run
            elif not result.cancelled():
                error = work.exception()
                if error is not None:
                    result.set_exception(error)
                else:
                    result.set_result(work.result())
            if hold is not None and release is not None:
                release()  # even if the awaiting task was cancelled meanwhile: the thread really finished

        if hold is not None and release is not None:
            hold()
        try:
            work: Future[T] = self._executor.submit(functools.partial(function, *args, **kwargs))
        except BaseException:
            if hold is not None and release is not None:
                release()
            raise
        work.add_done_callback(lambda done: loop.call_soon_threadsafe(deliver, done))
        return await result

    def close(self, wait: bool = True) -> None:
        """Stop accepting calls; with ``wait``, let the running call finish."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
