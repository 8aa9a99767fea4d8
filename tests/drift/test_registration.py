"""Registration on simulator frames with known shifts (ground truth from the frame geometry), at SNR about 1,
with the artefacts of operando SEM imaging; the confidence separates good from failed registrations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from operando.drift import Reference, RegistrationError, register
from tests.drift.frames import CENTRE, add_noise, contamination, curtains, fade, gradient, render

SIZE = (512, 384)
SNR = 1.0


def pair(seed: int, shift: tuple[float, float], **kwargs) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = (CENTRE[0] + rng.uniform(-4e-6, 4e-6), CENTRE[1] + rng.uniform(-4e-6, 4e-6))
    return render(centre, SIZE, seed=seed, **kwargs), render(centre, SIZE, shift=shift, seed=seed + 1000,
                                                             **kwargs)


def shifts(seed: int, count: int, scale: float = 20.0) -> list[tuple[float, float]]:
    rng = np.random.default_rng([seed, 77])
    return [tuple(rng.uniform(-scale, scale, 2)) for _ in range(count)]  # type: ignore[misc]


def error(result, truth) -> float:
    return float(np.hypot(*(np.asarray(result.shift) - np.asarray(truth))))


@pytest.mark.parametrize("case", ["plain", "fade and gradient", "curtains", "contamination", "ESB"])
def test_sub_pixel_at_snr_one_with_imaging_artefacts(case: str) -> None:
    rng = np.random.default_rng(11)
    errors = []
    for k, truth in enumerate(shifts(3, 4)):
        detector = "ESB" if case == "ESB" else "SE2"
        first, second = pair(100 + k, truth, detector=detector)
        if case == "fade and gradient":  # SE contrast down 45 %, a brightness ramp and offset
            second = gradient(fade(second, 0.45), 0.3)
        elif case == "curtains":  # stripes that changed between the two mills
            first, second = curtains(first, 0.2, k), curtains(second, 0.2, k + 50)
        elif case == "contamination":  # dark patches fixed in the scan frame, one at the park position
            second = contamination(second, 3, k)
        result = register(add_noise(first, SNR, rng), add_noise(second, SNR, rng))
        errors.append(error(result, truth))
        assert result.confidence > 0.5
    assert max(errors) < 0.2, errors


@pytest.mark.parametrize("jump", [(50.0, -50.0), (96.0, 128.0), (-96.0, -128.0)])
def test_jumps_of_fifty_pixels_and_a_quarter_of_the_field(jump: tuple[float, float]) -> None:
    rng = np.random.default_rng(5)
    truth = (jump[0] + 0.37, jump[1] - 0.61)
    first, second = pair(21, truth)  # new content enters at the border, a quarter of each side is gone
    result = register(add_noise(first, SNR, rng), add_noise(second, SNR, rng))
    assert error(result, truth) < 0.2
    assert result.confidence > 0.5


@pytest.mark.parametrize("jump", [(0.0, 0.69), (0.6, 0.0), (-0.65, -0.7), (0.3, -0.62)])
def test_jumps_beyond_half_the_field_are_told_from_their_alias(jump: tuple[float, float]) -> None:
    # A 60 um slip of the holder seen on an 87 um field is 69 % of it: the cyclic correlation peaks at -31 %
    # just as well. Fractions of the field (y, x); what still overlaps is 30-40 % of each side.
    rng = np.random.default_rng(8)
    size = (1024, 768)
    truth = (jump[0] * size[1] + 0.29, jump[1] * size[0] - 0.43)
    first = render(CENTRE, size, seed=31)
    second = render(CENTRE, size, shift=truth, seed=1031)
    result = register(add_noise(first, 3.0, rng), add_noise(second, 3.0, rng))
    assert error(result, truth) < 0.3
    assert result.confidence > 0.5
    # At SNR 1 the small overlap may leave the confidence low, but the jump is still told from its alias.
    assert error(register(add_noise(first, 1.0, rng), add_noise(second, 1.0, rng)), truth) < 0.3
    # A search limited below the jump does not take the alias's other side: it does not find the jump.
    limited = register(add_noise(first, 3.0, rng), add_noise(second, 3.0, rng), max_shift=0.5 * size[1])
    assert error(limited, truth) > 50


def test_drift_during_the_scan_is_measured_at_mid_scan() -> None:
    # 1.5 px of drift from the first line to the last: the frame is sheared, its middle line is where the
    # content is; noise and the region's content decide how well the middle is found.
    rng = np.random.default_rng(8)
    per_row = (0.002, -0.003)
    for k, truth in enumerate(shifts(9, 3, 10.0)):
        first, second = pair(300 + k, truth, drift_per_row=per_row)
        result = register(add_noise(first, 3.0, rng), add_noise(second, 3.0, rng))
        assert error(result, truth) < 0.25


def test_the_shift_follows_scipy_ndimage_shift() -> None:
    clean = render(CENTRE, SIZE, seed=4)
    truth = (3.3, -7.6)
    moved = ndimage.shift(clean, truth, order=3, mode="reflect")
    result = register(clean, moved)
    assert result.shift == pytest.approx(truth, abs=0.05)
    assert ndimage.shift(clean, result.shift, order=3, mode="reflect")[64:-64, 64:-64] == pytest.approx(
        moved[64:-64, 64:-64], abs=0.02)


def test_pixel_size_gives_the_shift_in_metres() -> None:
    first, second = pair(31, (2.0, -4.0))
    result = register(first, second, pixel_size=42.5e-9)
    assert result.shift_m == pytest.approx((2.0 * 42.5e-9, -4.0 * 42.5e-9), abs=0.05 * 42.5e-9)


def test_confidence_separates_good_from_failed_registrations() -> None:
    rng = np.random.default_rng(13)
    good, bad = [], []
    for k, truth in enumerate(shifts(17, 6)):
        first, second = pair(500 + k, truth)
        for snr in (0.5, 1.0, 9.0):
            reference = Reference(add_noise(first, snr, rng))
            good.append(reference.register(add_noise(second, snr, rng)).confidence)
            # Unrelated frames: other parts of the electrode, more than a field away (21.8 x 16.3 um).
            elsewhere = render((-35e-6 + 3e-6 * k, CENTRE[1] + (-1) ** k * 22e-6), SIZE, seed=900 + k)
            bad.append(reference.register(add_noise(elsewhere, snr, rng)).confidence)
            bad.append(reference.register(rng.normal(0.4, 0.1, first.shape)).confidence)  # pure noise
            blank = np.full(first.shape, 0.3) + rng.normal(0, 1e-3, first.shape)  # beam blanked
            bad.append(reference.register(blank).confidence)
    threshold = 0.5
    assert min(good) > threshold
    assert max(bad) < threshold
    assert np.mean(np.array(bad) > 0.1) < 0.02


def test_bad_input_is_refused_with_a_clear_error() -> None:
    image = render(CENTRE, SIZE, seed=1)
    with pytest.raises(RegistrationError, match=r"shape 256 x 384 px differs from the reference.s 512"):
        register(image, image[:, :256])
    with pytest.raises(RegistrationError, match=r"pixel size 40 nm differs from the reference's 42.5 nm"):
        register(image, image, pixel_size=42.5e-9, frame_pixel_size=40e-9)
    with pytest.raises(RegistrationError, match="constant"):
        register(image, np.full(image.shape, 7.0))
    with pytest.raises(RegistrationError, match="2-D"):
        register(image, np.zeros((3, *image.shape)))
    with pytest.raises(RegistrationError, match="too small"):
        register(np.zeros((0, 0)), np.zeros((0, 0)))
    broken = image.copy()
    broken[5, 5] = np.nan
    with pytest.raises(RegistrationError, match="NaN"):
        register(image, broken)
    with pytest.raises(RegistrationError, match="pixel size must be a positive length"):
        register(image, image, pixel_size=-1.0)
