"""The simulated-time loop: sleeps fast-forward deterministically, instrument calls hold time, speed works."""

import asyncio
import math
import threading
import time

import pytest

from operando.clock import (
    InstrumentTimeout,
    SimulatedTimeLoop,
    call_later_wall,
    is_simulated,
    run,
    run_simulated,
)
from operando.instrument_thread import InstrumentThread, run_blocking
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
    # The speed paces the jump to the deadline; the OS's scheduling delay is never counted as simulated time.
    assert woke_at == 3600.0
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


@pytest.mark.parametrize("speed", [1e9, 1e6, math.inf])
def test_a_30_s_timeout_around_a_call_of_0_3_s_of_wall_time_never_trips(speed: float) -> None:
    # Regression: at 1e9 the selector counted the microseconds of its own select(0) as thousands of simulated
    # seconds, so asyncio.wait_for's timer expired before the call it guarded had even started.
    thread = InstrumentThread("slow-vendor-dll")

    def slow_vendor_call() -> str:
        time.sleep(0.3)
        return "done"

    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        answers = [await asyncio.wait_for(thread.call(slow_vendor_call), 30.0)]
        async with asyncio.timeout(30.0):
            answers.append(await thread.call(slow_vendor_call))
        answers.append(await thread.call_within(30.0, slow_vendor_call))
        return [(answer, loop.time() - before) for answer in answers]

    try:
        assert run(main(), speed=speed) == [("done", 0.0)] * 3  # and no simulated time passed
    finally:
        thread.close()


@pytest.mark.parametrize("speed", [1e9, math.inf])
def test_a_hung_call_times_out_on_the_wall_clock_and_lets_simulated_time_go_on(speed: float) -> None:
    thread = InstrumentThread("hung-vendor-dll")
    unstuck = threading.Event()

    async def main() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="0.2 s of wall time"):
            await thread.call_within(0.2, unstuck.wait, 20.0)
        waited = time.monotonic() - started
        before = loop.time()
        await asyncio.sleep(3600.0)  # the thread is still stuck, but the call no longer holds the clock
        return waited, before, loop.time()

    try:
        waited, before, after = run(main(), speed=speed)
    finally:
        unstuck.set()
        thread.close()
    assert 0.2 <= waited < 2.0
    assert (before, after) == (0.0, 3600.0)


def test_a_thread_waking_the_loop_early_does_not_move_simulated_time() -> None:
    # At 2 x a 1 s sleep waits 0.5 s of wall time; a wake-up from another thread 20 ms in happens "now" in
    # simulated time, and the sleeper still wakes exactly on its deadline.
    async def main() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        seen: list[float] = []
        timer = threading.Timer(0.02, lambda: loop.call_soon_threadsafe(lambda: seen.append(loop.time())))
        timer.start()
        await asyncio.sleep(1.0)
        timer.join()
        return seen, loop.time()

    assert run(main(), speed=2.0) == ([0.0], 1.0)


def test_a_wall_timer_fires_while_simulated_time_stands_still() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        fired = asyncio.Event()
        started = time.monotonic()
        call_later_wall(0.1, fired.set)
        cancelled = call_later_wall(0.05, pytest.fail, "a cancelled wall timer ran")
        cancelled.cancel()
        with loop.hold_time():  # as during a vendor call: no simulated timer can fire, wall timers still do
            await fired.wait()
        return time.monotonic() - started, loop.time()

    waited, now = run_simulated(main())
    assert 0.1 <= waited < 2.0 and now == 0.0


def test_blocking_work_off_the_loop_holds_simulated_time() -> None:
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(1.0)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await run_blocking(time.sleep, 0.2)
        task.cancel()
        return ticks, loop.time()

    assert run_simulated(main()) == (0, 0.0)


@pytest.mark.parametrize("speed", [1e9, math.inf])
def test_an_instrument_timeout_counts_simulated_waiting_plus_the_wall_time_of_calls(speed: float) -> None:
    # 100 s: 60 s of simulated waiting, a call of 0.2 s of wall time, then 39 s fit; 40 s do not, and the
    # timeout fires when 100 s are spent: at 60 + (100 - 60 - 0.2...) s of simulated time.
    thread = InstrumentThread("vendor-dll")

    async def block(rest: float) -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with InstrumentTimeout(100.0):
                await asyncio.sleep(60.0)
                await thread.call(time.sleep, 0.2)
                await asyncio.sleep(rest)
        except TimeoutError:
            return False, loop.time() - start
        return True, loop.time() - start

    try:
        assert run(block(39.0), speed=speed) == (True, 99.0)
        finished, spent = run(block(40.0), speed=speed)
    finally:
        thread.close()
    assert not finished and 99.0 < spent <= 99.8


def test_an_instrument_timeout_ends_a_hung_call_on_the_wall_clock() -> None:
    thread = InstrumentThread("hung-vendor-dll")
    unstuck = threading.Event()

    async def main() -> tuple[float, float]:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with InstrumentTimeout(0.3):
                await thread.call(unstuck.wait, 20.0)
        return time.monotonic() - started, asyncio.get_running_loop().time()

    try:
        waited, now = run_simulated(main())
    finally:
        unstuck.set()
        thread.close()
    assert 0.3 <= waited < 2.0 and now == 0.0


def test_an_instrument_timeout_on_the_wall_clock_loop_is_a_plain_timeout() -> None:
    async def main() -> None:
        async with InstrumentTimeout(1.0):
            await asyncio.sleep(0.01)
        with pytest.raises(TimeoutError):
            async with InstrumentTimeout(0.05):
                await asyncio.sleep(1.0)

    asyncio.run(main())
