"""Sub-pixel translation of an SEM frame against a reference, with a confidence that separates good from
failed registrations.

Both images are levelled (mean and plane removed, so brightness changes and intensity gradients drop out),
scaled to unit variance (contrast fade), tapered at the borders (new content entering, wrap-around) and
Fourier transformed; the reference's transform is computed once. The cross-power spectrum is partially
whitened (magnitudes to the power ``1 - whitening``), band-passed (low frequencies carry gradients, shading
and charging; the highest ones only noise) and the line of frequencies of curtaining stripes is suppressed.
The integer peak of the correlation is refined by Newton's method on the band-limited correlation evaluated
exactly from the spectrum (no upsampling grid, so no quantisation). Confidence comes from how far the peak
stands out of the correlation surface (peak-to-noise ratio) and how much it dominates the second-best peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from operando.errors import OperandoError

# Two cores on the acquisition PC; FFTs are the bulk of the work.
WORKERS = 2


class RegistrationError(OperandoError, ValueError):
    """Images that cannot be registered: wrong shape, mismatched size or pixel size, empty or constant."""


@dataclass(frozen=True)
class RegistrationSettings:
    """How images are compared. Frequencies in cycles per pixel of the (binned) working image."""

    low_cut: float = 0.004  # below: gradients, shading, brightness (high-pass, Gaussian shoulder)
    high_cut: float = 0.15  # above: mostly noise (low-pass, Gaussian roll-off)
    whitening: float = 0.75  # 0 plain cross-correlation (robust at low SNR) .. 1 phase correlation (sharp)
    stripe_angle: float | None = 0.0  # rad: direction of curtaining stripes in the image, 0 = vertical
    stripe_width: float = 2.0  # half-width, in frequency bins, of the suppressed line of stripe frequencies
    taper: float = 0.12  # fraction of each border tapered to zero (Tukey window)
    # Frames larger on their long side are binned 2x2 (or more) first: a 2048 x 1536 frame registers in a third
    # of the time (10-15 ms on two cores) to 0.005 px RMS at SNR 3 instead of 0.003 px; 2048 keeps them whole.
    max_working_size: int = 1024
    # Confidence: logistic in the peak-to-noise ratio (peak over the correlation's robust spread; the error
    # of the shift grows as its inverse: median 0.45 px at 16-18, unrelated frames and noise stay below 8) ...
    psr_mid: float = 18.0
    psr_scale: float = 1.5
    # ... times how clearly the peak beats the second-best one (ratio of their heights above the median):
    # 1 up to ``ambiguity_start``, falling to 0 at ``ambiguity_limit`` (periodic texture, two equal peaks).
    ambiguity_start: float = 0.5
    ambiguity_limit: float = 0.9
    # The correlation is cyclic: a jump of 70 % of the field peaks where one of -30 % would. Where the shift
    # found and its alias both leave at least this share of the field overlapping, the two are told apart by
    # correlating the overlaps directly (jumps up to 1 - alias_overlap of the field are found).
    alias_overlap: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.low_cut < self.high_cut <= 0.5:
            raise RegistrationError(
                f"RegistrationSettings: need 0 <= low_cut < high_cut <= 0.5 cycles/px, got low_cut "
                f"{self.low_cut!r}, high_cut {self.high_cut!r}")
        if not 0 <= self.whitening <= 1:
            raise RegistrationError(f"RegistrationSettings.whitening must be 0..1, got {self.whitening!r}")
        if not 0 <= self.taper < 0.5:
            raise RegistrationError(f"RegistrationSettings.taper must be 0..0.5, got {self.taper!r}")
        if not 0 < self.alias_overlap <= 0.5:
            raise RegistrationError(f"RegistrationSettings.alias_overlap must be in (0, 0.5], got "
                                    f"{self.alias_overlap!r}")


@dataclass(frozen=True)
class Registration:
    """Where a frame's content sits relative to the reference: ``shift`` (dy, dx) px such that
    ``scipy.ndimage.shift(reference, shift)`` approximates the frame; ``confidence`` 0..1; the peak-to-noise
    ratio and second-peak ratio behind it; ``pixel_size`` m when known (then ``shift_m`` is in metres)."""

    shift: tuple[float, float]
    confidence: float
    peak_to_noise: float
    second_peak_ratio: float
    pixel_size: float | None = None

    @property
    def shift_m(self) -> tuple[float, float] | None:
        """(dy, dx) m, or None without a pixel size."""
        if self.pixel_size is None:
            return None
        return (self.shift[0] * self.pixel_size, self.shift[1] * self.pixel_size)


def _check_image(image: object, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise RegistrationError(f"{what}: expected a 2-D image (rows, columns), got shape {array.shape}")
    if min(array.shape) < 16:
        raise RegistrationError(f"{what}: image of {array.shape[1]} x {array.shape[0]} px is too small to "
                                f"register (at least 16 x 16)")
    if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
        raise RegistrationError(f"{what}: expected real pixel values, got dtype {array.dtype}")
    return array


def _check_pixel_size(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and value > 0):
        raise RegistrationError(f"{what}: pixel size must be a positive length in m, got {value!r}")
    return float(value)


def _bin(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks (trailing rows/columns that do not fill a block dropped)."""
    if factor == 1:
        return image.astype(np.float32, copy=True)
    height, width = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    out = np.zeros((height // factor, width // factor), np.float32)
    for dy in range(factor):
        for dx in range(factor):
            out += image[dy:height:factor, dx:width:factor]
    out *= np.float32(1.0 / factor**2)
    return out


def _tukey(n: int, taper: float) -> np.ndarray:
    window = np.ones(n, np.float32)
    edge = int(round(taper * n))
    if edge > 0:
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(edge) + 0.5) / edge))
        window[:edge] = ramp
        window[n - edge:] = ramp[::-1]
    return window


class _Prepared:
    """One image levelled, normalised, windowed and transformed (what is cached for a reference)."""

    def __init__(self, image: np.ndarray, factor: int, window: np.ndarray, what: str) -> None:
        work = _bin(image, factor)
        height, width = work.shape
        # Least-squares plane (mean and gradient) removed with separable sums: rows and columns are centred.
        y = np.arange(height, dtype=np.float32) - np.float32((height - 1) / 2)
        x = np.arange(width, dtype=np.float32) - np.float32((width - 1) / 2)
        row_means = work.mean(axis=1)
        mean = float(row_means.mean())
        if not math.isfinite(mean):  # NaN and infinities survive binning and sums: checked once, here
            raise RegistrationError(f"{what}: image holds NaN or infinite pixels")
        column_means = work.mean(axis=0)
        slope_y = float(y @ row_means / (y @ y))
        slope_x = float(x @ column_means / (x @ x))
        work -= (np.float32(mean) + np.float32(slope_y) * y)[:, None]
        work -= (np.float32(slope_x) * x)[None, :]
        self.levelled = work  # kept unwindowed: overlaps are compared directly to tell a jump from its alias
        windowed = work * window
        spread = float(np.sqrt(np.mean(windowed * windowed, dtype=np.float64)))
        if not spread > 1e-6 * max(abs(mean), 1e-12):
            raise RegistrationError(f"{what}: the image is constant (no contrast to register on)")
        windowed *= np.float32(1.0 / spread)
        self.spectrum = scipy.fft.rfft2(windowed, workers=WORKERS)


def _whiten(spectrum: np.ndarray, power: float) -> np.ndarray:
    """``spectrum`` divided by its magnitude to ``power`` (0 .. 1), in place; square roots where possible."""
    if power == 0:
        return spectrum
    magnitude = np.abs(spectrum)
    magnitude += np.float32(1e-6 * float(magnitude.mean()) + 1e-30)
    if power == 1.0:
        divisor = magnitude
    elif power == 0.5:
        divisor = np.sqrt(magnitude, out=magnitude)
    elif power == 0.75:
        root = np.sqrt(magnitude)
        divisor = np.sqrt(root, out=magnitude)
        divisor *= root
    else:
        divisor = np.power(magnitude, np.float32(power), out=magnitude)
    spectrum /= divisor
    return spectrum


class Reference:
    """A reference frame prepared once (its transform and filter cached) to register many frames against.

    ``pixel_size`` (m), when given, must match the frames'. ``settings`` tune the filter and confidence.
    """

    def __init__(self, image: np.ndarray, pixel_size: float | None = None,
                 settings: RegistrationSettings | None = None) -> None:
        self.settings = settings or RegistrationSettings()
        array = _check_image(image, "reference")
        self.shape: tuple[int, int] = (int(array.shape[0]), int(array.shape[1]))
        self.pixel_size = _check_pixel_size(pixel_size, "reference")
        self.factor = max(1, math.ceil(max(self.shape) / self.settings.max_working_size))
        height, width = self.shape[0] // self.factor, self.shape[1] // self.factor
        self._size = (height, width)
        taper = self.settings.taper
        self._window = _tukey(height, taper)[:, None] * _tukey(width, taper)[None, :]
        prepared = _Prepared(array, self.factor, self._window, "reference")
        self._levelled = prepared.levelled
        self._ky = scipy.fft.fftfreq(height).astype(np.float64)
        self._kx = scipy.fft.rfftfreq(width).astype(np.float64)
        # Everything of the reference the cross-power needs: conjugate, whitened, band-passed, stored once.
        self._kernel = _whiten(np.conj(prepared.spectrum), self.settings.whitening)
        self._kernel *= self._band_pass(self.settings)
        # Hermitian half-plane: interior columns stand for themselves and their mirror image.
        multiplicity = np.full(self._kx.size, 2.0, np.float32)
        multiplicity[0] = 1.0
        if width % 2 == 0:
            multiplicity[-1] = 1.0
        self._multiplicity = multiplicity

    def _band_pass(self, s: RegistrationSettings) -> np.ndarray:
        ky, kx = self._ky[:, None], self._kx[None, :]
        radius2 = ky**2 + kx**2
        weight = np.exp(-radius2 / s.high_cut**2)
        if s.low_cut > 0:
            weight *= 1 - np.exp(-radius2 / s.low_cut**2)
        if s.stripe_angle is not None:
            # Stripes running along unit vector (sy, sx) put their energy where k . s = 0.
            along = math.cos(s.stripe_angle) * ky + math.sin(s.stripe_angle) * kx
            bin_width = s.stripe_width / min(self._size)
            weight *= 1 - np.exp(-(along**2) / bin_width**2)
        return weight.astype(np.float32)

    def register(self, frame: np.ndarray, pixel_size: float | None = None,
                 max_shift: float | None = None) -> Registration:
        """Register ``frame`` (same shape and pixel size) against this reference; ``max_shift`` px limits the
        search (None: up to half the field)."""
        array = _check_image(frame, "frame")
        if tuple(array.shape) != self.shape:
            raise RegistrationError(
                f"frame: shape {array.shape[1]} x {array.shape[0]} px differs from the reference's "
                f"{self.shape[1]} x {self.shape[0]} px")
        pixel_size = _check_pixel_size(pixel_size, "frame")
        if pixel_size is not None and self.pixel_size is not None and not math.isclose(
                pixel_size, self.pixel_size, rel_tol=1e-6):
            raise RegistrationError(
                f"frame: pixel size {pixel_size * 1e9:.4g} nm differs from the reference's "
                f"{self.pixel_size * 1e9:.4g} nm; register frames taken at the same pixel size")
        prepared = _Prepared(array, self.factor, self._window, "frame")
        return self._register(prepared, pixel_size or self.pixel_size, max_shift)

    def _register(self, frame: _Prepared, pixel_size: float | None, max_shift: float | None) -> Registration:
        cross = _whiten(frame.spectrum, self.settings.whitening)
        cross *= self._kernel
        coarse, step = self._coarse_surface(cross)
        peak_y, peak_x, psr, ratio = self._peak(coarse, step, max_shift)
        dy, dx = self._refine(cross, coarse, step, peak_y, peak_x)
        dy, dx = self._unalias(frame.levelled, dy, dx, max_shift)
        confidence = self._confidence(psr, ratio)
        return Registration(shift=(dy * self.factor, dx * self.factor), confidence=confidence,
                            peak_to_noise=psr, second_peak_ratio=ratio, pixel_size=pixel_size)

    def _coarse_surface(self, cross: np.ndarray) -> tuple[np.ndarray, int]:
        """The correlation sampled every ``step`` px from the lower frequencies only (a quarter of the work of
        the full inverse transform); the exact maximum is found from the whole spectrum afterwards."""
        height, width = self._size
        step = 2 if min(height, width) >= 128 else 1
        if step == 1:
            return scipy.fft.irfft2(cross, s=self._size, workers=WORKERS), 1
        rows, columns = height // step, width // step
        half = rows // 2
        kept = columns // 2 + 1
        low = np.concatenate([cross[: rows - half, :kept], cross[height - half:, :kept]])
        return scipy.fft.irfft2(low, s=(rows, columns), workers=WORKERS), step

    def _peak(self, surface: np.ndarray, step: int, max_shift: float | None) -> tuple[int, int, float, float]:
        height, width = surface.shape
        if max_shift is None:
            search = surface.copy()
        else:
            limit = max_shift / self.factor / step
            dy = np.abs(scipy.fft.fftfreq(height, 1 / height))[:, None]
            dx = np.abs(scipy.fft.fftfreq(width, 1 / width))[None, :]
            search = np.where((dy <= limit + 0.5) & (dx <= limit + 0.5), surface, -np.inf)
        index = int(np.argmax(search))
        peak_y, peak_x = divmod(index, width)
        peak = float(surface[peak_y, peak_x])
        # Robust centre and spread of the surface (a sample of it; the peak barely counts).
        sample = surface.ravel()[:: max(1, surface.size // 20000)]
        centre = float(np.median(sample))
        spread = 1.4826 * float(np.median(np.abs(sample - centre)))
        psr = (peak - centre) / spread if spread > 0 else math.inf
        # Second peak: best value outside the main peak's neighbourhood (radius ~ two correlation widths).
        radius = max(2, int(math.ceil(2.0 / self.settings.high_cut / step)))
        rows = (np.arange(peak_y - radius, peak_y + radius + 1) % height)[:, None]
        columns = (np.arange(peak_x - radius, peak_x + radius + 1) % width)[None, :]
        search[rows, columns] = -np.inf
        second = float(np.max(search))
        ratio = (second - centre) / (peak - centre) if peak > centre else 1.0
        return peak_y, peak_x, psr, float(min(max(ratio, 0.0), 1.0))

    def _refine(self, cross: np.ndarray, surface: np.ndarray, step: int, peak_y: int,
                peak_x: int) -> tuple[float, float]:
        """Sub-pixel maximum of the band-limited correlation: parabola through the coarse peak, then Newton
        steps on the correlation computed exactly from the whole spectrum."""
        height, width = surface.shape
        centre = surface[peak_y, peak_x]
        up, down = surface[(peak_y - 1) % height, peak_x], surface[(peak_y + 1) % height, peak_x]
        left, right = surface[peak_y, (peak_x - 1) % width], surface[peak_y, (peak_x + 1) % width]
        y0 = peak_y - height if peak_y > height // 2 else peak_y
        x0 = peak_x - width if peak_x > width // 2 else peak_x
        start = step * np.array([y0 + _vertex(up, centre, down), x0 + _vertex(left, centre, right)], float)
        ky = (2j * np.pi * self._ky).astype(np.complex64)
        kx = (2j * np.pi * self._kx).astype(np.complex64)
        position = start.copy()
        for _ in range(8):
            ey = np.exp(ky * np.float32(position[0]))
            # Columns of the half-plane stand for their mirror images too (multiplicity 2).
            ex = np.exp(kx * np.float32(position[1])) * self._multiplicity
            # One pass over the spectrum: sums over x of R e^{i kx x} times 1, i kx, (i kx)^2.
            rows = cross @ np.stack([ex, kx * ex, kx * kx * ex], axis=1)
            eyk = ey * ky
            gradient = np.array([eyk @ rows[:, 0], ey @ rows[:, 1]]).real
            hessian = np.array([[(eyk * ky) @ rows[:, 0], eyk @ rows[:, 1]],
                                [eyk @ rows[:, 1], ey @ rows[:, 2]]]).real
            if not (hessian[0, 0] < 0 and np.linalg.det(hessian) > 0):
                break  # not at a concave maximum: keep what we have
            move = -np.linalg.solve(hessian, gradient)
            if not np.all(np.isfinite(move)):
                break
            length = float(np.hypot(*move))
            if length > 0.5 * step:
                move *= 0.5 * step / length  # a damped step: never jump out of the peak
            position = position + move
            if length < 1e-4:
                break
        if np.hypot(*(position - start)) > 1.5 * step:
            position = start
        return float(position[0]), float(position[1])

    def _unalias(self, frame: np.ndarray, dy: float, dx: float,
                 max_shift: float | None) -> tuple[float, float]:
        """The shift or its alias a whole field away (the cyclic correlation cannot tell them apart), the one
        whose overlap of frame and reference correlates best; only where both overlaps are large enough (and
        the alias within ``max_shift`` px)."""
        height, width = self._size
        minimum = self.settings.alias_overlap
        reach = math.inf if max_shift is None else max_shift / self.factor

        def alias(d: float, size: int) -> list[float]:
            other = d - math.copysign(size, d)
            return [other] if abs(d) >= minimum * size and abs(other) <= reach else []

        along_y, along_x = [dy, *alias(dy, height)], [dx, *alias(dx, width)]
        if len(along_y) == len(along_x) == 1:
            return dy, dx
        scores = {(y, x): _overlap_correlation(self._levelled, frame, round(y), round(x))
                  for y in along_y for x in along_x}
        return max(scores, key=scores.__getitem__)

    def _confidence(self, psr: float, ratio: float) -> float:
        s = self.settings
        if not math.isfinite(psr):
            return 0.0
        strength = 1.0 / (1.0 + math.exp(-(psr - s.psr_mid) / s.psr_scale))
        distinct = min(max((s.ambiguity_limit - ratio) / (s.ambiguity_limit - s.ambiguity_start), 0.0), 1.0)
        return float(strength * distinct)


def _overlap_correlation(reference: np.ndarray, frame: np.ndarray, dy: int, dx: int) -> float:
    """Normalised correlation of the part of ``frame`` whose content moved by (dy, dx) px from ``reference``
    with the reference under it (-1..1; -1 where they do not overlap)."""
    height, width = reference.shape
    if abs(dy) >= height or abs(dx) >= width:
        return -1.0
    ref = reference[max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)]
    moved = frame[max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx)]
    a = ref - np.float32(ref.mean())
    b = moved - np.float32(moved.mean())
    norm = math.sqrt(float(np.vdot(a, a)) * float(np.vdot(b, b)))
    return float(np.vdot(a, b)) / norm if norm > 0 else -1.0


def _vertex(before: float, centre: float, after: float) -> float:
    """Offset (-0.5..0.5) of the vertex of the parabola through three equally spaced values."""
    curvature = before - 2 * centre + after
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5))


def register(reference: np.ndarray, frame: np.ndarray, *, pixel_size: float | None = None,
             frame_pixel_size: float | None = None, max_shift: float | None = None,
             settings: RegistrationSettings | None = None) -> Registration:
    """Sub-pixel shift (dy, dx) px of ``frame``'s content relative to ``reference`` and its confidence.

    ``scipy.ndimage.shift(reference, result.shift)`` approximates ``frame``. Pixel sizes (m) are checked
    when given; ``max_shift`` (px) limits the search. To register many frames against one reference, make a
    :class:`Reference` once (its transform is cached).
    """
    prepared = Reference(reference, pixel_size, settings)
    return prepared.register(frame, frame_pixel_size if frame_pixel_size is not None else pixel_size,
                             max_shift)
