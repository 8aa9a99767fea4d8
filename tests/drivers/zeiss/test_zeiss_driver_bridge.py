"""The real driver through the real bridge on loopback, over the simulator's fake: same results as in process,
the token guarding the microscope, slow or vanished links turned into clear errors."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from operando.drivers.zeiss import (
    BridgeClientSeam,
    BridgeRefused,
    CallTimeout,
    RemotingLost,
    ZeissConfig,
    ZeissMicroscope,
)
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run_simulated
from operando.errors import InstrumentConnectionLost
from tests.drivers.zeiss.helpers import TOKEN, running_bridge
from tests.drivers.zeiss.test_zeiss_driver import scene


def test_issue_script_through_the_bridge() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        with running_bridge(lambda: fake) as server:
            sem = ZeissMicroscope(lambda: BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=20))
            info = await sem.connect()
            assert info.serial == fake.Get("SV_SERIAL_NUMBER")[1]
            await sem.set_beam(voltage=2e3, current=2e-9)
            await sem.set_scan(frame_size=(2048, 1536), pixel_size=42.5e-9, dwell=100e-9)
            await sem.select_detectors(["SE2", "ESB"])
            se2, esb = await sem.grab()
            assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
            await sem.disconnect()
        scanned = fake.grabs[-1].frame
        for frame, detector in ((se2, "SE2"), (esb, "ESB")):
            assert frame.metadata.detector == detector and frame.image.shape == (1536, 2048)
            assert frame.metadata.voltage == pytest.approx(2e3)
            assert frame.metadata.current == pytest.approx(2e-9)
            assert frame.metadata.pixel_size == pytest.approx(42.5e-9)
            assert frame.metadata.t_start == pytest.approx(scanned.t_start)
            assert frame.metadata.t_end == pytest.approx(scanned.t_end)
            truth = np.round(scanned.images[detector] * 255).astype(np.uint16) * 257
            assert np.array_equal(frame.image, truth)  # every byte made it through the bridge
    run_simulated(main())


def test_a_wrong_token_never_reaches_the_microscope() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        with running_bridge(lambda: fake) as server:
            sem = ZeissMicroscope(lambda: BridgeClientSeam("127.0.0.1", server.port, "guessed", timeout=5))
            with pytest.raises(BridgeRefused, match="refused"):
                await sem.connect()
            assert server.calls == 0
        assert fake.Get("AP_WD")[0] == 1019  # never initialised: not one call got through
    run_simulated(main())


def test_vendor_codes_cross_the_bridge_unchanged() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        with running_bridge(lambda: fake) as server:
            sem = ZeissMicroscope(lambda: BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5))
            await sem.connect()
            fake.faults.server_exits()
            with pytest.raises(RemotingLost) as caught:
                await sem.beam()
            assert (caught.value.code, caught.value.name) == (2030, "API_E_REMOTING_EMSERVER_NOT_RUNNING")
            fake.faults.server_returns()
            await sem.disconnect()
    run_simulated(main())


def test_a_call_slower_than_the_link_timeout_is_a_clear_connection_loss() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        with running_bridge(lambda: fake) as server:
            sem = ZeissMicroscope(lambda: BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=0.3))
            await sem.connect()
            fake.faults.slow_calls(1.0, real=True, methods={"GetStagePosition"})
            with pytest.raises(InstrumentConnectionLost, match=r"lost during GetStagePosition.*no reply"):
                await sem.stage_position()
            fake.faults.slow_calls(0.0)
            await asyncio.to_thread(time.sleep, 1.0)  # the bridge is still running the slow call
            assert (await sem.stage_position()).tilt > 0  # the next call reconnects
            await sem.disconnect()
    run_simulated(main())


def test_a_slow_call_in_process_times_out_on_the_wall_clock() -> None:
    # Simulated time stands still while a vendor call runs, so a hung call is timed on the wall clock.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=11)
        sem = ZeissMicroscope(lambda: fake, ZeissConfig(call_timeout=0.2))
        await sem.connect()
        fake.faults.slow_calls(0.6, real=True, methods={"GetStagePosition"})
        with pytest.raises(CallTimeout, match=r"GetStagePosition.*0.2 s"):
            await sem.stage_position()
        fake.faults.slow_calls(0.0)
        await asyncio.sleep(0.6)  # the instrument thread is still inside the slow call
        await sem.disconnect()
    asyncio.run(main())
