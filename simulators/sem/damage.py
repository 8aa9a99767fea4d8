"""Electron dose on the specimen and what it does: contamination that fades secondary-electron contrast.

Dose is kept on a grid over the scene in electrons per nm^2 (the unit beam-damage papers use). Scanning
spreads the probe current evenly over the field; a beam left unblanked on a frozen frame sits at the park
position (top left of the scan) and doses one spot. SE contrast fades as exp(-dose / fade_dose_se); the
backscatter (ESB) signal comes from deeper and fades ten times slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from operando.constants import ELEMENTARY_CHARGE


@dataclass(frozen=True)
class DamageSpec:
    """Dose response: e-/nm^2 that fade each detector's contrast to 1/e."""

    fade_dose_se: float = 1500.0
    fade_dose_inlens: float = 1200.0
    fade_dose_esb: float = 15000.0

    def fade_dose(self, detector: str) -> float:
        return {"SE2": self.fade_dose_se, "InLens": self.fade_dose_inlens}.get(detector, self.fade_dose_esb)


class DoseMap:
    """Cumulative dose (e-/nm^2) on a grid of ``cell`` m over ``extent`` (x_low, x_high, y_low, y_high)."""

    def __init__(self, extent: tuple[float, float, float, float], cell: float = 250e-9) -> None:
        self.extent = extent
        self.cell = cell
        x_low, x_high, y_low, y_high = extent
        self.dose = np.zeros(
            (int(math.ceil((y_high - y_low) / cell)), int(math.ceil((x_high - x_low) / cell)))
        )
        self.park_electrons = 0.0
        self.version = 0  # counts changes: a saved copy of the map is made again only when it changed

    def _cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        x_low, _, y_low, _ = self.extent
        return (
            x_low + (np.arange(self.dose.shape[1]) + 0.5) * self.cell,
            y_low + (np.arange(self.dose.shape[0]) + 0.5) * self.cell,
        )

    def add_field(self, electrons: float, corners: np.ndarray) -> None:
        """Spread ``electrons`` evenly over the scanned field with scene corners (4, 2), in order."""
        if electrons <= 0:
            return
        corners = np.asarray(corners, dtype=float)
        edge_u, edge_v = corners[1] - corners[0], corners[3] - corners[0]
        area_nm2 = abs(edge_u[0] * edge_v[1] - edge_u[1] * edge_v[0]) * 1e18
        xs, ys = self._cell_centres()
        columns = (xs >= corners[:, 0].min() - self.cell) & (xs <= corners[:, 0].max() + self.cell)
        rows = (ys >= corners[:, 1].min() - self.cell) & (ys <= corners[:, 1].max() + self.cell)
        if not columns.any() or not rows.any() or area_nm2 <= 0:
            return
        gx, gy = np.meshgrid(xs[columns], ys[rows])
        # Field coordinates (0..1, 0..1) of each cell centre: inside the parallelogram when both are in range.
        matrix = np.array([[edge_u[0], edge_v[0]], [edge_u[1], edge_v[1]]])
        local = np.linalg.solve(matrix, np.vstack([gx.ravel() - corners[0, 0], gy.ravel() - corners[0, 1]]))
        inside = ((local >= 0) & (local <= 1)).all(axis=0).reshape(gx.shape)
        block = self.dose[np.ix_(rows, columns)]
        block[inside] += electrons / area_nm2
        self.dose[np.ix_(rows, columns)] = block
        self.version += 1

    def add_spot(self, electrons: float, point: np.ndarray) -> None:
        """Deposit ``electrons`` at one scene ``point`` (the park position): all into the cell holding it."""
        x_low, _, y_low, _ = self.extent
        column = int(math.floor((point[0] - x_low) / self.cell))
        row = int(math.floor((point[1] - y_low) / self.cell))
        self.park_electrons += electrons
        self.version += 1
        if 0 <= row < self.dose.shape[0] and 0 <= column < self.dose.shape[1]:
            self.dose[row, column] += electrons / (self.cell * 1e9) ** 2

    def at(self, points: np.ndarray) -> np.ndarray:
        """Cumulative dose (e-/nm^2) at scene ``points`` (n, 2); zero outside the grid."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        x_low, _, y_low, _ = self.extent
        columns = np.floor((points[:, 0] - x_low) / self.cell).astype(int)
        rows = np.floor((points[:, 1] - y_low) / self.cell).astype(int)
        valid = (columns >= 0) & (rows >= 0) & (columns < self.dose.shape[1]) & (rows < self.dose.shape[0])
        out = np.zeros(len(points))
        out[valid] = self.dose[rows[valid], columns[valid]]
        return out

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Dose (e-/nm^2) at every pixel of scene coordinate images ``x``, ``y`` (nearest cell)."""
        x_low, _, y_low, _ = self.extent
        columns = np.clip(((x - x_low) / self.cell).astype(np.int32), 0, self.dose.shape[1] - 1)
        rows = np.clip(((y - y_low) / self.cell).astype(np.int32), 0, self.dose.shape[0] - 1)
        return self.dose.astype(np.float32)[rows, columns]


def electrons(current: float, seconds: float) -> float:
    """Number of electrons a probe current (A) delivers in ``seconds``."""
    return current * seconds / ELEMENTARY_CHARGE
