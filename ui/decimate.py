"""Min/max envelope of a growing series, kept incrementally, so a live plot of a million points redraws from a
few ten thousand: each block of ``block`` points becomes its (min, max) pair, and only new blocks are computed
when points arrive. Zoomed in far enough, the plot takes the raw points instead (see ``EnvelopeCurve``)."""

from __future__ import annotations

import numpy as np


class Envelope:
    """Per-block minimum and maximum of y over x (x increasing), for the points seen so far."""

    def __init__(self, block: int = 64) -> None:
        if block < 2:
            raise ValueError(f"block must be at least 2 points, got {block}")
        self.block = block
        self._x = np.empty(0)
        self._low = np.empty(0)
        self._high = np.empty(0)
        self._covered = 0  # points summarised in complete blocks

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        """Catch up with ``x``, ``y`` (the whole series: earlier points unchanged, new ones at the end)."""
        if len(x) < self._covered:  # a new series: start again
            self.__init__(self.block)  # type: ignore[misc]
        complete = (len(x) // self.block) * self.block
        if complete > self._covered:
            new_y = y[self._covered:complete].reshape(-1, self.block)
            new_x = x[self._covered:complete].reshape(-1, self.block)
            self._x = np.concatenate([self._x, new_x.mean(axis=1)])
            # fmin/fmax skip NaN (a missing reading) without warning about all-NaN blocks
            self._low = np.concatenate([self._low, np.fmin.reduce(new_y, axis=1)])
            self._high = np.concatenate([self._high, np.fmax.reduce(new_y, axis=1)])
            self._covered = complete

    def curve(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw: each complete block as (x, min), (x, max), then the raw tail not yet in a block."""
        pairs_x = np.repeat(self._x, 2)
        pairs_y = np.column_stack([self._low, self._high]).ravel()
        return (np.concatenate([pairs_x, x[self._covered:]]), np.concatenate([pairs_y, y[self._covered:]]))

    @property
    def covered(self) -> int:
        return self._covered
