"""SEM frames with known content shifts, made by the simulator's image formation (never stored images).

The field centre of a frame is a scene point (m); moving it by -d m moves the content by +d / pixel px, so
a frame rendered at ``centre - shift * pixel`` has its content shifted by ``shift`` (dy, dx) px relative to
one rendered at ``centre``: the ground truth of every registration test and of the benchmark. Frames are
rendered almost noise-free and shot noise is then added at an exact signal-to-noise ratio (signal = standard
deviation of the clean image), so one pair of renders serves every SNR and every method.
"""

from __future__ import annotations

import functools

import numpy as np
from operando.simulators.sem import CrossSectionSpec, DoseMap, Evolution, cross_section
from operando.simulators.sem.imaging import BeamSettings, FrameGeometry, form_images, rasterise

PIXEL = 42.5e-9
# Composite next to the separator: particles, pores, LPS, and the separator's edge in view.
CENTRE = (-8e-6, 2e-6)
# A dose so high that shot noise vanishes; noise is added afterwards at the SNR a case asks for.
CLEAN_BEAM = BeamSettings(landing_voltage=2000.0, probe_current=2e-9, dwell=1e-3)


@functools.cache
def scene(seed: int | None = None):
    """The thesis cross-section (``seed`` None) or another one drawn with ``seed`` (an unrelated specimen)."""
    return cross_section() if seed is None else cross_section(CrossSectionSpec(seed=seed))


def render(centre: tuple[float, float] = CENTRE, size: tuple[int, int] = (512, 384), *,
           shift: tuple[float, float] = (0.0, 0.0), detector: str = "SE2", pixel: float = PIXEL,
           evolution: Evolution | None = None, dose: DoseMap | None = None,
           drift_per_row: tuple[float, float] = (0.0, 0.0), seed: int = 0,
           specimen: int | None = None) -> np.ndarray:
    """A clean float64 frame of ``size`` (width, height) whose content is shifted by ``shift`` (dy, dx) px
    (at the middle row when ``drift_per_row`` (dy, dx) px per line shears the frame during the scan);
    ``specimen`` draws another cross-section (unrelated frames)."""
    width, height = size
    rows = np.arange(height) - (height - 1) / 2
    offset_y = shift[0] + drift_per_row[0] * rows
    offset_x = shift[1] + drift_per_row[1] * rows
    row_centres = np.column_stack([centre[0] - offset_x * pixel, centre[1] - offset_y * pixel])
    geometry = FrameGeometry(width=width, height=height, pixel_size=pixel, row_centres=row_centres)
    materials = rasterise(scene(specimen), evolution, geometry)
    images = form_images(materials, CLEAN_BEAM, (detector,), pixel, dose, np.random.default_rng(seed))
    return images[detector]


def add_noise(clean: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` plus white noise whose standard deviation is the clean image's divided by ``snr``."""
    noise = rng.standard_normal(clean.shape, np.float32)
    noise *= np.float32(clean.std() / snr)
    return clean + noise


def fade(image: np.ndarray, amount: float, grey: float = 0.4) -> np.ndarray:
    """SE contrast faded by ``amount`` (0.3 = 30 %) towards a contamination grey, as dose fades it."""
    return grey + (image - grey) * (1.0 - amount)


def gradient(image: np.ndarray, strength: float, angle: float = 0.6) -> np.ndarray:
    """A linear intensity ramp of ``strength`` grey levels across the field plus a brightness offset."""
    height, width = image.shape
    y, x = np.mgrid[0:height, 0:width]
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height) * strength
    return image + ramp + 0.1 * strength


def curtains(image: np.ndarray, strength: float, seed: int, fixed: bool = False) -> np.ndarray:
    """Vertical curtaining stripes: random column modulation of ``strength`` (relative)."""
    rng = np.random.default_rng([seed, 0xC0C])
    profile = np.convolve(rng.normal(0, 1, image.shape[1] + 8), np.ones(9) / 3.0, "valid")[: image.shape[1]]
    return image * (1.0 + strength * profile[None, :])


def contamination(image: np.ndarray, patches: int, seed: int, darkness: float = 0.5) -> np.ndarray:
    """Dark rectangles fixed in the scan frame (contamination of earlier small scans, the park position)."""
    rng = np.random.default_rng([seed, 0xD1A7])
    out = image.copy()
    height, width = image.shape
    for k in range(patches):
        h, w = int(rng.integers(height // 8, height // 4)), int(rng.integers(width // 8, width // 4))
        y, x = (0, 0) if k == 0 else (int(rng.integers(0, height - h)), int(rng.integers(0, width - w)))
        out[y:y + h, x:x + w] = 0.4 + (out[y:y + h, x:x + w] - 0.4) * (1 - darkness) - 0.1 * darkness
    return out
