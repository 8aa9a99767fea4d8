"""The fake CZEMApi behaves like SmartSEM's control: codes, labels, limits, timing by the clock, stage, grabs.

Expectations come from zeiss-smartsem.md (codes, store labels, SBEMimage's measured cycle times and its
magnification formula) and from hand computation, never from the fake's own output.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
import tifffile
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run_simulated
from operando.instrument_thread import InstrumentThread


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(100.0)


@pytest.fixture
def sem(clock: Clock) -> FakeCZEMApi:
    api = FakeCZEMApi(clock, seed=3)
    assert api.InitialiseRemoting() == 0
    return api


def freeze_and_wait(sem: FakeCZEMApi, clock: Clock, step: float = 0.05) -> float:
    """SBEMimage's acquire_frame: unfreeze, freeze at end of frame, poll DP_FROZEN; returns the wait (s)."""
    start = clock.now
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    assert sem.Set("DP_FREEZE_ON", 0) == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    while sem.Get("DP_FROZEN")[1] == "Live":
        clock.now += step
    return clock.now - start


# --- connection and names --------------------------------------------------------------------------
def test_every_call_answers_not_initialised_before_initialise(clock: Clock, tmp_path) -> None:
    api = FakeCZEMApi(clock)
    assert api.Get("AP_WD") == (1019, 0.0)
    assert api.Set("AP_WD", 5e-3) == 1019
    assert api.Execute("CMD_FREEZE_ALL") == 1019
    assert api.GetLimits("AP_WD") == (1019, 0.0, 0.0)
    assert api.GetStagePosition()[0] == 1019
    assert api.MoveStage(0.06, 0.045, 0.035, 54, 0, 0) == 1019
    assert api.Grab(0, 0, 1024, 768, 0, str(tmp_path / "a.tif")) == 1019
    assert api.Initialise("") == 0
    assert api.Get("AP_WD") == (0, 5e-3)
    assert api.ClosingControl() == 0
    assert api.Get("AP_WD")[0] == 1019


def test_unknown_names_answer_the_translate_codes(sem: FakeCZEMApi) -> None:
    assert sem.Get("AP_NO_SUCH_THING") == (1000, 0.0)
    assert sem.Get("DP_NO_SUCH_THING") == (1000, 0.0)
    assert sem.Set("AP_NO_SUCH_THING", 1.0) == 1004
    assert sem.Set("DP_NO_SUCH_THING", 1) == 1004
    assert sem.Execute("CMD_NO_SUCH_THING") == 1011
    assert sem.Execute("CMD_SCANRATE16") == 1011


def test_limits_are_enforced_with_low_and_high_codes(sem: FakeCZEMApi) -> None:
    code, low, high = sem.GetLimits("AP_BEAMSHIFT_X")
    assert (code, low, high) == (0, -100.0, 100.0)
    assert sem.Set("AP_BEAMSHIFT_X", 100.5) == 1008
    assert sem.Set("AP_BEAMSHIFT_X", -100.5) == 1007
    assert sem.Set("AP_BEAMSHIFT_X", 12.5) == 0
    assert sem.Get("AP_BEAMSHIFT_X") == (0, 12.5)
    code, low, high = sem.GetLimits("AP_MANUALKV")
    assert sem.Set("AP_MANUALKV", high * 1.01) == 1008
    assert sem.Set("AP_MANUALKV", low * 0.99) == 1007
    assert sem.Set("AP_MANUALKV", float("nan")) == 1009
    assert sem.Set("AP_MANUALKV", "two kV") == 1009
    # Read-only analogue values refuse writes.
    assert sem.Set("AP_ACTUALKV", 2000.0) == 1010
    assert sem.Set("AP_STAGE_AT_X", 0.05) == 1010
    assert sem.GetLimits("SV_VERSION")[0] == 1022


def test_enumerations_take_an_index_or_a_label_and_read_back_the_label(sem: FakeCZEMApi) -> None:
    assert sem.Set("DP_DETECTOR_CHANNEL", 2.0) == 0
    assert sem.Get("DP_DETECTOR_CHANNEL") == (0, "ESB")
    assert sem.Set("DP_DETECTOR_CHANNEL", "InLens") == 0
    assert sem.Get("DP_DETECTOR_CHANNEL") == (0, "InLens")
    assert sem.Set("DP_DETECTOR_CHANNEL", 0) == 0
    assert sem.Get("DP_DETECTOR_CHANNEL") == (0, "SE2")
    assert sem.Set("DP_DETECTOR_CHANNEL", 7) == 1009
    assert sem.Set("DP_DETECTOR_CHANNEL", "Everhart") == 1009
    assert sem.Set("DP_DETECTOR_CHANNEL", 1.5) == 1009
    assert sem.Set("DP_FROZEN", 1) == 1010
    assert sem.Set("DP_FREEZE_ON", "End Line") == 0
    assert sem.Get("DP_FREEZE_ON") == (0, "End Line")
    # Store indices as zeiss-smartsem.md lists them for Merlin / Gemini; index 5 does not exist.
    for index, label in ((0, "1024 * 768"), (1, "512 * 384"), (2, "2048 * 1536"), (4, "4096 * 3072")):
        assert sem.Set("DP_IMAGE_STORE", index) == 0
        assert sem.Get("DP_IMAGE_STORE") == (0, label)
    assert sem.Set("DP_IMAGE_STORE", 5) == 1009
    assert sem.Get("DP_RUNUPSTATE") == (0, "Beam On")
    assert sem.Get("SV_SERIAL_NUMBER")[0] == 0


def test_magnification_and_pixel_size_follow_sbemimage_formula(sem: FakeCZEMApi) -> None:
    assert sem.Set("AP_MAG", "1000") == 0  # SBEMimage sets AP_MAG as a string
    # px_nm = 114 278 400 / (mag * width_px)
    assert sem.Get("AP_PIXEL_SIZE")[1] == pytest.approx(114_278_400 / (1000 * 1024) * 1e-9, rel=1e-9)
    assert sem.Set("AP_PIXEL_SIZE", 42.5e-9) == 0
    assert sem.Get("AP_PIXEL_SIZE", as_string=True) == (0, "42.50 nm")
    assert sem.Get("AP_WIDTH")[1] == pytest.approx(42.5e-9 * 1024)
    assert sem.Get("AP_HEIGHT")[1] == pytest.approx(42.5e-9 * 768)
    # A bigger store keeps the field of view: the pixel size halves at twice the width.
    assert sem.Set("DP_IMAGE_STORE", 2) == 0
    assert sem.Get("AP_PIXEL_SIZE")[1] == pytest.approx(21.25e-9)
    code, low, high = sem.GetLimits("AP_PIXEL_SIZE")
    assert code == 0 and low * 2048 == pytest.approx(114_278_400e-9 / 2.0e6)


def test_frame_time_is_dwell_times_pixels_times_1_1_plus_80_ms(sem: FakeCZEMApi) -> None:
    assert sem.Execute("CMD_SCANRATE4") == 0
    assert sem.Get("DP_SCANRATE") == (0, "4")
    # 50 ns * 2^4 = 0.8 us; 0.8 us * 1024 * 768 * 1.1 + 0.08 s = 0.77206 s
    assert sem.Get("AP_FRAME_TIME")[1] == pytest.approx(772.06, abs=0.01)
    assert sem.Set("DP_IMAGE_STORE", 4) == 0
    assert sem.Set("DP_SCANRATE", 8) == 0
    # 12.8 us * 4096 * 3072 * 1.1 + 0.08 s = 177.25 s (SBEMimage measured 162 s)
    assert sem.Get("AP_FRAME_TIME")[1] / 1e3 == pytest.approx(177.246, abs=0.01)


def test_frame_times_agree_with_sbemimage_measured_cycle_times(sem: FakeCZEMApi) -> None:
    measured = {3: 0.38, 4: 0.71, 5: 1.4, 6: 2.7, 7: 5.3, 8: 10.3}  # 1024 x 768, seconds
    for rate, seconds in measured.items():
        assert sem.Execute(f"CMD_SCANRATE{rate}") == 0
        assert sem.Get("AP_FRAME_TIME")[1] / 1e3 == pytest.approx(seconds, rel=0.15)


# --- freeze state machine --------------------------------------------------------------------------
def test_end_frame_freeze_waits_for_the_frame_in_progress(sem: FakeCZEMApi, clock: Clock) -> None:
    assert sem.Execute("CMD_SCANRATE4") == 0  # frame time 0.77206 s at 1024 x 768
    period = 0.8e-6 * 1024 * 768 * 1.1 + 0.08
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    started = clock.now
    clock.now = started + 1.5 * period  # the second frame is half scanned
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    clock.now = started + 2 * period - 1e-3
    assert sem.Get("DP_FROZEN") == (0, "Live")
    clock.now = started + 2 * period + 1e-3
    assert sem.Get("DP_FROZEN") == (0, "Frozen")
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    assert sem.Get("DP_FROZEN") == (0, "Live")


def test_freeze_right_after_unfreeze_takes_one_whole_frame(sem: FakeCZEMApi, clock: Clock) -> None:
    assert sem.Execute("CMD_SCANRATE5") == 0
    period = 1.6e-6 * 1024 * 768 * 1.1 + 0.08
    waited = freeze_and_wait(sem, clock, step=0.01)
    assert period <= waited < period + 0.011


def test_command_freeze_is_immediate_and_end_line_waits_one_line(sem: FakeCZEMApi, clock: Clock) -> None:
    assert sem.Execute("CMD_SCANRATE6") == 0
    period = 3.2e-6 * 1024 * 768 * 1.1 + 0.08
    line = (period - 0.08) / 768
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    clock.now += 0.08 + 100.5 * line  # half way through line 100
    assert sem.Set("DP_FREEZE_ON", "End Line") == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    clock.now += 0.4 * line
    assert sem.Get("DP_FROZEN")[1] == "Live"
    clock.now += 0.2 * line
    assert sem.Get("DP_FROZEN")[1] == "Frozen"
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    assert sem.Set("DP_FREEZE_ON", "Command") == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    assert sem.Get("DP_FROZEN")[1] == "Frozen"


def test_changing_the_store_resolution_unfreezes(sem: FakeCZEMApi, clock: Clock) -> None:
    assert sem.Set("DP_FREEZE_ON", "Command") == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    assert sem.Get("DP_FROZEN")[1] == "Frozen"
    assert sem.Set("DP_IMAGE_STORE", 1) == 0
    assert sem.Get("DP_FROZEN")[1] == "Live"


# --- beam ------------------------------------------------------------------------------------------
def test_blanking_reads_back_and_eht_runs_up(sem: FakeCZEMApi, clock: Clock) -> None:
    assert sem.Get("DP_BEAM_BLANKED") == (0, "No")
    assert sem.Set("DP_BEAM_BLANKING", 1) == 0
    assert sem.Get("DP_BEAM_BLANKED") == (0, "Yes")
    assert sem.Set("DP_BEAM_BLANKING", 0) == 0
    assert sem.Get("DP_BEAM_BLANKED") == (0, "No")
    assert sem.Set("AP_MANUALKV", 1500.0) == 0
    assert sem.Execute("CMD_EHT_OFF") == 0
    assert sem.Get("DP_RUNUPSTATE") == (0, "EHT Off")
    assert sem.Get("AP_ACTUALKV") == (0, 0.0)
    assert sem.Execute("CMD_BEAM_ON") == 0
    assert sem.Get("DP_RUNUPSTATE") == (0, "Running Up")
    clock.now += 10.0
    assert sem.Get("DP_RUNUPSTATE") == (0, "Beam On")
    assert sem.Get("AP_ACTUALKV") == (0, 1500.0)
    assert sem.Get("AP_ACTUALKV", as_string=True) == (0, "1.50 kV")


# --- stage -----------------------------------------------------------------------------------------
def test_stage_move_returns_at_once_is_busy_for_the_move_time_then_idle(
    sem: FakeCZEMApi, clock: Clock
) -> None:
    code, x, y, z, t, r, m = sem.GetStagePosition()
    assert code == 0
    assert sem.MoveStage(x + 100e-6, y, z, t, r, m) == 0
    # 100 um at 1 mm/s plus 0.3 s start/stop: 0.4 s
    assert sem.Get("DP_STAGE_IS") == (0, "Busy")
    clock.now += 0.2
    halfway = sem.GetStagePosition()[1]
    assert x < halfway < x + 100e-6
    clock.now += 0.19
    assert sem.Get("DP_STAGE_IS")[1] == "Busy"
    clock.now += 0.02
    assert sem.Get("DP_STAGE_IS")[1] == "Idle"
    assert sem.GetStagePosition()[1] == pytest.approx(x + 100e-6)
    assert sem.Get("AP_STAGE_AT_X")[1] == pytest.approx(x + 100e-6)


def test_reversing_an_axis_loses_the_backlash(sem: FakeCZEMApi, clock: Clock) -> None:
    _, x, y, z, t, r, m = sem.GetStagePosition()
    assert sem.MoveStage(x + 50e-6, y, z, t, r, m) == 0
    clock.now += 60.0  # moved and settled
    assert sem.true_stage_position()[0] == pytest.approx(x + 50e-6, abs=1e-9)
    assert sem.MoveStage(x, y, z, t, r, m) == 0
    clock.now += 60.0
    # Reported position is the commanded one; the sample stops short by the 0.8 um backlash.
    assert sem.GetStagePosition()[1] == pytest.approx(x, abs=1e-12)
    assert sem.true_stage_position()[0] - x == pytest.approx(0.8e-6, abs=1e-9)
    # A reversal smaller than the play does not move the sample at all; going on in - moves it.
    assert sem.MoveStage(x + 0.5e-6, y, z, t, r, m) == 0
    clock.now += 60.0
    assert sem.true_stage_position()[0] - x == pytest.approx(0.8e-6, abs=1e-9)
    assert sem.MoveStage(x + 2.0e-6, y, z, t, r, m) == 0
    clock.now += 60.0
    assert sem.true_stage_position()[0] - x == pytest.approx(2.0e-6, abs=1e-9)


def test_single_axis_goto_and_out_of_range_moves(sem: FakeCZEMApi, clock: Clock) -> None:
    _, x, y, z, t, r, m = sem.GetStagePosition()
    assert sem.Set("AP_STAGE_GOTO_Y", y + 20e-6) == 0
    clock.now += 5.0
    assert sem.GetStagePosition()[2] == pytest.approx(y + 20e-6)
    _, high_x = sem.Get("AP_STAGE_HIGH_X")
    assert sem.MoveStage(high_x + 1e-3, y, z, t, r, m) == 1018
    assert sem.Set("AP_STAGE_GOTO_X", high_x + 1e-3) == 1008


# --- grab ------------------------------------------------------------------------------------------
def test_grab_writes_a_tiff_whose_cz_sem_header_matches_the_settings(
    sem: FakeCZEMApi, clock: Clock, tmp_path
) -> None:
    assert sem.Set("AP_PIXEL_SIZE", 42.5e-9) == 0
    assert sem.Set("AP_MANUALKV", 1500.0) == 0
    assert sem.Set("AP_IPROBE", 2e-9) == 0
    assert sem.Set("AP_WD", 5.1e-3) == 0
    assert sem.Set("AP_BEAMSHIFT_Y", -3.25) == 0
    assert sem.Set("DP_DETECTOR_CHANNEL", "InLens") == 0
    assert sem.Set("SV_USER_TEXT", "operando NMC622 run") == 0
    assert sem.Execute("CMD_SCANRATE3") == 0
    freeze_and_wait(sem, clock)
    path = tmp_path / "frame.tif"
    assert sem.Grab(0, 0, 1024, 768, 0, str(path)) == 0
    with tifffile.TiffFile(path) as tif:
        image = tif.pages[0].asarray()
        header = tif.sem_metadata
    assert image.shape == (768, 1024) and image.dtype == np.uint8  # remote mode grabs 8-bit
    assert header["ap_image_pixel_size"][1:] == (42.5, "nm")
    assert header["ap_manualkv"][1:] == (1.5, "kV")
    assert header["ap_iprobe"][1:] == (2.0, "nA")
    assert header["ap_wd"][1:] == (5.1, "mm")
    assert header["ap_beamshift_y"][1:] == (-3.25, "%")
    assert header["dp_detector_channel"][1] == "InLens"
    assert header["sv_user_text"][1] == "operando NMC622 run"
    assert header["ap_stage_at_x"][1:] == (61.2, "mm")
    assert header["ap_pixel_time"][1:] == (400.0, "ns")


def test_local_mode_grabs_16_bit_and_reduction_subsamples(clock: Clock, tmp_path) -> None:
    sem = FakeCZEMApi(clock, seed=4)
    assert sem.Initialise("") == 0
    assert sem.Execute("CMD_SCANRATE2") == 0
    freeze_and_wait(sem, clock)
    assert sem.Grab(0, 0, 1024, 768, 1, str(tmp_path / "half.tif")) == 0
    assert sem.Grab(0, 0, 512, 384, 0, str(tmp_path / "quarter.tif")) == 0
    half = tifffile.imread(tmp_path / "half.tif")
    quarter = tifffile.imread(tmp_path / "quarter.tif")
    assert half.dtype == np.uint16 and half.shape == (384, 512)
    assert quarter.shape == (384, 512)
    # The rectangle is the top-left quarter of the same frozen frame: every other pixel of it equals `half`'s.
    assert np.array_equal(quarter[::2, ::2], half[:192, :256])
    assert sem.Grab(0, 0, 1025, 768, 0, str(tmp_path / "bad.tif")) == 1016
    assert sem.Grab(0, 0, 1024, 768, 4, str(tmp_path / "bad.tif")) == 1016
    assert sem.Grab(0, 0, 1024, 768, 0, "CZ.MMF") == 0
    assert sem.memory_mapped_frame is not None and sem.memory_mapped_frame.shape == (768, 1024)
    assert sem.Grab(0, 0, 0, 0, 0, "CZ.MMF") == 0 and sem.memory_mapped_frame is None


def test_grabbing_before_the_first_frame_completes_gives_black_unscanned_lines(
    sem: FakeCZEMApi, clock: Clock, tmp_path
) -> None:
    assert sem.Execute("CMD_SCANRATE5") == 0
    period = 1.6e-6 * 1024 * 768 * 1.1 + 0.08
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    clock.now += 0.08 + 0.5 * (period - 0.08)  # half the lines scanned
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "early.tif")) == 0
    early = tifffile.imread(tmp_path / "early.tif")
    assert early[:380].std() > 5
    assert early[390:].max() == 0


def test_zones_grab_two_detectors_of_one_frozen_frame(sem: FakeCZEMApi, clock: Clock, tmp_path) -> None:
    assert sem.Set("DP_ZONE", 0) == 0 and sem.Set("DP_DETECTOR_CHANNEL", "SE2") == 0
    assert sem.Set("DP_ZONE", 1) == 0 and sem.Set("DP_DETECTOR_CHANNEL", "ESB") == 0
    freeze_and_wait(sem, clock)
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "esb.tif")) == 0
    assert sem.Set("DP_ZONE", 0) == 0
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "se2.tif")) == 0
    esb, se2 = sem.grabs[-2], sem.grabs[-1]
    assert (esb.detector, se2.detector) == ("ESB", "SE2")
    assert esb.frame is se2.frame
    with tifffile.TiffFile(tmp_path / "esb.tif") as tif:
        assert tif.sem_metadata["dp_detector_channel"][1] == "ESB"


# --- faults ----------------------------------------------------------------------------------------
def test_injected_grab_failure_blank_and_stale_frames(sem: FakeCZEMApi, clock: Clock, tmp_path) -> None:
    assert sem.Execute("CMD_SCANRATE2") == 0
    freeze_and_wait(sem, clock)
    sem.faults.fail_grabs(1)
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "failed.tif")) == 1016
    assert not (tmp_path / "failed.tif").exists()
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "good.tif")) == 0
    good = tifffile.imread(tmp_path / "good.tif")
    freeze_and_wait(sem, clock)
    sem.faults.stale_frames(1)
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "stale.tif")) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "stale.tif"), good)
    sem.faults.blank_frames(1)
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "blank.tif")) == 0
    blank = tifffile.imread(tmp_path / "blank.tif")
    assert blank[384:].std() <= 2 and blank[:384].std() > 5  # Luyang Han's blank-image test
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "fresh.tif")) == 0
    assert not np.array_equal(tifffile.imread(tmp_path / "fresh.tif"), good)


def test_stuck_stage_stays_busy_until_aborted(sem: FakeCZEMApi, clock: Clock) -> None:
    _, x, y, z, t, r, m = sem.GetStagePosition()
    sem.faults.stick_stage()
    assert sem.MoveStage(x + 10e-6, y, z, t, r, m) == 0
    clock.now += 3600.0
    assert sem.Get("DP_STAGE_IS")[1] == "Busy"
    assert sem.GetStagePosition()[1] < x + 10e-6
    assert sem.Execute("CMD_STAGE_ABORT") == 0
    assert sem.Get("DP_STAGE_IS")[1] == "Idle"
    assert sem.MoveStage(x, y, z, t, r, m) == 0  # the next move works
    clock.now += 5.0
    assert sem.Get("DP_STAGE_IS")[1] == "Idle"


def test_remoting_server_gone_then_back_needs_a_new_initialise(sem: FakeCZEMApi, tmp_path) -> None:
    sem.faults.server_exits()
    assert sem.Get("AP_WD") == (2030, 0.0)
    assert sem.Set("AP_WD", 5e-3) == 2030
    assert sem.Execute("CMD_FREEZE_ALL") == 2030
    assert sem.GetStagePosition()[0] == 2030
    assert sem.Grab(0, 0, 1024, 768, 0, str(tmp_path / "x.tif")) == 2030
    assert sem.InitialiseRemoting() == 2028
    sem.faults.server_returns()
    sem.ClosingControl()
    assert sem.Get("AP_WD")[0] == 1019
    assert sem.InitialiseRemoting() == 0
    assert sem.Get("AP_WD")[0] == 0


def test_slow_calls_block_for_real_or_are_recorded(sem: FakeCZEMApi) -> None:
    import time

    sem.faults.slow_calls(0.05, real=True, methods={"Get"})
    started = time.perf_counter()
    assert sem.Get("AP_WD")[0] == 0
    assert time.perf_counter() - started >= 0.05
    sem.faults.slow_calls(30.0, real=False)
    assert sem.Set("AP_WD", 5e-3) == 0
    assert sem.faults.slow_log[-1].method == "Set" and sem.faults.slow_log[-1].delay == 30.0


# --- a driver-like caller on simulated time --------------------------------------------------------
def test_polling_from_an_instrument_thread_on_simulated_time_sees_the_frame_time() -> None:
    async def acquire() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        sem = FakeCZEMApi(loop.time, seed=5)
        thread = InstrumentThread("sem")
        try:
            assert await thread.call(sem.InitialiseRemoting) == 0
            assert await thread.call(sem.Set, "DP_IMAGE_STORE", 2) == 0
            assert await thread.call(sem.Execute, "CMD_SCANRATE7") == 0  # 6.4 us, 2048 x 1536: 22.2 s
            started = loop.time()
            assert await thread.call(sem.Execute, "CMD_UNFREEZE_ALL") == 0
            assert await thread.call(sem.Execute, "CMD_FREEZE_ALL") == 0
            # Polling is how every SmartSEM client waits: DP_FROZEN has no event.
            while (await thread.call(sem.Get, "DP_FROZEN"))[1] == "Live":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            return loop.time() - started, sem.Get("AP_FRAME_TIME")[1] / 1e3
        finally:
            thread.close()

    waited, frame_time = run_simulated(acquire())
    assert frame_time == pytest.approx(6.4e-6 * 2048 * 1536 * 1.1 + 0.08)
    assert frame_time <= waited <= frame_time + 0.1 + 1e-9
    assert math.isfinite(waited)
