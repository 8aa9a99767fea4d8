"""Local displacement fields against the simulator's true block displacements, and their summary figures."""

from __future__ import annotations

import numpy as np
import pytest
from operando.simulators.sem import Evolution, EvolutionSpec

from operando.drift import RegistrationError, displacement_field
from tests.drift.frames import PIXEL, add_noise, render, scene

# Only the electrode blocks move (no shrinkage, cracks or decohesion, whose motion is not one vector per
# cell): a smooth field with a known value everywhere.
BLOCKS = EvolutionSpec(volume_change=0.0, decohesion_gap=0.0, crack_threshold=0.999, crack_soc_near=0.9995,
                       crack_soc_far=0.9999, block_displacement=900e-9)
SIZE = (512, 384)


def charged(soc: float) -> Evolution:
    evolution = Evolution(scene(), BLOCKS)
    for value in np.linspace(0.0, soc, 20):
        evolution.update(float(value))
    return evolution


def true_field(evolution: Evolution, centre: tuple[float, float], rows: np.ndarray,
               columns: np.ndarray) -> np.ndarray:
    """(2, gy, gx) px: the block displacement (dy, dx) at each cell centre's reference scene point."""
    yy, xx = np.meshgrid(rows, columns, indexing="ij")
    points = np.column_stack([centre[0] + (xx.ravel() - (SIZE[0] - 1) / 2) * PIXEL,
                              centre[1] + (yy.ravel() - (SIZE[1] - 1) / 2) * PIXEL])
    moved = evolution.block_displacement(points) / PIXEL
    return np.stack([moved[:, 1].reshape(yy.shape), moved[:, 0].reshape(yy.shape)])


@pytest.mark.parametrize("centre", [(-15e-6, 0.0), (-30e-6, 10e-6)])
def test_local_field_matches_the_true_block_displacements(centre: tuple[float, float]) -> None:
    rng = np.random.default_rng(1)
    after = charged(0.95)
    drift = (3.4, -6.2)  # plus a global drift between the frames, taken out by the pre-shift
    first = add_noise(render(centre, SIZE, evolution=Evolution(scene(), BLOCKS), seed=1), 9.0, rng)
    second = add_noise(render(centre, SIZE, evolution=after, shift=drift, seed=2), 9.0, rng)
    field = displacement_field(first, second, grid=64, shift=drift)
    truth = true_field(after, centre, field.rows, field.columns) + np.array(drift)[:, None, None]
    assert np.ptp(truth[1]) > 2.0 or np.ptp(truth[0]) > 2.0  # the blocks really move differently
    error = np.hypot(*(field.field - truth))
    measured = np.isfinite(error)
    assert measured.mean() > 0.6  # flat separator cells may stay unmeasured, never guessed
    assert np.max(error[measured]) < 1.0
    assert np.sqrt(np.mean(error[measured] ** 2)) < 0.4  # the simulator draws grains in steps (docs/drift.md)
    relative = field.relative(drift)
    largest = np.max(np.hypot(*(truth - np.array(drift)[:, None, None]))[measured])
    assert relative.largest == pytest.approx(largest, abs=0.5)


def test_divergence_of_a_uniform_swelling() -> None:
    # The second frame is taken at a 1 % smaller pixel: the content looks 1 % larger, as if it swelled by
    # 1 % in each direction: area strain 0.02 everywhere.
    centre = (-15e-6, 0.0)
    first = render(centre, SIZE, seed=1, detector="ESB")
    second = render(centre, SIZE, seed=2, detector="ESB", pixel=PIXEL / 1.01)
    field = displacement_field(first, second, grid=64)
    divergence = field.divergence()
    assert np.nanmedian(divergence) == pytest.approx(0.02, abs=0.004)
    # The field is 0.01 x the distance from the centre: about 2.6 px at the corners' cell centres.
    assert field.largest == pytest.approx(0.01 * np.hypot(224 + 0.5, 160 + 0.5) * 1.0, abs=0.5)


def test_bad_input_is_refused() -> None:
    image = np.random.default_rng(0).normal(size=(384, 512))
    with pytest.raises(RegistrationError, match="one shape"):
        displacement_field(image, image[:, :256])
    with pytest.raises(RegistrationError, match="grid must be a whole number of pixels"):
        displacement_field(image, image, grid=2)
    with pytest.raises(RegistrationError, match="do not fit"):
        displacement_field(image[:40, :40], image[:40, :40], grid=64)
