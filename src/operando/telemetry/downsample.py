"""Thin the electrochemical stream for live views: at most one point per ``interval`` s of experiment time."""

from __future__ import annotations

import math

import numpy as np


class Downsampler:
    """Keeps the first point of each new ``interval``-long bin of the timeline (0 keeps every point)."""

    def __init__(self, interval: float) -> None:
        if not (math.isfinite(interval) and interval >= 0):
            raise ValueError(f"downsampling interval must be zero or positive seconds, got {interval!r}")
        self.interval = float(interval)
        self._last_bin = -math.inf

    def select(self, t: np.ndarray) -> np.ndarray:
        """Indices of the points of ``t`` (s, increasing) that go out."""
        times = np.asarray(t, dtype=float)
        if self.interval == 0 or times.size == 0:
            return np.arange(times.size)
        bins = np.floor(times / self.interval)
        new = np.empty(times.size, dtype=bool)
        new[0] = bins[0] > self._last_bin
        new[1:] = bins[1:] > bins[:-1]
        new &= bins > self._last_bin
        chosen = np.flatnonzero(new)
        if chosen.size:
            self._last_bin = bins[chosen[-1]]
        return chosen
