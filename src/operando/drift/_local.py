"""Local displacement fields between two frames of a region: how each part of the electrode moved.

Subset correlation: the frame is cut into square subsets on a regular grid (one vector per ``grid`` x ``grid``
px cell: 2048 x 1536 px -> 24 x 32 with the default 64 px). Each subset of the second frame is taken at an
integer pre-shift (the global shift, then each subset's own first estimate) so the same material is inside
both; its remaining sub-pixel shift comes from the same partially whitened, band-passed cross-power as the
global registration, refined by Newton steps on the exact correlation of each subset (all subsets at once).
Subsets whose peak does not stand out (flat separator, pores, noise) are NaN rather than a guess.

Fine grids (subsets wider than the grid, e.g. 48 px subsets every 16 px) overlap: their vectors are cleaned by
their neighbourhood (gross ones against a 9 x 9 median dropped, the rest averaged with peak-to-noise weights),
then the second frame is warped back by that smooth field and the remainder measured once more, so the
field's gradient across a subset biases nothing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage

from ._registration import WORKERS, RegistrationError, _whiten

# A subset's peak must stand this many robust spreads above its correlation surface to count (pure noise
# reaches 8.4 in 1 % of subsets, 9.6 in 0.1 %).
_MIN_PEAK_TO_NOISE = 10.0
# Subsets wider than the grid (overlapping) are judged by their neighbourhood instead: a lower bar, then
# vectors further than _GROSS px from the median of their 9 x 9 cells are dropped, the rest averaged
# (Gaussian of subset / _SMOOTHING px), and cells with less than _MIN_SUPPORT of that kernel measured are NaN.
_FINE_PEAK_TO_NOISE = 5.0
_SMOOTHING = 2.0
_GROSS = 0.75
_MIN_SUPPORT = 0.5
# Normalised median test (Westerweel & Scarano 2005): a vector this many times further from its neighbours'
# median than they scatter around it (plus 0.1 px of measurement noise) is an outlier.
_MEDIAN_TEST = 2.0
_MEDIAN_NOISE = 0.1


@dataclass(frozen=True)
class DisplacementField:
    """Displacement (px) of the material of each grid cell from the first frame to the second:
    ``field[0]`` rows (dy), ``field[1]`` columns (dx), shape (2, gy, gx), NaN where unmeasured; cell centres
    ``rows`` and ``columns`` (px); ``peak_to_noise`` per cell."""

    field: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    peak_to_noise: np.ndarray
    spacing: int

    def in_metres(self, pixel_size: float) -> np.ndarray:
        """The field (2, gy, gx) in m, float32."""
        return (self.field * pixel_size).astype(np.float32)

    def relative(self, shift: tuple[float, float]) -> DisplacementField:
        """The field with a global ``shift`` (dy, dx) px taken out: what moved relative to the region."""
        field = self.field - np.asarray(shift, float)[:, None, None]
        return DisplacementField(field, self.rows, self.columns, self.peak_to_noise, self.spacing)

    @property
    def largest(self) -> float:
        """Largest displacement magnitude (px) over the measured cells (NaN when none was measured)."""
        magnitude = np.hypot(self.field[0], self.field[1])
        return float(np.nanmax(magnitude)) if np.isfinite(magnitude).any() else math.nan

    def divergence(self) -> np.ndarray:
        """Area strain d(dx)/dx + d(dy)/dy per cell (dimensionless; > 0 swelling, < 0 shrinking)."""
        if min(self.field.shape[1:]) < 2:
            return np.full(self.field.shape[1:], np.nan)
        d_dy = np.gradient(self.field[0], self.spacing, axis=0)
        d_dx = np.gradient(self.field[1], self.spacing, axis=1)
        return d_dy + d_dx


def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def _subsets(image: np.ndarray, tops: np.ndarray, lefts: np.ndarray, size: int) -> np.ndarray:
    """Stack of ``size`` x ``size`` subsets with top-left corners (tops, lefts), clipped into the image."""
    height, width = image.shape
    tops = np.clip(tops, 0, height - size)
    lefts = np.clip(lefts, 0, width - size)
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))
    return windows[tops, lefts].astype(np.float32)


class _SubsetCorrelator:
    """Batched partially whitened, band-passed cross-power of subset pairs, with sub-pixel peaks."""

    def __init__(self, size: int, whitening: float = 0.75, high_cut: float = 0.2,
                 low_cut: float = 0.02) -> None:
        self.size = size
        self.window = _hann(size)[:, None] * _hann(size)[None, :]
        ky = scipy.fft.fftfreq(size)[:, None]
        kx = scipy.fft.rfftfreq(size)[None, :]
        radius2 = ky**2 + kx**2
        band = np.exp(-radius2 / high_cut**2) * (1 - np.exp(-radius2 / low_cut**2))
        self.filter = band.astype(np.float32)
        self.whitening = whitening
        self.ky = (2j * np.pi * scipy.fft.fftfreq(size)).astype(np.complex64)
        self.kx = (2j * np.pi * scipy.fft.rfftfreq(size)).astype(np.complex64)
        multiplicity = np.full(kx.size, 2.0, np.float32)
        multiplicity[0] = 1.0
        if size % 2 == 0:
            multiplicity[-1] = 1.0
        self.multiplicity = multiplicity

    def spectra(self, stack: np.ndarray) -> np.ndarray:
        """Whitened transforms of a stack of subsets (mean removed, Hann-windowed)."""
        stack -= stack.mean(axis=(1, 2), keepdims=True)
        stack *= self.window
        return _whiten(scipy.fft.rfft2(stack, workers=WORKERS), self.whitening)

    def shifts(self, first: np.ndarray, second: np.ndarray, search: int) -> tuple[np.ndarray, np.ndarray]:
        """Shift (n, 2) px of each ``second`` subset's content relative to ``first``'s (within ``search`` px),
        and each peak-to-noise ratio (n,). Both are stacks of :meth:`spectra`."""
        cross = second * np.conj(first)
        cross *= self.filter
        surface = scipy.fft.irfft2(cross, s=(self.size, self.size), workers=WORKERS)
        n = surface.shape[0]
        lags = np.abs(scipy.fft.fftfreq(self.size, 1 / self.size))
        allowed = (lags[:, None] <= search) & (lags[None, :] <= search)
        masked = np.where(allowed[None], surface, -np.inf).reshape(n, -1)
        index = np.argmax(masked, axis=1)
        peak_y, peak_x = np.divmod(index, self.size)
        flat = surface.reshape(n, -1)
        sample = flat[:, ::3]  # a third of each surface is plenty for its median and spread
        centre = np.median(sample, axis=1)
        spread = 1.4826 * np.median(np.abs(sample - centre[:, None]), axis=1)
        peak = flat[np.arange(n), index]
        psr = np.where(spread > 0, (peak - centre) / np.maximum(spread, 1e-30), np.inf)
        start = np.column_stack([self._vertex(surface, peak_y, peak_x, 0),
                                 self._vertex(surface, peak_y, peak_x, 1)])
        wrapped = np.column_stack([np.where(peak_y > self.size // 2, peak_y - self.size, peak_y),
                                   np.where(peak_x > self.size // 2, peak_x - self.size, peak_x)])
        start = start + wrapped
        return self._newton(cross, start), psr

    def _vertex(self, surface: np.ndarray, peak_y: np.ndarray, peak_x: np.ndarray, axis: int) -> np.ndarray:
        n = np.arange(surface.shape[0])
        size = self.size
        if axis == 0:
            before = surface[n, (peak_y - 1) % size, peak_x]
            after = surface[n, (peak_y + 1) % size, peak_x]
        else:
            before = surface[n, peak_y, (peak_x - 1) % size]
            after = surface[n, peak_y, (peak_x + 1) % size]
        centre = surface[n, peak_y, peak_x]
        curvature = before - 2 * centre + after
        safe = np.where(curvature < 0, curvature, -1.0)
        return np.where(curvature < 0, np.clip(0.5 * (before - after) / safe, -0.5, 0.5), 0.0)

    def _newton(self, cross: np.ndarray, start: np.ndarray) -> np.ndarray:
        position = start.astype(np.float64).copy()
        ky, kx = self.ky, self.kx
        active = np.ones(len(position), bool)
        for _ in range(6):
            ey = np.exp(ky[None, :] * position[:, 0:1].astype(np.float32))  # (n, size)
            ex = np.exp(kx[None, :] * position[:, 1:2].astype(np.float32)) * self.multiplicity
            # Sums over x of R e^{i kx x} times 1, i kx, (i kx)^2, for every subset at once.
            basis = np.stack([ex, kx * ex, kx * kx * ex], axis=2)  # (n, kx, 3)
            rows = np.matmul(cross, basis)
            eyk = ey * ky
            g_y = np.einsum("ny,ny->n", eyk, rows[:, :, 0]).real
            g_x = np.einsum("ny,ny->n", ey, rows[:, :, 1]).real
            h_yy = np.einsum("ny,ny->n", eyk * ky, rows[:, :, 0]).real
            h_xy = np.einsum("ny,ny->n", eyk, rows[:, :, 1]).real
            h_xx = np.einsum("ny,ny->n", ey, rows[:, :, 2]).real
            det = h_yy * h_xx - h_xy**2
            concave = (h_yy < 0) & (det > 0) & active
            safe = np.where(concave, det, 1.0)
            step_y = np.where(concave, -(h_xx * g_y - h_xy * g_x) / safe, 0.0)
            step_x = np.where(concave, -(h_yy * g_x - h_xy * g_y) / safe, 0.0)
            length = np.hypot(step_y, step_x)
            scale = np.where(length > 0.5, 0.5 / np.maximum(length, 1e-12), 1.0)
            position[:, 0] += step_y * scale
            position[:, 1] += step_x * scale
            active &= concave & (length > 1e-4)
            if not active.any():
                break
        far = np.hypot(*(position - start).T) > 1.0
        position[far] = start[far]
        return position


def _outliers(field: np.ndarray) -> np.ndarray:
    """Cells whose vector disagrees with its eight neighbours (normalised median test on each component)."""
    _, cells_y, cells_x = field.shape
    padded = np.pad(field, ((0, 0), (1, 1), (1, 1)), constant_values=np.nan)
    neighbours = np.stack([padded[:, 1 + dy:1 + dy + cells_y, 1 + dx:1 + dx + cells_x]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], axis=1)
    enough = np.sum(np.isfinite(neighbours[0]), axis=0) >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods: judged below
        median = np.nanmedian(neighbours, axis=1)
        scatter = np.nanmedian(np.abs(neighbours - median[:, None]), axis=1)
    residual = np.abs(field - median) / (scatter + _MEDIAN_NOISE)
    return enough & np.any(residual > _MEDIAN_TEST, axis=0)


def _robust(field: np.ndarray, reach: int = 4) -> np.ndarray:
    """The field without vectors further than ``_GROSS`` px from the median of their (2 reach + 1)^2 cells."""
    span = 2 * reach + 1
    padded = np.pad(field, ((0, 0), (reach, reach), (reach, reach)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (span, span), axis=(1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods give NaN: rejected
        median = np.nanmedian(windows.reshape(*windows.shape[:3], -1), axis=-1)
    far = ~(np.hypot(*(field - median)) <= _GROSS)
    out = field.copy()
    out[:, far] = np.nan
    return out


def _smooth(field: np.ndarray, psr: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised Gaussian average (``sigma`` cells) of the valid vectors, weighted by peak-to-noise squared."""
    valid = np.isfinite(field).all(axis=0)
    weight = np.where(valid, np.minimum(psr, 1e6) ** 2, 0.0)
    total = scipy.ndimage.gaussian_filter(weight, sigma, mode="nearest", truncate=2.0)
    smoothed = np.stack([scipy.ndimage.gaussian_filter(np.where(valid, component, 0.0) * weight, sigma,
                                                       mode="nearest", truncate=2.0) for component in field])
    support = scipy.ndimage.gaussian_filter(valid.astype(float), sigma, mode="constant", truncate=2.0)
    enough = total > 0
    out = np.full_like(field, np.nan)
    out[:, enough] = smoothed[:, enough] / total[enough]
    return out, support


def displacement_field(first: np.ndarray, second: np.ndarray, *, grid: int = 64, subset: int | None = None,
                       shift: tuple[float, float] = (0.0, 0.0),
                       search: int | None = None) -> DisplacementField:
    """Displacement (px) of the material of every ``grid`` x ``grid`` cell from ``first`` to ``second``.

    ``shift`` (dy, dx) px is the global shift of ``second`` relative to ``first`` (from :func:`register`),
    used as the first integer pre-shift; ``subset`` px (default ``grid``, at least 32) is the side of the
    correlated square centred on each cell (wider than ``grid``: overlapping subsets, smoothed and refined as
    the module says); ``search`` px how far a subset may move beyond the pre-shift.
    """
    first = np.asarray(first)
    second = np.asarray(second)
    if first.ndim != 2 or first.shape != second.shape:
        raise RegistrationError(f"local displacement: both frames must be 2-D and of one shape, got "
                                f"{first.shape} and {second.shape}")
    if not (isinstance(grid, int) and grid >= 4):
        raise RegistrationError(f"local displacement: grid must be a whole number of pixels >= 4, "
                                f"got {grid!r}")
    size = subset or max(grid, 32)
    height, width = first.shape
    if size > min(height, width):
        raise RegistrationError(f"local displacement: subsets of {size} px do not fit a {width} x {height} "
                                f"px frame")
    for image, what in ((first, "first"), (second, "second")):
        if not math.isfinite(float(np.sum(image, dtype=np.float64))):
            raise RegistrationError(f"local displacement: the {what} frame holds NaN or infinite pixels")
    cells_y, cells_x = height // grid, width // grid
    rows = (np.arange(cells_y) + 0.5) * grid - 0.5
    columns = (np.arange(cells_x) + 0.5) * grid - 0.5
    centre_y, centre_x = np.meshgrid(rows, columns, indexing="ij")
    centre_y, centre_x = centre_y.ravel(), centre_x.ravel()
    tops = np.round(centre_y - (size - 1) / 2).astype(int)
    lefts = np.round(centre_x - (size - 1) / 2).astype(int)
    # Subsets near the border are clipped into the frame: measure them where they really are.
    tops_in = np.clip(tops, 0, height - size)
    lefts_in = np.clip(lefts, 0, width - size)
    # Overlapping subsets are averaged afterwards: less whitening keeps each one robust to noise.
    correlator = _SubsetCorrelator(size, whitening=0.5 if size > grid else 0.75)
    reach = search if search is not None else size // 4
    estimate = np.tile(np.asarray(shift, float), (tops.size, 1))
    reference = correlator.spectra(_subsets(first, tops_in, lefts_in, size))
    for _ in range(1 if size > grid else 2):  # fine grids: the warped pass below refines instead
        pre = np.round(estimate).astype(int)
        moved = _subsets(second, tops_in + pre[:, 0], lefts_in + pre[:, 1], size)
        # Where the pre-shifted subset hit the border it was clipped: account for where it really came from.
        actual = np.column_stack([np.clip(tops_in + pre[:, 0], 0, height - size) - tops_in,
                                  np.clip(lefts_in + pre[:, 1], 0, width - size) - lefts_in])
        residual, psr = correlator.shifts(reference, correlator.spectra(moved), reach)
        estimate = actual + residual
        reach = max(2, size // 8)
    field = estimate.T.reshape(2, cells_y, cells_x).copy()
    psr = psr.reshape(cells_y, cells_x)
    threshold = _FINE_PEAK_TO_NOISE if size > grid else _MIN_PEAK_TO_NOISE
    field[:, ~(psr >= threshold)] = np.nan
    field[:, _outliers(field)] = np.nan
    if size > grid:
        sigma = size / (_SMOOTHING * grid)
        coarse, support = _smooth(_robust(field), psr, sigma)
        # Subsets wider than the grid see the field vary across them: warp the second frame back by the
        # smooth field and measure only what is left (window deformation), so the gradient biases nothing.
        filled = np.where(np.isfinite(coarse), coarse, np.nanmedian(coarse, axis=(1, 2), keepdims=True)
                          if np.isfinite(coarse).any() else 0.0)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        dense = [scipy.ndimage.map_coordinates(component, [(yy - rows[0]) / grid, (xx - columns[0]) / grid],
                                               order=1, mode="nearest") for component in filled]
        warped = scipy.ndimage.map_coordinates(second.astype(np.float32), [yy + dense[0], xx + dense[1]],
                                               order=3, mode="reflect")
        moved = _subsets(warped, tops_in, lefts_in, size)
        residual, psr_after = correlator.shifts(reference, correlator.spectra(moved), max(2, size // 8))
        fine = filled + residual.T.reshape(2, cells_y, cells_x)
        fine[:, ~(psr_after.reshape(cells_y, cells_x) >= threshold)] = np.nan
        field, support = _smooth(_robust(fine), psr_after.reshape(cells_y, cells_x), sigma)
        field[:, support < _MIN_SUPPORT] = np.nan
    return DisplacementField(field=field, rows=rows, columns=columns, peak_to_noise=psr, spacing=grid)
