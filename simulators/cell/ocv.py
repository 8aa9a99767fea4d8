"""Open-circuit voltage curves E_pos(SOC) vs the working-ion metal: NMC622, flat LFP-like, sloping glass.

SOC is the fraction of the theoretical capacity removed from the positive electrode (0 = fully lithiated,
pristine NMC622). Each curve is a monotone cubic (PCHIP) through anchor points, evaluated in plain Python so a
call costs about a microsecond; outside the anchors it continues linearly with the end slope, so it stays
strictly increasing and invertible for any SOC a simulation can reach.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from scipy.interpolate import PchipInterpolator

# (SOC, V vs Li+/Li). NMC622: 276.6 mAh/g theoretical; charged to 4.3 V it gives ~175-180 mAh/g, i.e. SOC
# 0.63-0.65. Points below SOC 0 are over-lithiation: the steep fall stops a discharge within about 1 % SOC.
NMC622_ANCHORS = (
    (-0.02, 2.00), (-0.01, 2.90), (0.00, 3.62), (0.02, 3.67), (0.05, 3.71), (0.10, 3.75), (0.20, 3.81),
    (0.35, 3.90), (0.50, 4.10), (0.60, 4.23), (0.64, 4.30), (0.70, 4.40), (0.80, 4.58), (0.90, 4.85),
    (1.00, 5.30),
)
# LiFePO4-like: two-phase plateau at 3.43 V with steep solid-solution ends.
LFP_ANCHORS = (
    (-0.01, 2.20), (0.00, 2.90), (0.02, 3.30), (0.05, 3.40), (0.10, 3.42), (0.50, 3.430), (0.90, 3.44),
    (0.95, 3.46), (0.98, 3.60), (1.00, 4.00), (1.01, 4.40),
)
# Vanadate-phosphate glass: a single-phase slope from 1.5 V (lithiated) to 3.5 V (pristine, SOC 1).
GLASS_ANCHORS = (
    (-0.02, 0.80), (0.00, 1.50), (0.10, 1.85), (0.30, 2.25), (0.50, 2.60), (0.70, 2.92), (0.90, 3.30),
    (1.00, 3.50), (1.02, 4.00),
)

CURVES = {"nmc622": NMC622_ANCHORS, "lfp": LFP_ANCHORS, "glass": GLASS_ANCHORS}


class OcvCurve:
    """A strictly increasing E(SOC) with its slope and inverse; V vs the working-ion metal."""

    def __init__(self, anchors: tuple[tuple[float, float], ...]) -> None:
        socs = [a[0] for a in anchors]
        volts = [a[1] for a in anchors]
        if any(b <= a for a, b in zip(socs, socs[1:], strict=False)) or any(
            b <= a for a, b in zip(volts, volts[1:], strict=False)
        ):
            raise ValueError("OCV anchors must be strictly increasing in both SOC and voltage")
        spline = PchipInterpolator(socs, volts, extrapolate=False)
        # Piecewise cubic in local coordinate: c0*h^3 + c1*h^2 + c2*h + c3 on [knot_i, knot_i+1).
        self._knots = [float(s) for s in socs]
        self._coefficients = [tuple(float(spline.c[k, i]) for k in range(4)) for i in range(len(socs) - 1)]
        derivative = spline.derivative()
        self._low_slope = float(derivative(socs[0]))
        self._high_slope = float(derivative(socs[-1]))
        if not (self._low_slope > 0 and self._high_slope > 0):
            raise ValueError("OCV curve must rise at both ends so it stays invertible when extrapolated")
        self._low = (float(socs[0]), float(volts[0]))
        self._high = (float(socs[-1]), float(volts[-1]))

    def voltage(self, soc: float) -> float:
        """Equilibrium potential (V vs metal) at ``soc``."""
        knots = self._knots
        if soc <= knots[0]:
            return self._low[1] + self._low_slope * (soc - self._low[0])
        if soc >= knots[-1]:
            return self._high[1] + self._high_slope * (soc - self._high[0])
        i = bisect_right(knots, soc) - 1
        c0, c1, c2, c3 = self._coefficients[i]
        h = soc - knots[i]
        return ((c0 * h + c1) * h + c2) * h + c3

    def slope(self, soc: float) -> float:
        """dE/dSOC in V per unit SOC."""
        knots = self._knots
        if soc <= knots[0]:
            return self._low_slope
        if soc >= knots[-1]:
            return self._high_slope
        i = bisect_right(knots, soc) - 1
        c0, c1, c2, _ = self._coefficients[i]
        h = soc - knots[i]
        return (3.0 * c0 * h + 2.0 * c1) * h + c2

    def soc_at(self, voltage: float) -> float:
        """The SOC whose equilibrium potential is ``voltage`` (V vs metal): the inverse curve."""
        if not math.isfinite(voltage):
            raise ValueError(f"voltage must be finite, got {voltage!r}")
        low, high = self._knots[0], self._knots[-1]
        if voltage <= self._low[1]:
            return low + (voltage - self._low[1]) / self._low_slope
        if voltage >= self._high[1]:
            return high + (voltage - self._high[1]) / self._high_slope
        # Bisection keeps the bracket; a few Newton steps finish it.
        while high - low > 1e-4:
            middle = 0.5 * (low + high)
            if self.voltage(middle) < voltage:
                low = middle
            else:
                high = middle
        soc = 0.5 * (low + high)
        for _ in range(4):
            soc -= (self.voltage(soc) - voltage) / max(self.slope(soc), 1e-9)
        return soc


def curve_for(material: str) -> OcvCurve:
    """The OCV curve family named ``material`` ("NMC622", "LFP", "glass"; case-insensitive)."""
    key = material.strip().lower()
    if key not in CURVES:
        raise ValueError(f"material: unknown OCV curve family {material!r}; choose one of NMC622, LFP, glass")
    return OcvCurve(CURVES[key])
