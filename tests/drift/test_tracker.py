"""The tracker in closed loop: real Zeiss driver over the simulated FIB-SEM on simulated time, checked against
the simulator's ground truth (the specimen point under each frame's centre, its true drift)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from operando.simulators.sem import DriftModel, FakeCZEMApi, StageLimits, StageModel

from operando.clock import run_simulated
from operando.drift import (
    DriftCorrectionError,
    RegionTracker,
    RegistrationError,
    TrackingSettings,
    TrackingSettingsError,
)
from operando.plan import ELEMENTARY_CHARGE
from tests.drift.rig import PIXEL, closed_loop, region

# 5 nm/min along x, -3 nm/min along y on top of thermal settling (350 / -220 nm over 40 min) and a random walk
# of 1 nm per sqrt(min): 20 um over 67 h, more than the beam shift can take (80 % of 10 um).
STEADY = dict(linear_nm_per_min=(5.0, -3.0))


def test_a_region_stays_in_place_for_67_hours() -> None:
    run = closed_loop(135, 1800.0, drift=DriftModel(seed=3, **STEADY), settings={"local_fields": False})
    offsets = np.hypot(*run.offsets_px().T)
    assert all(result.valid for result in run.results)
    # Frame 1 follows 30 min of thermal settling with no velocity known yet; from then on the prediction
    # holds the region: within 1 px for all but the first frames, never out of view.
    assert offsets[1] < 12
    assert np.percentile(offsets[3:], 99) < 1.0
    assert np.median(offsets) < 0.4
    # The drift was more than the beam shift could take: the stage took over, and the region stayed.
    moves = [k for k, result in enumerate(run.results) if result.stage_moved]
    assert moves
    total = np.hypot(*(run.true_drift[-1] - run.true_drift[0])) / PIXEL
    assert total > 400
    # What the tracker believes the drift is matches the truth (scene x, y -> image dx, dy).
    estimated = np.array([result.drift for result in run.results[3:]]) / PIXEL
    truth = np.array(run.true_drift[3:])[:, ::-1] / PIXEL
    assert np.max(np.hypot(*(estimated - truth - (estimated - truth)[0]).T)) < 1.0


def test_tracking_frames_hold_the_region_to_a_twentieth_of_a_pixel_and_count_their_dose() -> None:
    run = closed_loop(12, 1800.0, drift=DriftModel(seed=4, **STEADY),
                      settings={"tracking_frames": 1, "local_fields": False, "tracking_dwell": 100e-9})
    offsets = np.hypot(*run.offsets_px().T)
    assert np.max(offsets) < 0.1
    # One 512 x 384 tracking frame at 100 ns and 2 nA before each science frame but the first.
    expected = 2e-9 * 100e-9 / (ELEMENTARY_CHARGE * PIXEL**2)
    assert run.results[0].tracking_dose == 0.0
    assert [result.tracking_dose for result in run.results[1:]] == pytest.approx([expected] * 11, rel=1e-3)


def test_the_stage_takes_over_when_the_beam_shift_reaches_its_limit() -> None:
    limit = 0.5e-6
    run = closed_loop(14, 600.0, drift=DriftModel(seed=5, linear_nm_per_min=(20.0, 12.0)),
                      settings={"max_beam_shift": limit, "local_fields": False})
    moved = [k for k, result in enumerate(run.results) if result.stage_moved]
    assert moved
    k = moved[0]
    # The correction went to the stage and the beam shift was reset near where it started.
    assert max(abs(v) for v in run.results[k].correction) < 0.3 * limit
    stage_travel = np.hypot(*(run.stage[-1][:2] - run.stage[0][:2]))
    assert stage_travel > limit
    for result in run.results:
        assert max(abs(v) for v in result.correction) <= limit + 1e-12
    offsets = np.hypot(*run.offsets_px().T)
    assert np.max(offsets[k + 1:]) < 1.0  # the verification frame measured where the stage really landed


def test_a_registration_below_the_threshold_moves_nothing_and_the_region_is_lost_then_found() -> None:
    calm = DriftModel(seed=6, thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(2.0, 1.0))
    away = DriftModel(seed=6, thermal_amplitude_nm=(60_000.0, 0.0), thermal_time_min=0.001,
                      linear_nm_per_min=(2.0, 1.0))
    beam: list[tuple[float, float]] = []

    def between(index: int, fake: FakeCZEMApi) -> None:
        beam.append(tuple(fake.Get("AP_BEAMSHIFT_X")[1:]) + tuple(fake.Get("AP_BEAMSHIFT_Y")[1:]))
        # The specimen jumps 60 um (out of any overlap) after frame 3 and comes back after frame 7.
        fake.drift = away if 3 <= index < 7 else calm

    run = closed_loop(11, 300.0, drift=calm, settings={"local_fields": False, "max_failures": 3},
                      between=between)
    results = run.results
    assert [r.valid for r in results] == [True] * 4 + [False] * 4 + [True] * 3
    assert [r.lost for r in results] == [False] * 6 + [True] * 2 + [False] * 3
    for k in range(4, 8):
        assert results[k].confidence < 0.5
        assert "confidence threshold" in results[k].reason
        assert not results[k].stage_moved
        assert math.isnan(results[k].shift[0])
    # Nothing moved after the first failed registration (frame 4) until one succeeded (frame 8).
    assert beam[5] == beam[4] and beam[6] == beam[4] and beam[7] == beam[4]
    assert "region lost after 3 failed registrations" in results[6].reason
    # The re-acquired scans were counted as dose.
    assert all(r.tracking_dose > 0 for r in results[4:8])
    # Frame 8 shows the drift of the 20 min nothing moved (2.2 nm/min: about 1 px); then it is corrected.
    offsets = np.hypot(*run.offsets_px().T)
    assert offsets[8] < 2.0
    assert np.max(offsets[9:]) < 1.0


def test_a_fifty_pixel_jump_is_caught_at_the_next_frame() -> None:
    jumped = DriftModel(seed=7, thermal_amplitude_nm=(50 * 42.5, 0.0), thermal_time_min=0.001,
                        linear_nm_per_min=(3.0, 2.0))

    def between(index: int, fake: FakeCZEMApi) -> None:
        if index == 4:
            fake.drift = jumped  # the holder slips by 50 px between frames 4 and 5

    calm = DriftModel(seed=7, thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(3.0, 2.0))
    run = closed_loop(10, 600.0, drift=calm, settings={"local_fields": False}, between=between)
    assert all(result.valid for result in run.results)
    offsets = np.hypot(*run.offsets_px().T)
    assert 45 < offsets[5] < 55  # seen, then corrected
    assert np.max(offsets[6:]) < 1.0


def test_a_sixty_micrometre_slip_on_an_87_micrometre_field_is_followed_with_the_stage() -> None:
    # 60 um at 42.5 nm is 1412 px of a 2048 px field: beyond half the field, where the cyclic correlation's
    # peak sits at -636 px. The tracker must take the real jump, and hand it to the stage (the beam shift
    # reaches 8 um).
    slipped = DriftModel(seed=9, thermal_amplitude_nm=(60_000.0, 0.0), thermal_time_min=0.001,
                         linear_nm_per_min=(3.0, 2.0))

    def between(index: int, fake: FakeCZEMApi) -> None:
        if index == 2:
            fake.drift = slipped

    calm = DriftModel(seed=9, thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(3.0, 2.0))
    run = closed_loop(6, 600.0, drift=calm, frame_size=(2048, 1536), between=between,
                      settings={"local_fields": False, "tracking_frames": 0})
    results = run.results
    assert all(result.valid for result in results)
    assert abs(results[3].shift_px[1] - 60e-6 / PIXEL) < 2.0  # the slip as it happened, not its alias
    assert any(result.stage_moved for result in results[3:])
    offsets = np.hypot(*run.offsets_px().T)
    assert np.max(offsets[4:]) < 1.0


def test_keyframes_handed_over_often_keep_the_region_in_place() -> None:
    # A similarity threshold of 0.99 hands the keyframe over nearly every frame: each hand-over adds the
    # error of one registration, which stays small.
    run = closed_loop(16, 600.0, drift=DriftModel(seed=8, **STEADY),
                      settings={"keyframe_similarity_threshold": 0.99, "local_fields": False})
    assert run.results[-1].keyframe >= 2
    assert any(result.keyframe_changed for result in run.results)
    offsets = np.hypot(*run.offsets_px().T)
    assert np.max(offsets[3:]) < 1.0


def test_local_displacement_field_on_the_64_pixel_grid_in_metres() -> None:
    run = closed_loop(3, 600.0, drift=DriftModel(seed=9, **STEADY))
    first, second, third = run.results
    assert first.displacement is None
    field = third.displacement
    assert field is not None and field.shape == (2, 384 // 64, 512 // 64) and field.dtype == np.float32
    # Nothing deforms here: what remains after the global shift is noise, well under a pixel.
    assert np.nanmax(np.abs(field)) < 0.5 * PIXEL
    assert third.max_local_displacement < 0.5 * PIXEL
    assert np.isfinite(field).mean() > 0.5


def test_disabled_tracking_measures_and_moves_nothing() -> None:
    run = closed_loop(3, 600.0, drift=DriftModel(seed=10, **STEADY), settings={"enabled": False})
    assert all(not r.valid and r.reason == "tracking disabled" for r in run.results)
    assert all(beam == (0.0, 0.0) for beam in run.beam_shift)


def test_measure_only_never_moves() -> None:
    run = closed_loop(4, 1200.0, drift=DriftModel(seed=11, **STEADY), settings={"correct": False,
                                                                              "local_fields": False})
    assert all(beam == (0.0, 0.0) for beam in run.beam_shift)
    # The measured shift is the true drift since the first frame (content moves with the specimen).
    measured = np.array(run.results[-1].shift_px)
    truth = (run.true_drift[-1] - run.true_drift[0])[::-1] / PIXEL
    assert measured == pytest.approx(truth, abs=0.3)


def test_settings_from_the_protocol_table_and_clear_refusals() -> None:
    settings = TrackingSettings.from_mapping({"enabled": True, "confidence_threshold": 0.6,
                                              "tracking_frames": 2, "max_beam_shift": 4e-6})
    assert settings.confidence_threshold == 0.6
    assert (settings.tracking_frames, settings.max_beam_shift) == (2, 4e-6)
    with pytest.raises(TrackingSettingsError, match="unknown setting.*keyframe_treshold"):
        TrackingSettings.from_mapping({"keyframe_treshold": 0.5})
    with pytest.raises(TrackingSettingsError, match=r"confidence_threshold: expected a fraction .* got 1.5"):
        TrackingSettings(confidence_threshold=1.5)
    with pytest.raises(TrackingSettingsError, match="tracking.tracking_frame_size"):
        TrackingSettings(tracking_frame_size=(32, 24))
    with pytest.raises(TrackingSettingsError, match="tracking.max_beam_shift"):
        RegionTracker(region(), {"max_beam_shift": -1.0})


def test_a_frame_unlike_the_keyframe_and_an_impossible_correction_are_refused() -> None:
    async def body() -> None:
        import asyncio

        from operando.drivers.zeiss import ZeissMicroscope

        loop = asyncio.get_running_loop()
        # A stage that can only travel 1 um from where it stands, and a beam shift limited to 0.2 um.
        position = StageModel().position
        limits = StageLimits(low=tuple(position - [1e-6, 1e-6, 1e-3, 10, 10, 1e-3]),
                             high=tuple(position + [1e-6, 1e-6, 1e-3, 10, 10, 1e-3]))
        fake = FakeCZEMApi(loop.time, seed=12, stage=StageModel(limits=limits),
                           drift=DriftModel(seed=12, thermal_amplitude_nm=(0, 0),
                                            linear_nm_per_min=(60.0, 0)))
        sem = ZeissMicroscope(lambda: fake)
        await sem.connect()
        await sem.set_scan(frame_size=(512, 384), dwell=400e-9, pixel_size=PIXEL)
        await sem.select_detectors(["ESB"])
        tracker = RegionTracker(region(), {"max_beam_shift": 0.2e-6, "local_fields": False})
        await tracker.after_frame(sem, await sem.grab())
        with pytest.raises(DriftCorrectionError, match="beyond the beam shift's 0.2 um and the stage cannot"):
            for _ in range(10):
                await asyncio.sleep(600.0)
                await tracker.before_frame(sem, loop.time())
                await tracker.after_frame(sem, await sem.grab())
        await sem.set_scan(frame_size=(1024, 768))
        with pytest.raises(RegistrationError, match="frame of 1024 x 768 px .* differs from its keyframe"):
            await tracker.after_frame(sem, await sem.grab())
        await sem.disconnect()

    run_simulated(body())
