"""Solid-state diffusion in a spherical particle under a surface flux: eigenmodes, exact transfer function.

For a sphere of radius r charged by a current I (SOC units: capacity Q), the surface SOC is
    soc_surface(s) = soc_mean(s) + (2 I / 3 Q) * sum_n 1 / (s + k_n),   k_n = lambda_n^2 D / r^2,
with lambda_n the positive roots of tan(lambda) = lambda (Crank, The Mathematics of Diffusion, 6.3).
The sum of 1/lambda_n^2 is 1/10, so under a steady current the surface leads the mean by r^2 I / (15 Q D).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq


def sphere_eigenvalues(count: int) -> list[float]:
    """The first ``count`` positive roots of tan(x) = x (4.4934, 7.7253, ...)."""

    def residual(x: float) -> float:
        return math.sin(x) - x * math.cos(x)

    roots = []
    for n in range(1, count + 1):
        # Each root lies in (n pi, n pi + pi/2), where sin - x cos changes sign exactly once.
        roots.append(brentq(residual, n * math.pi + 1e-9, n * math.pi + math.pi / 2 - 1e-9, xtol=1e-14))
    return roots


def residual_weight(eigenvalues: list[float]) -> float:
    """1/10 minus the sum of 1/lambda_n^2 over the modes kept: the weight of the faster, lumped ones."""
    return 0.1 - sum(1.0 / (x * x) for x in eigenvalues)


def surface_response(frequencies: np.ndarray, radius: float, diffusion_coefficient: float,
                     capacity: float) -> np.ndarray:
    """Surface SOC per ampere, complex, at ``frequencies`` (Hz): mean plus diffusion, all modes.

    Equals (r^2 / 3 Q D) * tanh(y) / (y - tanh(y)) with y = r sqrt(j omega / D).
    """
    omega = 2.0 * np.pi * np.asarray(frequencies, dtype=float)
    y = radius * np.sqrt(1j * omega / diffusion_coefficient)
    small = np.abs(y) < 0.05
    # y - tanh(y) cancels for small y: use its series there.
    y_safe = np.where(small, 1.0, y)
    tanh_y = np.tanh(y_safe)
    exact = tanh_y / (y_safe - tanh_y)
    y2 = y * y
    y_series = np.where(small, y, 1.0)
    series = np.tanh(y_series) / (y_series**3 / 3.0 * (1.0 - 0.4 * y2 + 17.0 / 105.0 * y2 * y2))
    ratio = np.where(small, series, exact)
    return radius**2 / (3.0 * capacity * diffusion_coefficient) * ratio
