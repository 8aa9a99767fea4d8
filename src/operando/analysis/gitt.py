"""GITT: per-pulse chemical diffusion coefficient by the Weppner-Huggins short-time relation.

    D = 4 / (pi tau) * (V / S)^2 * (dE_s / dE_t)^2,   V / S = r / 3 for spherical particles of radius r,

with tau the pulse length, dE_s the change of the relaxed (steady-state) voltage from the rest before the
pulse to the rest after it, and dE_t the transient change during the pulse without the IR drop. dE_t is the
initial slope of E against sqrt(t - pulse start) times sqrt(tau) (the semi-infinite transient is linear in
sqrt(t)), so the ohmic and fast interfacial jumps, constant after their first moments, drop out.
The relation holds only for tau << r^2 / D and a transient linear in sqrt(t); each pulse reports both checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GittPulse:
    """One current pulse and its rest, analysed. Times in s (data clock), voltages in V, currents in A."""

    index: int  # 0-based pulse number
    start: float  # s, first point of the pulse
    end: float  # s, end of the pulse (first point of the rest)
    rest_end: float  # s, last point of the rest that follows
    mid_time: float  # s, middle of the pulse
    duration: float  # s, tau
    current: float  # A, mean over the pulse
    charge: float  # C, passed from the start of the data to the middle of the pulse
    soc: float | None  # state of charge at mid-pulse (only when a capacity is given)
    ir_drop: float  # V, jump at the pulse start (first pulse point minus last rest point)
    steady_state_change: float  # V, dE_s
    transient_change: float  # V, dE_t (sqrt(t) fit, IR drop excluded)
    diffusion_coefficient: float  # m^2/s; nan if the voltage changes could not be measured
    sqrt_time_r_squared: float  # coefficient of determination of the E vs sqrt(t) fit
    dimensionless_time: float  # D tau / r^2 (sphere radius r, or film V/S); the relation needs it << 1
    rest_drift: float  # V/s, slope of E over the last fifth of the rest (0 when fully relaxed)
    valid: bool
    problems: tuple[str, ...]  # why the estimate is not trusted; empty when valid


def find_pulses(time: np.ndarray, current: np.ndarray,
                threshold: float | None = None) -> list[tuple[int, int]]:
    """Index ranges [start, end) of the current pulses: runs where |I| exceeds ``threshold`` (A).

    The default threshold is a fifth of the largest |I|, well above a potentiostat's noise at rest.
    """
    magnitude = np.abs(np.asarray(current, dtype=float))
    if threshold is None:
        threshold = 0.2 * float(magnitude.max()) if magnitude.size else 0.0
    if not threshold > 0:
        return []
    on = np.concatenate(([False], magnitude > threshold, [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def analyse_gitt(
    time: Sequence[float] | np.ndarray,
    voltage: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    particle_radius: float | None = None,
    volume_to_surface: float | None = None,
    pulses: Sequence[tuple[float, float]] | None = None,
    current_threshold: float | None = None,
    capacity: float | None = None,
    initial_soc: float = 0.0,
    fit_window: tuple[float, float] = (0.02, 0.3),
    max_dimensionless_time: float = 0.1,
    min_r_squared: float = 0.98,
) -> list[GittPulse]:
    """Analyse every pulse of a GITT record.

    ``time`` (s), ``voltage`` (V), ``current`` (A) are the measured arrays. Geometry: ``particle_radius``
    (m, spheres: V/S = r/3) or ``volume_to_surface`` (m, n_m V_m / S of the electrode). ``pulses`` optionally
    gives (start, end) times in s; otherwise pulses are where |I| exceeds ``current_threshold`` (A).
    ``capacity`` (C) and ``initial_soc`` give each pulse its SOC. ``fit_window`` is the part of the pulse, as
    fractions of tau, fitted against sqrt(t).
    """
    t, e, i = _validated_arrays(time, voltage, current)
    length = _length_scale(particle_radius, volume_to_surface)
    # Diffusion has to stay far from the particle centre (sphere: r) or the film's far side (film: V/S).
    diffusion_length = particle_radius if particle_radius is not None else length
    low, high = fit_window
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(
            f"fit_window: must be fractions 0 <= start < end <= 1 of the pulse, got {fit_window!r}"
        )
    if capacity is not None and not (math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"capacity: must be a positive charge in C, got {capacity!r}")
    if not math.isfinite(initial_soc):
        raise ValueError(f"initial_soc: must be a finite fraction of capacity, got {initial_soc!r}")
    if pulses is not None:
        ranges = _pulse_ranges(t, pulses)
    else:
        ranges = [(a, b, *_pulse_times(t, a, b)) for a, b in find_pulses(t, i, current_threshold)]
    # Each point's current flowed over the interval that point closes.
    cumulative = np.concatenate(([0.0], np.cumsum(i[1:] * np.diff(t))))
    results = []
    for number, (start, end, t_start, t_end) in enumerate(ranges):
        rest_end = ranges[number + 1][0] if number + 1 < len(ranges) else len(t)
        results.append(_analyse_pulse(
            number, t, e, i, cumulative, (start, end, rest_end), (t_start, t_end), (length, diffusion_length),
            capacity, initial_soc, (low, high), max_dimensionless_time, min_r_squared))
    return results


def _analyse_pulse(number: int, t: np.ndarray, e: np.ndarray, i: np.ndarray, cumulative: np.ndarray,
                   indices: tuple[int, int, int], times: tuple[float, float], lengths: tuple[float, float],
                   capacity: float | None, initial_soc: float, window: tuple[float, float],
                   max_dimensionless_time: float, min_r_squared: float) -> GittPulse:
    start, end, rest_end = indices
    t_start, t_end = times
    length, diffusion_length = lengths
    problems: list[str] = []
    tau = t_end - t_start
    mean_current = float(np.mean(i[start:end]))
    mid = t_start + 0.5 * tau
    charge = float(np.interp(mid, t, cumulative))
    soc = initial_soc + charge / capacity if capacity is not None else None

    before = float(e[start - 1]) if start > 0 else math.nan
    after = float(e[rest_end - 1]) if rest_end - 1 >= end else math.nan
    if start == 0:
        problems.append("no rest before the pulse")
    if rest_end - 1 < end:
        problems.append("no rest after the pulse")
    steady = after - before
    ir_drop = float(e[start]) - before

    elapsed = t[start:end] - t_start
    chosen = (elapsed >= window[0] * tau) & (elapsed <= window[1] * tau)
    slope, r_squared = _transient_fit(np.sqrt(elapsed[chosen]), e[start:end][chosen])
    transient = slope * math.sqrt(tau) if tau > 0 else math.nan
    if not np.isfinite(slope):
        problems.append("too few points in the pulse to fit E against sqrt(t)")
    elif r_squared < min_r_squared:
        problems.append(f"E is not linear in sqrt(t) (R^2 {r_squared:.3f} < {min_r_squared})")

    rest_drift = _rest_drift(t, e, end, rest_end)
    if math.isfinite(rest_drift) and math.isfinite(steady):
        rest_length = float(t[rest_end - 1] - t[end - 1])
        if abs(rest_drift) * rest_length > 0.1 * abs(steady):
            problems.append("voltage still relaxing at the end of the rest")

    if math.isfinite(steady) and math.isfinite(transient) and transient != 0 and tau > 0:
        diffusion = 4.0 / (math.pi * tau) * length**2 * (steady / transient) ** 2
        if steady * transient < 0:
            problems.append("steady-state and transient voltage changes have opposite signs")
    else:
        diffusion = math.nan
        problems.append("voltage changes could not be measured")
    dimensionless = diffusion * tau / diffusion_length**2 if math.isfinite(diffusion) else math.nan
    if math.isfinite(dimensionless) and dimensionless > max_dimensionless_time:
        problems.append(f"pulse too long for the short-time relation (D tau / r^2 = {dimensionless:.3g} "
                        f"> {max_dimensionless_time})")
    return GittPulse(index=number, start=t_start, end=t_end, rest_end=float(t[rest_end - 1]), mid_time=mid,
                     duration=tau, current=mean_current, charge=charge, soc=soc, ir_drop=ir_drop,
                     steady_state_change=steady, transient_change=transient, diffusion_coefficient=diffusion,
                     sqrt_time_r_squared=r_squared, dimensionless_time=dimensionless, rest_drift=rest_drift,
                     valid=not problems, problems=tuple(problems))


def _transient_fit(root_time: np.ndarray, voltage: np.ndarray) -> tuple[float, float]:
    """Initial slope dE/dsqrt(t) (V/s^0.5) and the R^2 of a straight line E vs sqrt(t); nan if under 5 points.

    The slope is the b of E = a + b sqrt(t) + c t: for a finite particle and a curved OCV the surface
    transient is 2 j sqrt(t / pi D) + j t / r + ... (Crank 6.3), so the t term takes the finite-size and
    curvature corrections and b stays the semi-infinite slope the relation assumes.
    """
    if root_time.size < 5:
        return math.nan, math.nan
    _, slope, _ = np.polynomial.polynomial.polyfit(root_time, voltage, 2)
    line = np.polynomial.polynomial.polyfit(root_time, voltage, 1)
    residual = voltage - np.polynomial.polynomial.polyval(root_time, line)
    spread = float(np.sum((voltage - voltage.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else 0.0
    return float(slope), r_squared


def _rest_drift(t: np.ndarray, e: np.ndarray, end: int, rest_end: int) -> float:
    """Slope (V/s) of the voltage over the last fifth of the rest."""
    if rest_end - end < 5:
        return math.nan
    t_rest, e_rest = t[end:rest_end], e[end:rest_end]
    tail = t_rest >= t_rest[0] + 0.8 * (t_rest[-1] - t_rest[0])
    if np.count_nonzero(tail) < 3:
        return math.nan
    return float(np.polyfit(t_rest[tail], e_rest[tail], 1)[0])


def _pulse_times(t: np.ndarray, start: int, end: int) -> tuple[float, float]:
    """Start and end (s) of the pulse whose points are t[start:end], each point closing its sampling interval.

    Whether a recorder stamps a point at the start or the end of its interval, the pulse's points span its
    length less one of its own sampling intervals, so the length is exact either way.
    """
    interval = float(np.median(np.diff(t[start:end]))) if end - start > 1 else (
        float(t[start] - t[start - 1]) if start > 0 else 0.0)
    return float(t[start]) - interval, float(t[end - 1])


def _pulse_ranges(t: np.ndarray,
                  pulses: Sequence[tuple[float, float]]) -> list[tuple[int, int, float, float]]:
    ranges = []
    previous_end = -math.inf
    for number, bounds in enumerate(pulses):
        start, end = (float(b) for b in bounds)
        if not (math.isfinite(start) and math.isfinite(end) and previous_end <= start < end):
            raise ValueError(f"pulses[{number}]: need increasing, non-overlapping (start, end) in s, "
                             f"got {bounds!r}")
        # Points in (start, end]: each point closes its sampling interval.
        a, b = int(np.searchsorted(t, start, side="right")), int(np.searchsorted(t, end, side="right"))
        if b - a < 1:
            raise ValueError(f"pulses[{number}]: no data points between {start} s and {end} s")
        ranges.append((a, b, start, end))
        previous_end = end
    return ranges


def _length_scale(particle_radius: float | None, volume_to_surface: float | None) -> float:
    if (particle_radius is None) == (volume_to_surface is None):
        raise ValueError("give exactly one of particle_radius (m) or volume_to_surface (m)")
    if particle_radius is not None:
        if not (math.isfinite(particle_radius) and particle_radius > 0):
            raise ValueError(f"particle_radius: must be a positive length in m, got {particle_radius!r}")
        return particle_radius / 3.0
    assert volume_to_surface is not None
    if not (math.isfinite(volume_to_surface) and volume_to_surface > 0):
        raise ValueError(f"volume_to_surface: must be a positive length in m, got {volume_to_surface!r}")
    return volume_to_surface


def _validated_arrays(*arrays: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names = ("time", "voltage", "current")
    converted = []
    for name, values in zip(names, arrays, strict=True):
        array = np.asarray(values, dtype=float)
        if array.ndim != 1:
            raise ValueError(f"{name}: must be one-dimensional, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            where = int(np.argmin(np.isfinite(array)))
            raise ValueError(f"{name}: contains a non-finite value at index {where}: {array[where]!r}")
        converted.append(array)
    t, e, i = converted
    if not (len(t) == len(e) == len(i)):
        raise ValueError(f"time, voltage, current: lengths differ ({len(t)}, {len(e)}, {len(i)})")
    if len(t) < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("time: must hold at least two strictly increasing values")
    return t, e, i
