"""The cross-section evolves with the state of charge as the thesis saw it, in ground truth and in the images.

Expectations: the thesis (cracks next to the separator at ~76 % SOC / 26 h, 50 um away only at the end of the
hold ~99 %; 120 nm cracks that partly close; a 40 nm decohesion gap that stays; blocks moving differently),
and the simulator's ground truth measured back from rendered frames with independent image analysis.
"""

from __future__ import annotations

import numpy as np
import pytest
from operando.simulators.sem import Evolution, FakeCZEMApi, cross_section
from operando.simulators.sem.imaging import BeamSettings, FrameGeometry, form_images, rasterise
from skimage.registration import phase_cross_correlation

SCENE = cross_section()
DEPTHS = np.array([p.depth for p in SCENE.particles])
NEAR = int(np.argmin(DEPTHS))  # touches the separator
FAR = int(np.argmax(DEPTHS))  # next to the current collector, ~50 um away
CLOSE_UP = 13.3e-9  # the thesis's close-up pixel size


def test_cracks_open_next_to_the_separator_at_76_percent_and_far_away_only_at_the_end() -> None:
    assert DEPTHS[NEAR] < 0.05 and DEPTHS[FAR] > 0.9
    evolution = Evolution(SCENE)
    opened: dict[int, float] = {}
    for soc in np.arange(0.0, 1.0001, 0.005):
        evolution.update(float(soc))
        for index in (NEAR, FAR):
            if index not in opened and evolution.crack_width[index] > 0:
                opened[index] = float(soc)
    assert 0.74 <= opened[NEAR] <= 0.80
    assert 0.97 <= opened[FAR] <= 1.0
    # Every particle closer to the separator cracks no later than one farther away.
    assert np.all(np.diff(np.array([evolution.spec.exponent(d) for d in np.sort(DEPTHS)])) >= 0)


def test_discharge_partly_closes_cracks_keeps_decohesion_and_restores_size() -> None:
    evolution = Evolution(SCENE)
    for soc in np.linspace(0.0, 1.0, 41):
        evolution.update(float(soc))
    peak = evolution.crack_width.copy()
    assert peak.max() == pytest.approx(120e-9, rel=1e-6)  # the thesis's widest crack
    assert evolution.decohesion_gap.max() == pytest.approx(40e-9, rel=1e-6)
    # Volume -4 % at full delithiation: radius x 0.96^(1/3).
    assert evolution.radius_scale == pytest.approx(0.96 ** (1 / 3))
    for soc in np.linspace(1.0, 0.0, 41):
        evolution.update(float(soc))
    assert evolution.local_soc == pytest.approx(0.0, abs=1e-12)
    assert evolution.crack_width == pytest.approx(0.4 * peak)
    assert evolution.decohesion_gap.max() == pytest.approx(40e-9, rel=1e-6)
    assert evolution.radius_scale == pytest.approx(1.0)


def test_local_state_of_charge_is_continuous_through_turning_points() -> None:
    evolution = Evolution(SCENE)
    for top, bottom in ((0.7, 0.3), (0.9, 0.5)):
        for soc in np.linspace(evolution.soc, top, 50):
            evolution.update(float(soc))
        at_top = evolution.local_soc.copy()
        evolution.update(top - 1e-7)  # the current reverses
        assert np.max(np.abs(evolution.local_soc - at_top)) < 0.01
        assert np.all(evolution.local_soc <= at_top)  # discharging never delithiates
        for soc in np.linspace(top, bottom, 50):
            evolution.update(float(soc))
        at_bottom = evolution.local_soc.copy()
        evolution.update(bottom + 1e-7)
        assert np.max(np.abs(evolution.local_soc - at_bottom)) < 0.01
        assert np.all(evolution.local_soc >= at_bottom)
    with pytest.raises(ValueError, match="state of charge"):
        evolution.update(1.7)


def close_up(evolution: Evolution, index: int, seed: int) -> tuple[np.ndarray, float, np.ndarray]:
    """ESB close-up (13.3 nm) of particle ``index``: image, current radius, current centre."""
    centre = evolution.particle_centres()[index]
    geometry = FrameGeometry(
        width=1024, height=1024, pixel_size=CLOSE_UP, row_centres=np.tile(centre, (1024, 1))
    )
    beam = BeamSettings(landing_voltage=2000.0, probe_current=2e-9, dwell=1.6e-6)
    image = form_images(
        rasterise(SCENE, evolution, geometry), beam, ("ESB",), CLOSE_UP, None, np.random.default_rng(seed)
    )["ESB"]
    return image, SCENE.particles[index].radius * evolution.radius_scale[index], centre


def dark_area(image: np.ndarray, radius: float) -> float:
    """Area (m^2) of pixels darker than half the particle's median brightness, inside 85 % of its radius."""
    rows, columns = np.mgrid[0:1024, 0:1024]
    inside = np.hypot(rows - 511.5, columns - 511.5) * CLOSE_UP < 0.85 * radius
    threshold = 0.5 * np.median(image[inside])
    return float(np.count_nonzero(image[inside] < threshold)) * CLOSE_UP**2


def crack_length_inside(path: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """Length (m) of the ground-truth crack path inside 85 % of the particle radius."""
    segments = np.diff(path, axis=0)
    midpoints = 0.5 * (path[1:] + path[:-1])
    inside = np.hypot(*(midpoints - centre).T) < 0.85 * radius
    return float(np.hypot(*segments[inside].T).sum())


def test_frames_show_cracks_near_the_separator_first_as_wide_as_the_ground_truth() -> None:
    evolution = Evolution(SCENE)
    measured: dict[tuple[float, int], float] = {}
    for soc in (0.0, 0.88, 1.0):
        evolution.update(soc)
        for index in (NEAR, FAR):
            image, radius, _ = close_up(evolution, index, seed=int(soc * 100) + index)
            measured[soc, index] = dark_area(image, radius)
    assert measured[0.0, NEAR] < 0.02e-12 and measured[0.0, FAR] < 0.02e-12  # pristine: no dark pixels
    assert measured[0.88, NEAR] > 0.2e-12  # open near the separator ...
    assert measured[0.88, FAR] < 0.02e-12  # ... not yet 50 um away
    assert measured[1.0, FAR] > 0.2e-12  # end of the hold: cracked everywhere
    sem = FakeCZEMApi(lambda: 0.0, soc_provider=lambda: 1.0)
    for index in (NEAR, FAR):
        truth = sem.particles()[index]
        expected = truth.crack_width * crack_length_inside(truth.crack_path, truth.centre, truth.radius)
        assert measured[1.0, index] == pytest.approx(expected, rel=0.3)


def test_local_displacements_measured_in_frames_match_the_true_field() -> None:
    evolution = Evolution(SCENE)
    pixel = 42.5e-9
    # Two windows of separator far apart: no particle inside, so the local motion is the block motion alone.
    windows = [np.array([20e-6, -30e-6]), np.array([15e-6, 25e-6])]

    def frame(centre: np.ndarray, seed: int) -> np.ndarray:
        geometry = FrameGeometry(
            width=256, height=256, pixel_size=pixel, row_centres=np.tile(centre, (256, 1))
        )
        beam = BeamSettings(landing_voltage=2000.0, probe_current=2e-9, dwell=1.6e-6)
        return form_images(
            rasterise(SCENE, evolution, geometry), beam, ("ESB",), pixel, None, np.random.default_rng(seed)
        )["ESB"]

    before = [frame(centre, 1) for centre in windows]
    for soc in np.linspace(0.0, 1.0, 21):
        evolution.update(float(soc))
    after = [frame(centre, 2) for centre in windows]
    true = evolution.displacement_at(np.array(windows)) / pixel  # (x, y) pixels
    assert np.hypot(*(true[0] - true[1])) > 2.0  # the blocks really move differently
    for k in range(2):
        shift, _, _ = phase_cross_correlation(before[k], after[k], upsample_factor=20)
        assert -shift[::-1] == pytest.approx(true[k], abs=0.4)
