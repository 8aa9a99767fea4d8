"""The real Zeiss driver over the simulator's fake SmartSEM (operando.simulators.sem), on simulated time:
the issue's script scenario, the SBEMimage grab sequence, validation before anything changes, calibrations."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from operando.drivers.zeiss import ZeissConfig, ZeissMicroscope
from operando.simulators.sem import CrossSection, CrossSectionSpec, FakeCZEMApi, cross_section

from operando.clock import run_simulated
from operando.roles.microscope import Microscope, MicroscopeSettingError
from tests.drivers.zeiss.helpers import CallLog

_SCENE: list[CrossSection] = []


def scene() -> CrossSection:
    """One procedural cross-section for the module (building it is the slow part of making a fake)."""
    if not _SCENE:
        _SCENE.append(cross_section(CrossSectionSpec()))
    return _SCENE[0]


def on_fake(body: Callable[[ZeissMicroscope, FakeCZEMApi, CallLog], Awaitable[Any]],
            config: ZeissConfig | None = None, small_frames: bool = True) -> Any:
    """Run ``body(driver, fake, call_log)`` on simulated time with the driver connected to a fresh fake."""
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=7)
        log = CallLog(fake, loop.time)
        sem = ZeissMicroscope(lambda: log, config or ZeissConfig())
        await sem.connect()
        if small_frames:
            await sem.set_scan(frame_size=(512, 384), dwell=100e-9)
        try:
            return await body(sem, fake, log)
        finally:
            await sem.disconnect()
    return run_simulated(main())


def test_the_driver_fills_the_microscope_role() -> None:
    assert isinstance(ZeissMicroscope(lambda: None), Microscope)  # type: ignore[arg-type,return-value]


def test_issue_script_two_detectors_with_the_metadata_that_was_set() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        await sem.set_beam(voltage=2e3, current=2e-9)
        await sem.set_scan(frame_size=(2048, 1536), pixel_size=42.5e-9, dwell=100e-9)
        await sem.select_detectors(["SE2", "ESB"])
        frames = await sem.grab()

        assert [f.metadata.detector for f in frames] == ["SE2", "ESB"]
        for frame in frames:
            assert frame.image.dtype == np.uint16 and frame.image.shape == (1536, 2048)
            meta = frame.metadata
            assert meta.voltage == pytest.approx(2000.0) and meta.current == pytest.approx(2e-9)
            assert meta.pixel_size == pytest.approx(42.5e-9, rel=1e-6)
            assert (meta.frame_width, meta.frame_height) == (2048, 1536)
            assert meta.dwell == pytest.approx(100e-9) and meta.bit_depth == 8  # remote grabs are 8-bit
        assert not np.array_equal(frames[0].image, frames[1].image)
        # Ground truth: the fake scanned one frame with exactly these settings, beam on the sample.
        scanned = fake.grabs[-1].frame
        settings = scanned.settings["scan"]
        assert [g.detector for g in fake.grabs[-2:]] == ["SE2", "ESB"]
        assert fake.grabs[-2].frame is scanned  # both detectors from the same scan
        assert settings.landing_voltage == 2000.0 and settings.probe_current == 2e-9
        assert settings.pixel_size == pytest.approx(42.5e-9) and not settings.blanked
        # Frame time by hand: 100 ns x 2048 x 1536 x 1.1 + 0.08 s = 0.42603008 s, on the loop's timeline.
        assert frames[0].metadata.t_start == pytest.approx(scanned.t_start)
        assert frames[0].metadata.t_end == pytest.approx(scanned.t_start + 0.42603008)
        assert frames[0].metadata.t_end == pytest.approx(scanned.t_end)
        # The file's pixels are the fake's pixels (8-bit scaled by 257).
        truth = np.round(scanned.images["ESB"] * 255).astype(np.uint16) * 257
        assert np.array_equal(frames[1].image, truth)
        assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
    on_fake(body, small_frames=False)


def test_grab_follows_the_sbemimage_sequence_and_unblanks_only_to_scan() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        await sem.select_detectors(["InLens", "SE2"])
        start = len(log.calls)
        await sem.grab()
        calls = log.calls[start:]
        names = log.names()[start:]
        sequence = [n for n in names if n.startswith(("Set DP_BEAM_BLANKING", "Execute", "Set DP_FREEZE_ON",
                                                        "Set DP_ZONE", "Grab"))]
        assert sequence == [
            "Set DP_ZONE 0.0", "Set DP_ZONE 1.0",  # each zone pointed at its detector first
            "Set DP_BEAM_BLANKING 0.0", "Execute CMD_UNFREEZE_ALL", "Set DP_FREEZE_ON 0.0",
            "Execute CMD_FREEZE_ALL", "Set DP_BEAM_BLANKING 1.0",
            "Set DP_ZONE 0.0", "Grab", "Set DP_ZONE 1.0", "Grab"]
        assert names.index("Set DP_DETECTOR_CHANNEL 1.0") < names.index("Execute CMD_UNFREEZE_ALL")
        # First DP_FROZEN poll only after frame time + 0.3 s (SBEMimage), polls until it reads 'Frozen'.
        freeze_time = next(t for t, m, a, _ in calls if a == ("CMD_FREEZE_ALL",))
        polls = [(t, r) for t, m, a, r in calls if a[:1] == ("DP_FROZEN",)]
        frame_time = 100e-9 * 512 * 384 * 1.1 + 0.08
        assert polls[0][0] - freeze_time >= max(frame_time + 0.3, 0.8) - 1e-9
        assert polls[-1][1] == (0, "Frozen")
        # Grabs happen with the beam blanked; the fake scanned with the beam unblanked.
        assert all(fake_blanked == (0, "Yes") for fake_blanked in
                   [r for t, m, a, r in calls if a[:1] == ("DP_BEAM_BLANKED",)])
        assert [g.detector for g in fake.grabs] == ["InLens", "SE2"]
        assert not fake.grabs[-1].frame.settings["scan"].blanked
    on_fake(body)


@pytest.mark.parametrize(("arm", "reason"), [
    (lambda f: f.faults.fail_grabs(1), "API_E_GRAB_FAIL"),
    (lambda f: f.faults.blank_frames(1), "blank"),
    (lambda f: f.faults.stale_frames(1), "stale"),
])
def test_a_transient_bad_grab_is_retried_with_a_fresh_scan(arm, reason, caplog) -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        await sem.grab()  # a first frame, so that a stale one has something to repeat
        arm(fake)
        frames = await sem.grab()
        assert frames[0].metadata.attempts == 2
        assert [n for n in log.names() if n == "Execute CMD_FREEZE_ALL"] == ["Execute CMD_FREEZE_ALL"] * 3
        assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
    on_fake(body)
    assert any(reason in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("arm", "reason"), [
    (lambda f: f.faults.fail_grabs(10), "API_E_GRAB_FAIL"),
    (lambda f: f.faults.blank_frames(10), "blank frame"),
])
def test_a_persistent_bad_grab_is_a_clear_error_after_bounded_retries(arm, reason) -> None:
    from operando.drivers.zeiss import FrameRejected

    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        arm(fake)
        with pytest.raises(FrameRejected, match=reason) as caught:
            await sem.grab()
        assert caught.value.attempts == 3
        assert log.names().count("Execute CMD_FREEZE_ALL") == 3
        assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
    on_fake(body)


def test_a_grab_that_keeps_failing_carries_smartsems_code_to_the_fault() -> None:
    from operando.drivers.zeiss import FrameRejected

    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        fake.faults.fail_grabs(10)
        with pytest.raises(FrameRejected) as caught:
            await sem.grab()
        assert (caught.value.code, caught.value.name) == (1016, "API_E_GRAB_FAIL")
        assert str(caught.value).endswith("[API_E_GRAB_FAIL 1016]")
        fake.faults.failing_grabs = 0  # the three attempts used three of the ten
        fake.faults.blank_frames(10)  # a frame problem of operando's own checks has no vendor code
        with pytest.raises(FrameRejected) as caught:
            await sem.grab()
        assert caught.value.code is None and caught.value.name == ""
    on_fake(body)


def test_bad_settings_are_refused_before_anything_changes() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        await sem.set_beam(voltage=1500.0, current=1e-9)
        watched = ("AP_MANUALKV", "AP_IPROBE", "DP_IMAGE_STORE", "AP_PIXEL_SIZE", "DP_SCANRATE",
                   "AP_BEAMSHIFT_X")
        before = {name: fake.Get(name) for name in watched}
        position = fake.GetStagePosition()
        sets_before = [n for n in log.names() if n.startswith(("Set", "Execute", "MoveStage"))]

        with pytest.raises(MicroscopeSettingError, match=r"current: .*outside the microscope's range"):
            await sem.set_beam(voltage=2000.0, current=200e-9)  # the valid voltage is not set either
        with pytest.raises(MicroscopeSettingError, match="voltage"):
            await sem.set_beam(voltage=45e3)
        with pytest.raises(MicroscopeSettingError, match=r"unknown detector.*SE2, InLens, ESB \(got 'BSD'\)"):
            await sem.select_detectors(["SE2", "BSD"])
        with pytest.raises(MicroscopeSettingError, match="pixel_size"):
            await sem.set_scan(frame_size=(2048, 1536), pixel_size=0.01e-9)
        with pytest.raises(MicroscopeSettingError, match=r"frame_size.*2048x1536"):
            await sem.set_scan(frame_size=(5000, 5000), dwell=100e-9)
        with pytest.raises(MicroscopeSettingError, match="dwell"):
            await sem.set_scan(frame_size=(1024, 768), dwell=1.0)
        with pytest.raises(MicroscopeSettingError, match=r"stage.x.*outside"):
            await sem.move_stage(x=0.5)
        with pytest.raises(MicroscopeSettingError, match=r"stage.tilt"):
            await sem.move_stage(x=0.06, tilt=math.radians(80))
        with pytest.raises(MicroscopeSettingError, match="beam_shift.y"):
            await sem.set_beam_shift(1e-6, 20e-6)

        assert await sem.selected_detectors() == ("SE2",)
        assert {name: fake.Get(name) for name in before} == before
        assert fake.GetStagePosition() == position
        assert [n for n in log.names() if n.startswith(("Set", "Execute", "MoveStage"))] == sets_before
    on_fake(body)


def test_scan_settings_reach_smartsem_in_its_own_terms() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        scan = await sem.set_scan(frame_size=(1024, 768), field_width=87.04e-6, dwell=1e-6,
                                  scan_rotation=math.radians(12.0), tilt_correction=math.radians(-36.0))
        assert fake.Get("DP_IMAGE_STORE") == (0, "1024 * 768")
        assert fake.Get("DP_SCANRATE") == (0, "4")  # 1 us -> nearest 50 ns x 2^4 = 0.8 us
        assert fake.Get("AP_SCANROTATION") == (0, pytest.approx(12.0))
        assert fake.Get("DP_SCAN_ROT") == (0, "On")
        assert fake.Get("AP_TILT_ANGLE") == (0, pytest.approx(-36.0))
        assert fake.Get("AP_PIXEL_SIZE")[1] == pytest.approx(85e-9)
        assert scan.dwell == pytest.approx(0.8e-6) and scan.pixel_size == pytest.approx(85e-9)
        assert scan.scan_rotation == pytest.approx(math.radians(12.0))
        assert scan.field_width == pytest.approx(87.04e-6)
    on_fake(body)


def test_beam_shift_calibration_moves_the_view_by_the_metres_asked() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        before = fake.view_centre()
        assert await sem.set_beam_shift(2e-6, -1e-6) == pytest.approx((2e-6, -1e-6))
        assert fake.Get("AP_BEAMSHIFT_X") == (0, pytest.approx(20.0))  # 2 um of 10 um full scale
        assert fake.Get("AP_BEAMSHIFT_Y") == (0, pytest.approx(-10.0))
        moved = fake.view_centre() - before
        assert moved == pytest.approx([2e-6, -1e-6], abs=5e-9)  # the simulator's ground truth
        assert (await sem.beam_shift_range()).high == pytest.approx(10e-6)
    on_fake(body)


def test_stage_moves_absolute_and_relative_and_waits_for_idle() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        loop = asyncio.get_running_loop()
        start = await sem.stage_position()
        assert start.tilt == pytest.approx(math.radians(54.0))
        t0 = loop.time()
        reached = await sem.move_stage(x=100e-6, y=-50e-6, relative=True)
        assert (reached.x, reached.y) == pytest.approx((start.x + 100e-6, start.y - 50e-6), abs=1e-12)
        assert reached.tilt == pytest.approx(start.tilt) and reached.z == pytest.approx(start.z)
        # Move time by hand: 0.3 s overhead + 100 um at 1 mm/s = 0.4 s; the driver waited that and settled.
        assert loop.time() - t0 >= 0.4
        assert fake.Get("DP_STAGE_IS") == (0, "Idle")
        assert fake.true_stage_position()[0] == pytest.approx(start.x + 100e-6, abs=1e-6)
        limits = await sem.stage_limits()
        assert limits.tilt.high == pytest.approx(math.radians(70.0))
        reached = await sem.move_stage(x=0.06, tilt=math.radians(52.0))
        assert reached.x == pytest.approx(0.06) and reached.tilt == pytest.approx(math.radians(52.0))
        assert fake.GetStagePosition()[4] == pytest.approx(52.0)
    on_fake(body)


def test_a_stuck_stage_is_aborted_after_the_timeout() -> None:
    from operando.drivers.zeiss import StageTimeout

    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        loop = asyncio.get_running_loop()
        fake.faults.stick_stage()
        t0 = loop.time()
        with pytest.raises(StageTimeout, match="CMD_STAGE_ABORT"):
            await sem.move_stage(x=1e-3, relative=True)
        assert 20.0 <= loop.time() - t0 < 21.0
        assert "Execute CMD_STAGE_ABORT" in log.names()
        assert fake.Get("DP_STAGE_IS") == (0, "Idle")
        await sem.move_stage(x=10e-6, relative=True)  # the stage works again
    on_fake(body, ZeissConfig(stage_timeout=20.0))


def test_remoting_server_gone_is_a_connection_loss_and_its_return_is_picked_up(caplog) -> None:
    from operando.drivers.zeiss import RemotingLost

    from operando.errors import InstrumentConnectionLost

    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        fake.faults.server_exits()
        with pytest.raises(RemotingLost) as caught:
            await sem.grab()
        assert isinstance(caught.value, InstrumentConnectionLost)
        assert (caught.value.code, caught.value.name) == (2030, "API_E_REMOTING_EMSERVER_NOT_RUNNING")
        fake.faults.server_returns()
        frames = await sem.grab()
        assert frames[0].image.shape == (384, 512)
    on_fake(body)


def test_a_control_that_lost_its_initialisation_is_initialised_again(caplog) -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        fake.ClosingControl()  # SmartSEM now answers API_E_NOT_INITIALISED (1019) to everything
        assert fake.Get("AP_WD")[0] == 1019
        frames = await sem.grab()
        assert frames[0].image.shape == (384, 512)
        assert log.names().count("InitialiseRemoting") == 2
    on_fake(body)
    assert any("initialising again" in record.getMessage() for record in caplog.records)


def test_autofocus_finds_the_focus_and_leaves_the_beam_blanked() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        fake.Set("AP_WD", 5.2e-3)
        working_distance = await sem.autofocus()
        assert working_distance == pytest.approx(5.0e-3, abs=2e-6)  # the fake's in-focus WD (5 mm, z unmoved)
        assert fake.Get("DP_AUTO_FUNCTION") == (0, "Idle")
        assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
    on_fake(body)


def test_settings_snapshot_and_safe_state() -> None:
    async def body(sem: ZeissMicroscope, fake: FakeCZEMApi, log: CallLog) -> None:
        await sem.set_beam(voltage=1500.0)
        snapshot = await sem.settings_snapshot()
        assert snapshot["voltage_V"] == pytest.approx(1500.0)
        assert snapshot["frame_width_px"] == 512 and snapshot["dwell_s"] == pytest.approx(100e-9)
        assert snapshot["smartsem"]["SV_SERIAL_NUMBER"] == fake.Get("SV_SERIAL_NUMBER", True)[1]
        await sem.unblank()
        fake.MoveStage(0.07, 0.05, 0.0351, 54.0, 0.0, 0.0)
        await sem.safe_state()
        assert fake.Get("DP_BEAM_BLANKED") == (0, "Yes")
        assert fake.Get("DP_STAGE_IS") == (0, "Idle")
        assert "Execute CMD_STAGE_ABORT" in log.names()
    on_fake(body)
