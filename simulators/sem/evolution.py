"""How the cross-section changes with the cell's state of charge: a delithiation front from the separator,
particle shrinkage, grain-boundary cracks, NMC/LPS decohesion and block-wise displacements, with history.

Global state of charge ``s`` is a fraction 0..1 of the charge capacity (the cell simulator's SOC). A
particle at normalised depth d (0 at the separator, 1 at the current collector) follows a local state of
charge ``l = s ** p(d)`` on charge, with p chosen so a particle touching the separator reaches the cracking
threshold at s = 0.76 (26 h in the thesis run) and one at the current collector only at s = 0.99 (end of
the hold, 44 h); on discharge it relithiates from the separator side first. Turning points are remembered,
so the path is continuous and hysteretic. Cracks and decohesion keep their history (they partly close, or
stay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scene import CrossSection


@dataclass(frozen=True)
class EvolutionSpec:
    """Calibration of the state-of-charge response (fractions unless noted)."""

    crack_threshold: float = 0.90
    # Global SOC at which the threshold is reached next to the separator and at the current collector.
    crack_soc_near: float = 0.76
    crack_soc_far: float = 0.99
    # Unit-cell volume change at full local delithiation (NMC622: about -4.4 % at 4.5 V).
    volume_change: float = -0.04
    # Share of its widest opening a crack keeps after relithiation.
    crack_residual: float = 0.4
    decohesion_gap: float = 40e-9
    decohesion_onset: float = 0.97
    # Electrode blocks: count and largest block displacement (m) at full charge.
    blocks: int = 6
    block_displacement: float = 300e-9
    block_size: float = 18e-6

    def exponent(self, depth: np.ndarray) -> np.ndarray:
        """p(d) for l = s ** p at normalised depth d."""
        near = math.log(self.crack_threshold) / math.log(self.crack_soc_near)
        far = math.log(self.crack_threshold) / math.log(self.crack_soc_far)
        return near * (far / near) ** np.clip(depth, 0.0, 1.0)


class Evolution:
    """State of every particle and electrode block as the global SOC is fed in, in time order."""

    def __init__(self, scene: CrossSection, spec: EvolutionSpec = EvolutionSpec(), seed: int = 0) -> None:  # noqa: B008
        self.scene = scene
        self.spec = spec
        depths = np.array([p.depth for p in scene.particles])
        self._exponent = spec.exponent(depths)
        self._crack_max = np.array([p.crack_width_max for p in scene.particles])
        n = len(depths)
        self.soc = 0.0
        self.local_soc = np.zeros(n)
        self._charging = True
        self._turn_soc = 0.0
        self._turn_local = np.zeros(n)
        self._crack_peak = np.zeros(n)
        self._gap = np.zeros(n)
        self._strain_peak = 0.0
        rng = np.random.default_rng([seed, scene.spec.seed, 0xB10C])
        spec_s = scene.spec
        self.block_centres = np.column_stack(
            [
                rng.uniform(spec_s.collector_x, spec_s.counter_x, spec.blocks),
                rng.uniform(-spec_s.face_half_height, spec_s.face_half_height, spec.blocks),
            ]
        )
        angles = rng.uniform(0, 2 * math.pi, spec.blocks)
        lengths = spec.block_displacement * rng.uniform(0.3, 1.0, spec.blocks)
        self.block_vectors = np.column_stack([np.cos(angles), np.sin(angles)]) * lengths[:, None]

    # --- feeding ------------------------------------------------------------------------------------
    def update(self, soc: float) -> None:
        """Advance to global state of charge ``soc`` (0..1), the next value in time."""
        if not (math.isfinite(soc) and -0.05 <= soc <= 1.05):
            raise ValueError(f"state of charge must be a fraction between 0 and 1, got {soc!r}")
        s = min(max(soc, 0.0), 1.0)
        tolerance = 1e-6
        if self._charging and s < self.soc - tolerance:
            self._charging, self._turn_soc, self._turn_local = False, self.soc, self.local_soc.copy()
        elif not self._charging and s > self.soc + tolerance:
            self._charging, self._turn_soc, self._turn_local = True, self.soc, self.local_soc.copy()
        p = self._exponent
        if self._charging:
            span = max(1.0 - self._turn_soc, 1e-12)
            progress = np.clip((s - self._turn_soc) / span, 0.0, 1.0)
            self.local_soc = self._turn_local + (1.0 - self._turn_local) * progress**p
        else:
            progress = np.clip(s / max(self._turn_soc, 1e-12), 0.0, 1.0)
            self.local_soc = self._turn_local * (1.0 - (1.0 - progress) ** p)
        self.soc = s
        opening = self._crack_max * self._opening(self.local_soc)
        self._crack_peak = np.maximum(self._crack_peak, opening)
        gap = self.spec.decohesion_gap * np.clip(
            (self.local_soc - self.spec.decohesion_onset) / (1.0 - self.spec.decohesion_onset), 0.0, 1.0
        )
        self._gap = np.maximum(self._gap, gap)
        self._strain_peak = max(self._strain_peak, self._mean_strain())

    def _opening(self, local: np.ndarray) -> np.ndarray:
        threshold = self.spec.crack_threshold
        return np.clip((local - threshold) / (1.0 - threshold), 0.0, 1.0)

    def _mean_strain(self) -> float:
        return float(np.mean(self.local_soc**2)) if len(self.local_soc) else 0.0

    # --- ground truth -------------------------------------------------------------------------------
    @property
    def crack_width(self) -> np.ndarray:
        """Crack opening (m) per particle: follows the local SOC, keeps a residual of its widest opening."""
        now = self._crack_max * self._opening(self.local_soc)
        return np.maximum(now, self.spec.crack_residual * self._crack_peak)

    @property
    def decohesion_gap(self) -> np.ndarray:
        """NMC/LPS gap (m) per particle; opens at the end of charge and stays."""
        return self._gap.copy()

    @property
    def radius_scale(self) -> np.ndarray:
        """Particle radius relative to the pristine one (volume change ~ local SOC squared)."""
        return (1.0 + self.spec.volume_change * self.local_soc**2) ** (1.0 / 3.0)

    def block_displacement(self, points: np.ndarray) -> np.ndarray:
        """Displacement (m) of the electrode at reference ``points`` (n, 2): a smooth blend of blocks moving
        in different directions, growing with the mean delithiation strain and keeping a third of its peak."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        amount = max(self._mean_strain(), self._strain_peak / 3.0)
        if amount == 0.0:
            return np.zeros_like(points)
        delta = points[:, None, :] - self.block_centres[None, :, :]
        weights = np.exp(-np.sum(delta**2, axis=2) / (2 * self.spec.block_size**2))
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
        return amount * weights @ self.block_vectors

    def particle_centres(self) -> np.ndarray:
        """Current particle centres (m): reference centres carried by the block displacement."""
        centres = self.scene.particle_centres
        return centres + self.block_displacement(centres)

    def displacement_at(self, points: np.ndarray) -> np.ndarray:
        """True displacement (m) of material at reference ``points`` (n, 2): block motion plus, inside a
        particle, its shrinkage towards its centre."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        displacement = self.block_displacement(points)
        centres = self.scene.particle_centres
        radii = self.scene.particle_radii
        distance = np.hypot(
            points[:, None, 0] - centres[None, :, 0], points[:, None, 1] - centres[None, :, 1]
        )
        inside = distance < radii[None, :]
        scale = self.radius_scale
        for point_index, particle_index in zip(*np.nonzero(inside), strict=True):
            displacement[point_index] += (points[point_index] - centres[particle_index]) * (
                scale[particle_index] - 1.0
            )
        return displacement
