"""Grab sanity checks (SBEMimage's and Luyang Han's) and reading SmartSEM TIFFs, on hand-made frames."""

from __future__ import annotations

import numpy as np
import tifffile
from operando.drivers.zeiss.frames import frame_problem, read_grab

THRESHOLD = 2.0 / 255.0


def noisy(seed: int, shape=(48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(10000, 50000, size=shape).astype(np.uint16)


def test_a_good_frame_passes() -> None:
    assert frame_problem(noisy(1), (48, 64), [noisy(2)], THRESHOLD) is None


def test_wrong_size_or_a_constant_edge_line_is_incomplete() -> None:
    assert "incomplete" in frame_problem(noisy(1, (40, 64)), (48, 64), [], THRESHOLD)
    cut = noisy(1)
    cut[0] = 0  # first line never written
    assert "first or last line" in frame_problem(cut, (48, 64), [], THRESHOLD)


def test_a_flat_lower_half_is_blank() -> None:
    blank = noisy(1)
    blank[24:] = 7
    assert "blank" in frame_problem(blank, (48, 64), [], THRESHOLD)
    faint = noisy(1)
    faint[24:] = 30000 + (np.arange(64) % 2) * 257  # std 128.5 < 2/255 of full scale (514)
    assert "blank" in frame_problem(faint, (48, 64), [], THRESHOLD)


def test_a_repeat_of_an_earlier_frame_is_stale() -> None:
    frame = noisy(1)
    assert "stale" in frame_problem(frame.copy(), (48, 64), [noisy(3), frame], THRESHOLD)


def test_eight_bit_grabs_are_scaled_to_the_sixteen_bit_range(tmp_path) -> None:
    path = tmp_path / "grab.tif"
    image = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    tifffile.imwrite(path, image)
    grabbed = read_grab(path)
    assert grabbed.bit_depth == 8 and grabbed.image.dtype == np.uint16
    assert grabbed.image.tolist() == [[0, 257, 32896, 65535]]
    tifffile.imwrite(path, image.astype(np.uint16) * 100)
    assert read_grab(path).bit_depth == 16 and read_grab(path).image.tolist() == [[0, 100, 12800, 25500]]
