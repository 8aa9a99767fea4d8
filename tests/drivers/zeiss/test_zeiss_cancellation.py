"""A cancellation (an abort) that arrives as a SmartSEM call returns is not swallowed by the driver.

On Python 3.11 ``asyncio.wait_for`` returns the call's result instead of the cancellation when both land in
the same moment; the engine's acquisition worker then ran on and an aborted run waited for it for ever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from operando.drivers.zeiss import ZeissMicroscope

from operando.instrument_thread import InstrumentThread


class Seam:
    def Get(self, name: str, as_string: bool = False) -> tuple[int, float]:  # noqa: N802 - the seam's name
        return 0, 5.0e-3


async def test_a_cancellation_as_the_call_returns_cancels_the_caller() -> None:
    microscope = ZeissMicroscope(lambda: Seam())
    thread = InstrumentThread("zeiss-cancellation")
    microscope._seam, microscope._thread = Seam(), thread
    caller: asyncio.Task[Any] | None = None

    def cancelled_on_return(method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            value = await method(*args, **kwargs)
            assert caller is not None
            caller.cancel()  # the abort lands just as the call hands its result back
            return value
        return call

    for name in ("call", "call_within"):  # whichever the driver awaits its calls with
        if hasattr(thread, name):
            setattr(thread, name, cancelled_on_return(getattr(thread, name)))
    try:
        caller = asyncio.create_task(microscope._get("AP_WD"))
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert caller.cancelled()
    finally:
        thread.close()
