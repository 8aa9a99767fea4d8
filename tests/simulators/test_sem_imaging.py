"""Image formation and geometry of the SEM simulator, measured on its images with independent tools.

Shifts are measured with scikit-image's phase correlation, noise on the difference of two frames, contrast on
ground-truth material masks; expectations are hand-computed or the simulator's ground truth.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from operando.simulators.sem import DoseMap, DriftModel, FakeCZEMApi, cross_section
from operando.simulators.sem.imaging import BeamSettings, FrameGeometry, form_images, rasterise
from skimage.registration import phase_cross_correlation

SCENE = cross_section()


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def geometry_at(centre: tuple[float, float], size: int = 256, pixel: float = 42.5e-9) -> FrameGeometry:
    return FrameGeometry(width=size, height=size, pixel_size=pixel, row_centres=np.tile(centre, (size, 1)))


def flat_region_snr(current: float, dwell: float) -> float:
    """Mean / noise of ESB inside the Li-In counter electrode (flat), noise from two independent frames."""
    materials = rasterise(SCENE, None, geometry_at((50e-6, 0.0)))
    # Contrast 15 % (gain 0.3) keeps every pixel off the rails; undo the documented mapping to get the signal.
    beam = BeamSettings(landing_voltage=2000.0, probe_current=current, dwell=dwell, contrast=15.0)
    frames = [
        form_images(materials, beam, ("ESB",), 42.5e-9, None, np.random.default_rng(seed))["ESB"]
        for seed in (1, 2)
    ]
    first, second = ((frame.astype(np.float64) - 0.5) / 0.3 + 0.5 for frame in frames)
    assert 0 < frames[0].min() and frames[0].max() < 1
    difference = first - second
    difference -= difference.mean(axis=1, keepdims=True)  # line noise is not shot noise
    return float(first.mean() / (difference.std() / np.sqrt(2.0)))


def test_shot_noise_snr_grows_as_the_square_root_of_current_times_dwell() -> None:
    base = flat_region_snr(0.5e-9, 0.4e-6)
    assert flat_region_snr(2e-9, 0.4e-6) / base == pytest.approx(2.0, rel=0.06)
    assert flat_region_snr(0.5e-9, 1.6e-6) / base == pytest.approx(2.0, rel=0.06)
    assert flat_region_snr(2e-9, 1.6e-6) / base == pytest.approx(4.0, rel=0.08)


def test_esb_shows_atomic_number_and_pores_are_black() -> None:
    materials = rasterise(SCENE, None, geometry_at((-15e-6, 0.0), size=512))
    beam = BeamSettings(landing_voltage=2000.0, probe_current=2e-9, dwell=1.6e-6)
    esb = form_images(materials, beam, ("ESB",), 42.5e-9, None, np.random.default_rng(0))["ESB"]
    nmc = esb[materials.nmc > 0.99].mean()
    lps = esb[materials.lps > 0.99].mean()
    pores = esb[materials.solid < 0.01].mean()
    assert nmc > lps + 0.2 > pores + 0.2


def test_dose_fades_se_contrast_much_more_than_esb() -> None:
    geometry = geometry_at((-15e-6, 0.0), size=512)
    materials = rasterise(SCENE, None, geometry)
    beam = BeamSettings(landing_voltage=2000.0, probe_current=2e-9, dwell=1.6e-6)

    def contrast(dose_map: DoseMap) -> dict[str, float]:
        images = form_images(materials, beam, ("SE2", "ESB"), 42.5e-9, dose_map, np.random.default_rng(0))
        nmc, lps = materials.nmc > 0.99, materials.lps > 0.99
        return {name: float(image[nmc].mean() - image[lps].mean()) for name, image in images.items()}

    fresh = contrast(DoseMap(SCENE.extent))
    dosed = DoseMap(SCENE.extent)
    # 3000 e-/nm^2 over the field: 2 nA for 3000 * area / (2 nA / e) seconds, spread evenly.
    area_nm2 = (512 * 42.5) ** 2
    dosed.add_field(3000.0 * area_nm2, geometry.corners())
    assert dosed.at(np.array([[-15e-6, 0.0]]))[0] == pytest.approx(3000.0, rel=1e-9)
    faded = contrast(dosed)
    se_kept = faded["SE2"] / fresh["SE2"]
    esb_kept = faded["ESB"] / fresh["ESB"]
    assert se_kept == pytest.approx(np.exp(-3000 / 1500), abs=0.05)
    assert esb_kept > 0.75
    assert esb_kept > 4 * se_kept


def test_dose_from_a_live_beam_and_the_park_position(tmp_path) -> None:
    clock = Clock()
    sem = FakeCZEMApi(clock, seed=1)
    assert sem.InitialiseRemoting() == 0
    assert sem.Set("AP_IPROBE", 1e-9) == 0
    field_width = sem.Get("AP_WIDTH")[1]
    field_height = sem.Get("AP_HEIGHT")[1]
    centre = sem.view_centre()
    clock.now = 600.0  # ten minutes live, unblanked: the whole field gets I t / e / area
    expected = 1e-9 * 600.0 / 1.602176634e-19 / (field_width * field_height * 1e18)
    assert sem.dose_at(centre[None, :])[0] == pytest.approx(expected, rel=0.02)
    # Frozen but not blanked: the beam waits at the top left of the scan.
    assert sem.Set("DP_FREEZE_ON", "Command") == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    park = sem._geometry(sem._settings(), np.full(768, clock.now), clock.now).scene_point(0, 0)
    clock.now = 1200.0
    assert sem.dose_at(park[None, :])[0] > 100 * expected
    assert sem.dose_at(centre[None, :])[0] == pytest.approx(expected, rel=0.02)
    assert sem.dose_map.park_electrons == pytest.approx(1e-9 * 600.0 / 1.602176634e-19)
    # Blanked: nothing more.
    assert sem.Set("DP_BEAM_BLANKING", 1) == 0
    before = sem.dose_at(park[None, :])[0]
    clock.now = 4800.0
    assert sem.dose_at(park[None, :])[0] == before


def grab(sem: FakeCZEMApi, clock: Clock, path) -> np.ndarray:
    """Unblank, scan one frame, blank, grab: the driver's sequence."""
    assert sem.Set("DP_BEAM_BLANKING", 0) == 0
    assert sem.Execute("CMD_UNFREEZE_ALL") == 0
    assert sem.Execute("CMD_FREEZE_ALL") == 0
    while sem.Get("DP_FROZEN")[1] == "Live":
        clock.now += 0.05
    assert sem.Set("DP_BEAM_BLANKING", 1) == 0
    assert sem.Grab(0, 0, 1024, 768, 0, str(path)) == 0
    return tifffile.imread(path).astype(np.float64)


@pytest.fixture
def imaging_sem() -> tuple[FakeCZEMApi, Clock]:
    clock = Clock()
    sem = FakeCZEMApi(clock, seed=2)
    assert sem.Initialise("") == 0
    assert sem.Set("AP_PIXEL_SIZE", 42.5e-9) == 0
    assert sem.Set("DP_DETECTOR_CHANNEL", "ESB") == 0
    assert sem.Set("AP_IPROBE", 2e-9) == 0
    assert sem.Execute("CMD_SCANRATE3") == 0
    return sem, clock


def test_measured_shift_between_two_frames_matches_the_true_drift(imaging_sem, tmp_path) -> None:
    sem, clock = imaging_sem
    first = grab(sem, clock, tmp_path / "a.tif")
    clock.now += 2 * 3600.0
    second = grab(sem, clock, tmp_path / "b.tif")
    drift = (sem.grabs[-1].frame.drift_mid - sem.grabs[-2].frame.drift_mid) / 42.5e-9  # pixels, (x, y)
    assert np.hypot(*drift) > 5  # thermal settling + linear drift over 2 h: several pixels
    shift, error, _ = phase_cross_correlation(first, second, upsample_factor=20)
    # Features move with the specimen: +d in the image; registering the second frame back needs -d.
    assert shift[1] == pytest.approx(-drift[0], abs=0.2)
    assert shift[0] == pytest.approx(-drift[1], abs=0.2)


def test_stage_and_beam_shift_move_the_field_as_documented(imaging_sem, tmp_path) -> None:
    sem, clock = imaging_sem
    sem.drift = DriftModel(
        thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(0.0, 0.0), random_walk_nm_per_sqrt_min=0.0
    )
    reference = grab(sem, clock, tmp_path / "ref.tif")
    _, x, y, z, t, r, m = sem.GetStagePosition()
    assert sem.MoveStage(x + 0.5e-6, y + 0.3e-6, z, t, r, m) == 0  # + moves: no backlash
    clock.now += 60.0
    moved = grab(sem, clock, tmp_path / "stage.tif")
    shift, _, _ = phase_cross_correlation(reference, moved, upsample_factor=20)
    # The field centre moves +0.5 um / +0.3 um over the scene: content moves the other way.
    assert shift == pytest.approx([0.3e-6 / 42.5e-9, 0.5e-6 / 42.5e-9], abs=0.2)
    assert sem.Set("AP_BEAMSHIFT_X", -5.0) == 0  # 100 % = 10 um, so -5 % = -0.5 um: back where we were
    assert sem.Set("AP_BEAMSHIFT_Y", -3.0) == 0
    shifted = grab(sem, clock, tmp_path / "shift.tif")
    shift, _, _ = phase_cross_correlation(reference, shifted, upsample_factor=20)
    assert shift == pytest.approx([0.0, 0.0], abs=0.2)
    # Going back 0.3 um in y reverses the axis: the stage reports y, but the 0.8 um play swallows the move.
    assert sem.MoveStage(x + 0.5e-6, y, z, t, r, m) == 0
    clock.now += 60.0
    back = grab(sem, clock, tmp_path / "back.tif")
    shift, _, _ = phase_cross_correlation(shifted, back, upsample_factor=20)
    assert sem.GetStagePosition()[2] == pytest.approx(y)
    assert shift == pytest.approx([0.0, 0.0], abs=0.2)


def test_the_drift_model_is_a_deterministic_function_of_time() -> None:
    calm = DriftModel(seed=0, random_walk_nm_per_sqrt_min=0.0)
    # 350 nm * (1 - e^-1) + 1.5 nm/min * 40 min along x; -220 nm * (1 - e^-1) + 0.8 * 40 along y
    assert calm.at(2400.0) * 1e9 == pytest.approx(
        [350 * (1 - np.exp(-1)) + 60.0, -220 * (1 - np.exp(-1)) + 32.0]
    )
    forward, backward = DriftModel(seed=7), DriftModel(seed=7)
    times = np.linspace(0.0, 67 * 3600.0, 50)
    ahead = forward.at(times)
    behind = np.array([backward.at(t) for t in times[::-1]])[::-1]
    np.testing.assert_allclose(ahead, behind, rtol=0, atol=1e-15)
    walk = DriftModel(seed=3, thermal_amplitude_nm=(0, 0), linear_nm_per_min=(0, 0))
    steps = np.diff(walk.at(np.arange(0, 10 * 3600.0, 60.0)), axis=0) * 1e9
    # One minute of walk has a standard deviation of 1 nm per axis.
    assert steps.std() == pytest.approx(1.0, rel=0.1)


def test_scan_rotation_turns_the_image_about_its_centre(imaging_sem, tmp_path) -> None:
    sem, clock = imaging_sem
    sem.drift = DriftModel(
        thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(0.0, 0.0), random_walk_nm_per_sqrt_min=0.0
    )
    upright = grab(sem, clock, tmp_path / "upright.tif")[128:640, 256:768]
    assert sem.Set("AP_SCANROTATION", 90.0) == 0 and sem.Set("DP_SCAN_ROT", "On") == 0
    turned = grab(sem, clock, tmp_path / "turned.tif")[128:640, 256:768]

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    quarter_turns = [correlation(turned, np.rot90(upright, k)) for k in range(4)]
    assert max(quarter_turns) > 0.8
    assert sorted(quarter_turns)[-2] < 0.3  # exactly one quarter turn matches
    assert len(sem.frames) == 2 and not sem.frames[0].images  # only the newest frame keeps its pixels
