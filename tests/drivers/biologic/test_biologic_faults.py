"""Injected faults give the documented typed errors or recover; safe_state leaves the channel stopped."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest
from operando.drivers.biologic import (
    BiologicChannelBusy,
    BiologicConnectionLost,
    BiologicError,
    BiologicPotentiostat,
    BiologicTechniqueError,
    EClibLibrary,
)
from operando.drivers.biologic._structures import ProgramState

from operando.clock import run_simulated
from operando.errors import InstrumentConnectionLost
from operando.techniques import ConstantCurrent, Limit, OpenCircuit, Recording
from tests.drivers.biologic.helpers import collect, make_rig

REST = OpenCircuit(duration=3600.0, recording=Recording(dt=60.0))
REST_POINTS = 61  # first point, one per minute, the last at 3600 s


def assert_contiguous(points: list) -> None:
    times = [p.t_device for p in points]
    assert len(points) == REST_POINTS
    assert all(0 < later - earlier <= 60.0 + 1e-3 for earlier, later in zip(times, times[1:], strict=False))


def test_a_single_communication_failure_is_retried_and_loses_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(600.0)
        rig.fake.fail_calls(-200, count=1, calls=["BL_GetData"])
        return await collect(rig.driver, 300.0)

    with caplog.at_level(logging.WARNING):
        points, _ = run_simulated(scenario())
    assert_contiguous(points)
    assert "BL_GetData returned -200; retry 1 of 3" in caplog.text


def test_a_persistent_failure_raises_connection_lost_then_the_run_resumes() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(600.0)
        first = await rig.driver.read()
        rig.fake.fail_calls(-200, count=None)
        calls_before = rig.fake.calls["BL_GetData"]
        await asyncio.sleep(600.0)
        with pytest.raises(BiologicConnectionLost) as caught:
            await rig.driver.read()
        attempts = rig.fake.calls["BL_GetData"] - calls_before
        rig.fake.clear_faults()
        rest, _ = await collect(rig.driver, 300.0)
        return caught.value, attempts, list(first.points) + rest

    error, attempts, points = run_simulated(scenario())
    assert isinstance(error, InstrumentConnectionLost)
    assert (error.code, error.name, error.call) == (-200, "COMM_COMMFAILED", "BL_GetData")
    assert attempts == 4  # the call and three retries
    assert_contiguous(points)


def test_a_link_dropped_mid_run_reconnects_and_the_instrument_kept_measuring() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(900.0)
        first = await rig.driver.read()
        rig.fake.drop_link()
        await asyncio.sleep(900.0)
        with pytest.raises(BiologicConnectionLost):
            await rig.driver.read()
        rig.fake.restore_link()
        rest, _ = await collect(rig.driver, 300.0)
        return rig, list(first.points) + rest

    rig, points = run_simulated(scenario())
    assert rig.fake.calls["BL_Connect"] == 2  # the driver reconnected on the stale id (-1)
    assert_contiguous(points)


def test_a_failed_reconnect_is_retried_by_the_next_read() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(900.0)
        first = await rig.driver.read()
        rig.fake.drop_link()
        rig.fake.restore_link()  # the id is stale: the next read reconnects ...
        rig.fake.fail_calls(-201, count=1, calls=["BL_Connect"])  # ... and that reconnect fails once
        with pytest.raises(BiologicConnectionLost) as caught:
            await rig.driver.read()
        rest, _ = await collect(rig.driver, 300.0)
        return caught.value, list(first.points) + rest

    error, points = run_simulated(scenario())
    assert (error.code, error.call) == (-201, "BL_Connect")
    assert_contiguous(points)


def test_a_channel_used_by_another_program_is_busy_until_made_safe() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        rig.fake.occupy_channel()
        with pytest.raises(BiologicChannelBusy) as caught:
            await rig.driver.start(REST)
        await rig.driver.safe_state()
        stopped = rig.fake.state()
        await rig.driver.start(REST)
        return caught.value, stopped, rig.fake.state()

    error, stopped, after = run_simulated(scenario())
    assert (error.code, error.name) == (-13, "GEN_CHANNEL_RUNNING")
    assert stopped is ProgramState.STOP
    assert after is ProgramState.RUN


def test_an_incompatible_technique_file_is_a_technique_error() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        rig.fake.reject_next_technique(-401)
        with pytest.raises(BiologicTechniqueError) as caught:
            await rig.driver.start(REST)
        return caught.value, rig.fake.state()

    error, state = run_simulated(scenario())
    assert (error.code, error.name, error.call) == (-401, "TECH_INCOMPATIBLEECC", "BL_LoadTechnique")
    assert "ocv4.ecc" in str(error)
    assert state is ProgramState.STOP


def test_safe_state_never_raises_and_stops_the_channel_once_it_can(caplog: pytest.LogCaptureFixture) -> None:
    charge = ConstantCurrent(current=15e-6, duration=3600.0, limits=(Limit("E_we", ">", 3.68),))

    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(charge)
        await asyncio.sleep(60.0)
        rig.fake.fail_calls(-200, count=None)
        await rig.driver.safe_state()  # logs, does not raise
        during_fault = rig.fake.state()
        rig.fake.clear_faults()
        rig.fake.drop_link()
        rig.fake.restore_link()  # the connection id is now stale
        await rig.driver.safe_state()
        return during_fault, rig.fake.state()

    with caplog.at_level(logging.ERROR):
        during_fault, after = run_simulated(scenario())
    assert during_fault is ProgramState.RUN
    assert "could not stop channel 1" in caplog.text
    assert after is ProgramState.STOP


def test_safe_state_works_without_a_prior_connect() -> None:
    async def scenario():
        rig = make_rig(firmware_loaded=True)
        rig.fake.occupy_channel()
        await rig.driver.safe_state()
        return rig.fake.state()

    assert run_simulated(scenario()) is ProgramState.STOP


def test_stop_ends_the_technique_and_the_next_read_returns_its_tail() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(125.0)
        await rig.driver.stop()
        readout = await rig.driver.read()
        return rig, readout

    rig, readout = run_simulated(scenario())
    assert rig.fake.state() is ProgramState.STOP
    assert not readout.running
    assert [round(p.t_device) for p in readout.points] == [0, 60, 120]


@pytest.mark.parametrize(("board", "files"), [
    ("VMP300", ("kernel4.bin", "vmp_iv_0395_aa.xlx", True)),
    ("VMP3", ("kernel.bin", "vmp_ii_0437_a6.xlx", True)),
])
def test_connect_loads_the_board_familys_firmware_when_needed(board: str, files: tuple) -> None:
    async def scenario():
        fresh = make_rig(board)
        info = await fresh.driver.connect()
        ready = make_rig(board, firmware_loaded=True)
        await ready.driver.connect()
        return info, fresh.fake.firmware_loads, ready.fake.firmware_loads

    info, fresh_loads, ready_loads = run_simulated(scenario())
    assert fresh_loads == [files]
    assert ready_loads == []
    assert info.model == {"VMP300": "VMP-300", "VMP3": "VMP3"}[board]
    assert info.settings["board_family"] == {"VMP300": "VMP-300", "VMP3": "VMP3"}[board]


def test_a_new_driver_attaches_to_a_running_channel_and_reads_on() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(900.0)
        first = await rig.driver.read()
        await rig.driver.disconnect()  # e.g. the engine process restarted
        again = BiologicPotentiostat(rig.fake, "USB0", channel=1)
        await again.connect()
        rest, _ = await collect(again, 300.0)
        return rig, list(first.points) + rest

    rig, points = run_simulated(scenario())
    assert len(rig.fake.firmware_loads) == 1  # not reloaded under a running technique
    assert_contiguous(points)


def test_an_unplugged_channel_or_wrong_address_is_named() -> None:
    async def scenario():
        unplugged = make_rig(channel=2)
        with pytest.raises(BiologicError, match="channel 2 is not plugged") as missing:
            await unplugged.driver.connect()
        elsewhere = make_rig()
        wrong = BiologicPotentiostat(elsewhere.fake, "USB3")
        with pytest.raises(BiologicConnectionLost) as refused:
            await wrong.connect()
        return missing.value, refused.value

    missing, refused = run_simulated(scenario())
    assert (missing.code, missing.name) == (-3, "GEN_CHANNELNOTPLUGGED")
    assert (refused.code, refused.name) == (-201, "COMM_CONNECTIONFAILED")


def test_every_eclib_call_runs_on_one_instrument_thread() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await collect(rig.driver, 600.0)
        await rig.driver.safe_state()
        await rig.driver.disconnect()
        return rig.fake

    fake = run_simulated(scenario())
    (thread,) = fake.call_threads
    assert thread.startswith("instrument-biologic-USB0-ch1")
    assert fake.calls_on_event_loop == []
    assert fake.call_threads[thread] == sum(fake.calls.values())


def test_reading_before_connecting_is_a_clear_error() -> None:
    async def scenario():
        rig = make_rig()
        with pytest.raises(BiologicError, match="not connected: call connect"):
            await rig.driver.read()

    run_simulated(scenario())


@pytest.mark.parametrize(("arguments", "named"), [
    ({"channel": 0}, "channel must be 1..16"),
    ({"address": " "}, "address must be"),
    ({"timeout": 0}, "timeout must be"),
])
def test_constructor_arguments_are_checked(arguments: dict, named: str) -> None:
    with pytest.raises(BiologicError, match=named):
        BiologicPotentiostat(object(), **arguments)  # type: ignore[arg-type]


@pytest.mark.skipif(sys.platform == "win32", reason="the real DLL loads on Windows")
def test_the_real_seam_explains_it_needs_windows() -> None:
    with pytest.raises(BiologicError, match="Windows DLL"):
        EClibLibrary()


def test_a_full_board_memory_loses_the_newest_rows_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        rig.fake.buffer_words = 3 * 3  # three OCV rows of a VMP-300 (t_high, t_low, Ewe)
        await rig.driver.start(REST)
        rig.fake.drop_link()
        await asyncio.sleep(630.0)  # 11 rows recorded meanwhile (0, 60 ... 600 s)
        rig.fake.restore_link()
        return await rig.driver.read()

    with caplog.at_level(logging.WARNING):
        readout = run_simulated(scenario())
    assert [round(p.t_device) for p in readout.points] == [0, 60, 120]
    assert "skipped 8 interrupts" in caplog.text


def test_another_client_reading_the_channel_leaves_this_one_no_rows() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(REST)
        await asyncio.sleep(150.0)
        rig.fake.other_client_reads()
        await asyncio.sleep(300.0)
        taken = await rig.driver.read()
        rig.fake.other_client_reads(False)
        await asyncio.sleep(120.0)
        return taken, await rig.driver.read()

    taken, after = run_simulated(scenario())
    assert taken.points == () and taken.running  # the channel runs; its rows went elsewhere
    assert [round(p.t_device) for p in after.points] == [480, 540]
