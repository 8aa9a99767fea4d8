"""The simulated six-axis stage: asynchronous moves timed by the clock, settling creep and backlash.

Positions are x, y, z, m in metres and t, r in degrees, as GetStagePosition reports them. The reported
position is the commanded one (no encoders, like a stepper stage); the true position differs by the play of
the drive (backlash: after a reversal the sample only follows once the slack is taken up) and by a creep
that decays after every move. Tests read the true position as ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

AXES = ("x", "y", "z", "t", "r", "m")


@dataclass(frozen=True)
class StageLimits:
    """Travel of each axis (low, high): metres for x, y, z, m; degrees for t, r (Crossbeam-like)."""

    low: tuple[float, ...] = (0.0, 0.0, 0.0, -4.0, 0.0, 0.0)
    high: tuple[float, ...] = (0.153, 0.153, 0.05, 70.0, 360.0, 0.013)

    def contains(self, position: np.ndarray) -> bool:
        return bool(np.all(position >= np.array(self.low)) and np.all(position <= np.array(self.high)))


@dataclass
class StageModel:
    """Stage motion along a straight line in joint space, one move at a time."""

    position: np.ndarray = field(default_factory=lambda: np.array([0.0612, 0.0453, 0.0351, 54.0, 0.0, 0.0]))
    limits: StageLimits = field(default_factory=StageLimits)
    # Speeds per axis (m/s or deg/s) and a fixed start/stop overhead (s) for any move.
    speed: tuple[float, ...] = (1e-3, 1e-3, 0.5e-3, 2.0, 10.0, 0.2e-3)
    overhead: float = 0.3
    # Play of each drive (m or deg); positions are calibrated approaching in the + direction.
    backlash: tuple[float, ...] = (0.8e-6, 0.8e-6, 0.5e-6, 0.0, 0.0, 0.0)
    # After a move the sample creeps on by a fraction of the distance (capped), decaying with this time (s).
    creep_fraction: float = 2e-3
    creep_cap: float = 200e-9
    creep_time: float = 3.0

    def __post_init__(self) -> None:
        self.position = np.asarray(self.position, dtype=float)
        self._start = self.position.copy()
        self._target = self.position.copy()
        self._move_start = -math.inf
        self._move_end = -math.inf
        self._play = np.zeros(6)  # true minus commanded position, within [0, backlash]
        self._creep = np.zeros(6)  # creep still to come at the end of the last move
        self.stuck = False

    def move_duration(self, start: np.ndarray, target: np.ndarray) -> float:
        """Seconds a move from ``start`` to ``target`` keeps the stage busy (axes move together)."""
        distance = np.abs(np.asarray(target) - np.asarray(start))
        if not np.any(distance > 0):
            return 0.0
        return self.overhead + float(np.max(distance / np.array(self.speed)))

    def start_move(self, now: float, target: np.ndarray) -> None:
        """Begin a move at ``now`` from wherever the stage is to ``target`` (validated by the caller)."""
        start = self.reported(now)
        target = np.asarray(target, dtype=float)
        duration = self.move_duration(start, target)
        self._creep = np.sign(target - start) * np.minimum(
            self.creep_fraction * np.abs(target - start), self.creep_cap
        )
        # The play operator: the load stays put while the drive crosses the slack, then is pushed along.
        load = start + self._play
        self._play = np.clip(load - target, 0.0, np.array(self.backlash))
        self._start, self._target = start, target
        self._move_start, self._move_end = now, now + duration

    def abort(self, now: float) -> None:
        """Stop where the stage is now (CMD_STAGE_ABORT); clears a stuck move."""
        here = self.reported(now)
        self.stuck = False
        self._start = self._target = here
        self._creep = np.zeros(6)
        self._move_start = self._move_end = now

    def busy(self, now: float) -> bool:
        return self.stuck or now < self._move_end

    def reported(self, now: float) -> np.ndarray:
        """Position GetStagePosition reports: commanded, interpolated along the move while it runs."""
        if self.stuck and now >= self._move_end:
            # A stuck stage stopped short of its target and never reports arrival.
            return self._start + 0.5 * (self._target - self._start)
        if now >= self._move_end:
            return self._target.copy()
        if now <= self._move_start:
            return self._start.copy()
        fraction = (now - self._move_start) / (self._move_end - self._move_start)
        return self._start + fraction * (self._target - self._start)

    def true_position(self, now: float) -> np.ndarray:
        """Where the sample really is: reported position + play of the drive - creep still to come."""
        position = self.reported(now) + self._play
        if now >= self._move_end and not self.stuck:
            position = position - self._creep * math.exp(-(now - self._move_end) / self.creep_time)
        return position
