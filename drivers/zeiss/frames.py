"""Reading a grabbed SmartSEM TIFF and checking it is a real, fresh, complete frame (SBEMimage's checks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile


@dataclass(frozen=True)
class GrabbedImage:
    """A grabbed frame as uint16 (8-bit grabs scaled to full range), its bit depth and CZ_SEM header."""

    image: np.ndarray
    bit_depth: int
    header: dict[str, Any]


def read_grab(path: str | Path) -> GrabbedImage:
    """Read the TIFF SmartSEM's Grab wrote; 8-bit (remote) grabs are scaled by 257 to the 16-bit range."""
    with tifffile.TiffFile(path) as tif:
        image = tif.pages.first.asarray()
        header = tif.sem_metadata or {}
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., 0]  # a grey image saved as RGB(A) by the display path: channels are identical
    if image.ndim != 2:
        raise ValueError(f"grabbed TIFF has shape {image.shape}, expected a 2-D grey image")
    if image.dtype == np.uint8:
        return GrabbedImage(image.astype(np.uint16) * np.uint16(257), 8, dict(header))
    if image.dtype != np.uint16:
        raise ValueError(f"grabbed TIFF has pixel type {image.dtype}, expected 8- or 16-bit unsigned")
    return GrabbedImage(np.ascontiguousarray(image), 16, dict(header))


def frame_problem(image: np.ndarray, expected_shape: tuple[int, int], earlier: Iterable[np.ndarray],
                  blank_threshold: float) -> str | None:
    """Why ``image`` is not a usable frame, or None: wrong size (incomplete), a flat lower half (blank: beam
    blanked, detector off or a broken transfer), a constant first or last line (incomplete), or pixel for
    pixel identical to an ``earlier`` frame (stale: no fresh scan; noise makes real frames differ)."""
    if image.shape != expected_shape:
        return f"incomplete frame: {image.shape[1]}x{image.shape[0]} pixels, expected " \
               f"{expected_shape[1]}x{expected_shape[0]}"
    lower_half = image[image.shape[0] // 2:]
    if float(lower_half.std()) <= blank_threshold * 65535.0:
        return f"blank frame: lower-half standard deviation {float(lower_half.std()):.1f} of 65535"
    if image[0].min() == image[0].max() or image[-1].min() == image[-1].max():
        return "incomplete frame: the first or last line is constant"
    if any(other.shape == image.shape and np.array_equal(other, image) for other in earlier):
        return "stale frame: identical to an earlier frame (the scan did not refresh)"
    return None
