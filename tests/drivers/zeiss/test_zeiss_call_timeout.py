"""The Zeiss driver's call timeout on simulated time: wall time on the instrument thread, at any speed.

At --speed 1e9 connect() used to fail with "making the SmartSEM seam did not return within 30 s" after 3 s of
wall time: the 30 s ran on the simulated clock, which counted microseconds of the loop's own time a billion
times over.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from operando.drivers.zeiss import CallTimeout, ZeissConfig, ZeissMicroscope
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run
from tests.drivers.zeiss.test_zeiss_driver import scene


@pytest.mark.parametrize("speed", [1e9, 1e6, math.inf])
def test_connect_and_a_grab_at_any_speed_take_no_simulated_time_in_calls(speed: float) -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=7)
        sem = ZeissMicroscope(lambda: fake)
        await sem.connect()
        connected = loop.time()
        await sem.set_scan(frame_size=(512, 384), dwell=100e-9)
        (frame,) = await sem.grab()
        await sem.disconnect()
        return connected, frame.metadata.t_start

    connected, t_start = run(main(), speed=speed)
    assert connected == 0.0  # every call of connect() stands for no simulated time
    # The scan starts after the unfreeze and nothing else: no simulated time went by before it.
    assert t_start == 0.0


@pytest.mark.parametrize("speed", [1e9, math.inf])
def test_a_hung_call_is_a_call_timeout_after_its_wall_time_and_the_run_goes_on(speed: float) -> None:
    async def main() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        sem = ZeissMicroscope(lambda: fake, ZeissConfig(call_timeout=0.2))
        await sem.connect()
        fake.faults.slow_calls(1.0, real=True, methods={"GetStagePosition"})
        started = time.monotonic()
        with pytest.raises(CallTimeout, match=r"GetStagePosition.*0.2 s"):
            await sem.stage_position()
        waited = time.monotonic() - started
        fake.faults.slow_calls(0.0)
        before = loop.time()
        await asyncio.sleep(60.0)  # simulated time goes on while the thread is still in the slow call
        slept = loop.time() - before
        await asyncio.to_thread(time.sleep, 1.0)  # let the slow call end
        assert (await sem.stage_position()).tilt > 0
        await sem.disconnect()
        return waited, before, slept

    waited, before, slept = run(main(), speed=speed)
    assert 0.2 <= waited < 0.9 and before == 0.0 and slept == 60.0
