"""Drift position and velocity of a region from its registrations: a constant-velocity Kalman filter per axis.

Frames come irregularly (every minute, or hours apart when imaging follows the state of charge), so the
filter's process noise grows with the gap: a random walk of the position (the specimen's Brownian drift) and
of the velocity (thermal settling changing the rate). A residual far beyond its uncertainty and beyond
``jump`` metres is a jump (stage slip, a stage move's backlash): the position restarts at the measurement and
the velocity is kept.
"""

from __future__ import annotations

import math

import numpy as np


class DriftEstimator:
    """Drift (m, two image axes) and its velocity (m/s) at the time of the last measurement."""

    def __init__(self, position_noise: float, velocity_noise: float, jump: float) -> None:
        self.position_noise = position_noise
        self.velocity_noise = velocity_noise
        self.jump = jump
        self.t: float | None = None
        self.state = np.zeros((2, 2))  # per axis: position, velocity
        self.covariance = np.zeros((2, 2, 2))
        self.measurements = 0

    def _propagate(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        transition = np.array([[1.0, dt], [0.0, 1.0]])
        q = self.velocity_noise
        noise = np.array([[q * dt**3 / 3 + self.position_noise * dt, q * dt**2 / 2], [q * dt**2 / 2, q * dt]])
        state = self.state @ transition.T
        covariance = np.array([transition @ c @ transition.T + noise for c in self.covariance])
        return state, covariance

    def predict(self, t: float) -> np.ndarray:
        """Drift (m, 2) expected at time ``t`` (s); zero before any measurement."""
        if self.t is None:
            return np.zeros(2)
        state, _ = self._propagate(max(t - self.t, 0.0))
        return state[:, 0].copy()

    @property
    def velocity(self) -> np.ndarray:
        """Drift velocity (m/s, 2) at the last measurement."""
        return self.state[:, 1].copy()

    def update(self, t: float, drift: np.ndarray, sigma: float) -> bool:
        """Add the drift ``drift`` (m, 2) measured at ``t`` (s) with uncertainty ``sigma`` (m); True if it was
        taken as a jump."""
        drift = np.asarray(drift, float)
        variance = sigma**2
        if self.t is None:
            self.t = t
            self.state = np.column_stack([drift, np.zeros(2)])
            # Unknown velocity: a generous prior (1 um/min) that the next measurements pin down.
            self.covariance = np.array([np.diag([variance, (1e-6 / 60) ** 2])] * 2)
            self.measurements = 1
            return False
        dt = max(t - self.t, 0.0)
        state, covariance = self._propagate(dt)
        residual = drift - state[:, 0]
        spread = np.sqrt(covariance[:, 0, 0] + variance)
        jumped = bool(np.any((np.abs(residual) > 6 * spread) & (np.abs(residual) > self.jump)))
        # A residual far beyond its spread but short of a jump: the drift rate changed (a thermal transient,
        # the holder starting to creep). Widen the velocity's uncertainty by what the residual implies had
        # the change happened at the last measurement, so this and the next measurements re-learn it at once
        # instead of over tens of frames.
        manoeuvre = (np.abs(residual) > 6 * spread) & (not jumped)
        if np.any(manoeuvre) and dt > 0:
            previous = self.covariance.copy()
            previous[manoeuvre, 1, 1] += (residual[manoeuvre] / dt) ** 2
            self.covariance = previous
            state, covariance = self._propagate(dt)
        self.t = t
        if jumped:
            state[:, 0] = drift
            covariance[:, 0, 0] = variance
            covariance[:, 0, 1] = covariance[:, 1, 0] = 0.0
            self.state, self.covariance = state, covariance
            self.measurements += 1
            return True
        for axis in range(2):
            c = covariance[axis]
            gain = c[:, 0] / (c[0, 0] + variance)
            state[axis] = state[axis] + gain * residual[axis]
            covariance[axis] = c - np.outer(gain, c[0, :])
        self.state, self.covariance = state, covariance
        self.measurements += 1
        return False

    def restart_position(self) -> None:
        """The next measurement re-anchors the position (after a stage move whose accuracy is unknown)."""
        if self.t is not None:
            self.covariance[:, 0, 0] = 1.0  # 1 m^2: any offset is believed
            self.covariance[:, 0, 1] = self.covariance[:, 1, 0] = 0.0

    def uncertainty(self, t: float) -> float:
        """Standard deviation (m) of the predicted position at ``t``, largest axis; inf before any data."""
        if self.t is None:
            return math.inf
        _, covariance = self._propagate(max(t - self.t, 0.0))
        return float(math.sqrt(max(covariance[:, 0, 0].max(), 0.0)))
