"""The simulated-time loop: sleeps fast-forward deterministically, instrument calls hold time, speed works."""

import asyncio
import math
import time

import pytest

from operando.clock import SimulatedTimeLoop, is_simulated, run, run_simulated
from operando.instrument_thread import InstrumentThread
from operando.timeline import Timeline


def test_a_three_day_sleep_takes_no_wall_time_and_lands_exactly() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(67 * 3600.0)
        return start, loop.time()

    started = time.monotonic()
    start, end = run_simulated(main())
    assert end - start == 67 * 3600.0
    assert time.monotonic() - started < 1.0


def test_concurrent_sleepers_wake_in_simulated_order_every_time() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        woken: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float, repeats: int) -> None:
            for _ in range(repeats):
                await asyncio.sleep(delay)
                woken.append((name, loop.time()))

        await asyncio.gather(sleeper("poll", 60.0, 5), sleeper("image", 150.0, 2), sleeper("flush", 1.0, 3))
        return woken

    expected = [("flush", 1.0), ("flush", 2.0), ("flush", 3.0), ("poll", 60.0), ("poll", 120.0),
                ("image", 150.0), ("poll", 180.0), ("poll", 240.0), ("image", 300.0), ("poll", 300.0)]
    assert run_simulated(main()) == expected
    assert run_simulated(main()) == expected


def test_time_stands_still_while_an_instrument_call_runs() -> None:
    thread = InstrumentThread("slow-vendor-dll")

    def slow_vendor_call() -> str:
        time.sleep(0.3)  # a DLL that takes 0.3 s of wall time
        return "done"

    async def main() -> tuple[float, float, str]:
        loop = asyncio.get_running_loop()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(1.0)
                ticks += 1

        task = asyncio.create_task(ticker())
        before = loop.time()
        answer = await thread.call(slow_vendor_call)
        after = loop.time()
        task.cancel()
        assert ticks == 0  # the ticker did not run ahead while the call held the clock
        return before, after, answer

    try:
        before, after, answer = run_simulated(main())
    finally:
        thread.close()
    assert answer == "done" and after == before


def test_speed_factor_runs_simulated_time_that_many_times_faster_than_the_wall() -> None:
    async def main() -> float:
        assert is_simulated()
        await asyncio.sleep(3600.0)  # one simulated hour
        return asyncio.get_running_loop().time()

    started = time.monotonic()
    woke_at = run(main(), speed=7200.0)
    elapsed = time.monotonic() - started
    # A finite speed wakes late by the OS's scheduling delay times the speed: 10 ms of wall time = 72 s here.
    assert 3600.0 <= woke_at < 3600.0 + 0.01 * 7200.0
    assert 0.45 <= elapsed < 2.0  # half a second at 7200 x, with room for a loaded machine


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        SimulatedTimeLoop(0.0)
    with pytest.raises(ValueError, match="speed"):
        SimulatedTimeLoop(-math.inf)


def test_timeline_counts_from_its_start_and_maps_device_clocks() -> None:
    async def main() -> tuple[float, float, str, float, float]:
        await asyncio.sleep(100.0)
        timeline = Timeline()
        await asyncio.sleep(50.0)
        clock = timeline.device_clock("potentiostat", 49.0, 51.0)
        return (timeline.now(), clock.to_timeline(10.0), timeline.utc(3600.0).isoformat(), clock.offset,
                clock.uncertainty)

    from datetime import UTC, datetime

    now, mapped, utc, offset, uncertainty = run_simulated(main())
    assert now == 50.0 and mapped == 60.0 and (offset, uncertainty) == (50.0, 1.0)
    assert datetime.fromisoformat(utc).tzinfo == UTC


def test_timeline_refuses_a_naive_start_time() -> None:
    from datetime import datetime

    async def main() -> None:
        Timeline(start_utc=datetime(2024, 1, 1))

    with pytest.raises(ValueError, match="time zone"):
        run_simulated(main())


def test_the_clock_never_moves_between_an_instrument_call_ending_and_its_caller_resuming() -> None:
    # Regression: the hold used to be released before the result reached the loop, so the loop could find
    # nothing ready and jump to the next timer while the caller had not yet resumed.
    thread = InstrumentThread("quick-vendor-calls")

    async def main() -> int:
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            while True:  # noqa: ASYNC110 - a periodic timer is the point: it gives the loop a reason to jump
                await asyncio.sleep(1.0)

        task = asyncio.create_task(ticker())
        moved = 0
        for _ in range(1000):
            before = loop.time()
            await thread.call(int)
            moved += loop.time() != before
        task.cancel()
        return moved

    try:
        assert run_simulated(main()) == 0
    finally:
        thread.close()
