"""Specimen drift relative to the column: thermal settling, a steady linear drift and a seeded random walk.

Rates are given in nm/min as microscopists quote them; ``at(t)`` returns metres (x, y) in scene axes for
simulated seconds ``t`` since the microscope was switched on. A deterministic function of t for a given seed,
so the drift at a frame's mid-scan is ground truth however often it is queried.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_NM_PER_MIN = 1e-9 / 60.0


@dataclass
class DriftModel:
    """Drift (m) = thermal * (1 - exp(-t / thermal_time)) + linear * t + random walk."""

    seed: int = 0
    thermal_amplitude_nm: tuple[float, float] = (350.0, -220.0)
    thermal_time_min: float = 40.0
    linear_nm_per_min: tuple[float, float] = (1.5, 0.8)
    # Random-walk strength: standard deviation grows as this many nm per sqrt(minute).
    random_walk_nm_per_sqrt_min: float = 1.0
    # The walk is tabulated on this time step (s) and interpolated linearly between nodes.
    step: float = 10.0
    _walk: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng([self.seed, 0x0D21F7])
        self._walk = np.zeros((1, 2))

    def _extend(self, nodes: int) -> None:
        have = len(self._walk)
        if nodes <= have:
            return
        nodes = max(nodes, 2 * have)
        sigma = self.random_walk_nm_per_sqrt_min * 1e-9 * math.sqrt(self.step / 60.0)
        steps = self._rng.normal(0.0, sigma, size=(nodes - have, 2))
        self._walk = np.vstack([self._walk, self._walk[-1] + np.cumsum(steps, axis=0)])

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Drift (m) at simulated time(s) ``t`` (s): shape (2,) for a scalar, (n, 2) for an array."""
        times = np.atleast_1d(np.asarray(t, dtype=float))
        if np.any(times < 0):
            raise ValueError(f"drift is defined from t = 0 s on, got t = {times.min()} s")
        thermal = np.array(self.thermal_amplitude_nm) * 1e-9
        settling = 1.0 - np.exp(-times / (self.thermal_time_min * 60.0))
        linear = np.array(self.linear_nm_per_min) * _NM_PER_MIN
        position = times / self.step
        self._extend(int(position.max()) + 2)
        node = np.floor(position).astype(int)
        fraction = (position - node)[:, None]
        walk = self._walk[node] * (1 - fraction) + self._walk[node + 1] * fraction
        drift = settling[:, None] * thermal + times[:, None] * linear + walk
        return drift[0] if np.ndim(t) == 0 else drift
