"""Open-circuit voltage reference curves E(SOC) vs the working-ion metal: NMC622, LFP-like plateau, glass.

Used by protocol estimates (the SOC a voltage cut-off stops at, the voltage a SOC stop reaches) and by the
cell simulator. SOC is the fraction of the theoretical capacity removed from the positive electrode (0 = fully
lithiated, pristine NMC622). Each curve is given by its slope dE/dSOC, piecewise linear between knots and
positive everywhere, integrated exactly from one anchor voltage: the curve is smooth (continuous slope,
bounded curvature), strictly increasing, and its inverse is a closed-form root of a quadratic. Outside the
knots it continues linearly with the end slope, so any SOC a simulation reaches has a voltage. Plain Python
floats: a call costs about a microsecond.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

from operando.errors import OperandoError
from operando.materials import find_material


class NoOcvCurve(OperandoError, ValueError):
    """A cell whose material has no OCV curve to simulate it on: refused before anything starts."""


@dataclass(frozen=True)
class CurveShape:
    """A curve family: slope knots (SOC, V per unit SOC) and an anchor (SOC, V vs metal) it passes through."""

    slopes: tuple[tuple[float, float], ...]
    anchor: tuple[float, float]
    working_ion: str = "Li"  # the metal the potentials are measured against
    description: str = ""


# NMC622, 276.6 mAh/g theoretical. Integrates to 3.62 V at SOC 0, 3.75 V at 0.1, 3.90 V at 0.35, 4.09 V at 0.5
# and 4.30 V at SOC 0.64 (~177 mAh/g, what NMC622 gives charged to 4.3 V). Below SOC 0 (over-lithiation) the
# voltage falls by ~0.6 V per 1 % SOC, so a discharge cut-off stops it within about half a percent.
NMC622 = CurveShape(
    slopes=((-0.03, 200.0), (-0.01, 120.0), (0.0, 4.0), (0.03, 1.0), (0.08, 0.6), (0.25, 0.55), (0.35, 0.9),
            (0.45, 1.4), (0.60, 1.5), (0.70, 1.8), (0.85, 2.8), (1.0, 6.0)),
    anchor=(0.0, 3.62),
    description="layered oxide NMC622 vs Li (also used for other NMC/NCM compositions)",
)
# LiFePO4-like: a two-phase plateau at 3.43 V (30 mV per unit SOC) with steep solid-solution ends.
LFP = CurveShape(
    slopes=((-0.02, 100.0), (0.0, 40.0), (0.02, 4.0), (0.05, 0.3), (0.10, 0.03), (0.90, 0.03), (0.95, 0.3),
            (0.98, 4.0), (1.0, 40.0), (1.02, 100.0)),
    anchor=(0.5, 3.43),
    description="olivine LiFePO4 vs Li: a two-phase plateau at 3.43 V",
)
# Vanadate-phosphate glass: one sloping single-phase region, 1.5 V lithiated (SOC 0) to ~3.5 V pristine.
GLASS = CurveShape(
    slopes=((-0.02, 30.0), (0.0, 6.0), (0.05, 2.5), (0.15, 1.9), (0.5, 1.5), (0.85, 1.9), (0.95, 2.6),
            (1.0, 5.0), (1.02, 30.0)),
    anchor=(0.0, 1.50),
    description="vanadate-phosphate glass vs Li: sloping, 1.5 V lithiated to 3.5 V pristine",
)

FAMILIES: dict[str, CurveShape] = {"NMC622": NMC622, "LFP": LFP, "glass": GLASS}


class OcvCurve:
    """A strictly increasing E(SOC) with its slope and exact inverse; V vs the working-ion metal."""

    def __init__(self, shape: CurveShape, family: str = "") -> None:
        socs = [float(k[0]) for k in shape.slopes]
        slopes = [float(k[1]) for k in shape.slopes]
        if any(b <= a for a, b in zip(socs, socs[1:], strict=False)):
            raise ValueError("OCV slope knots must be at strictly increasing SOC")
        if any(not (s > 0 and math.isfinite(s)) for s in slopes):
            raise ValueError("OCV slope must be positive everywhere so the curve stays invertible")
        self.family = family
        self.working_ion = shape.working_ion
        self.description = shape.description
        self._knots = socs
        self._slopes = slopes
        # Curvature of each segment (slope changes linearly inside it).
        self._curvatures = [(s1 - s0) / (x1 - x0) for x0, x1, s0, s1 in
                            zip(socs, socs[1:], slopes, slopes[1:], strict=False)]
        volts = [0.0]
        for i in range(len(socs) - 1):
            volts.append(volts[-1] + self._segment_rise(i, socs[i + 1] - socs[i]))
        offset = shape.anchor[1] - self._integrate(volts, shape.anchor[0])
        self._volts = [v + offset for v in volts]

    def __repr__(self) -> str:
        return f"OcvCurve({self.family!r}, vs {self.working_ion})"

    def _segment_rise(self, i: int, h: float) -> float:
        return self._slopes[i] * h + 0.5 * self._curvatures[i] * h * h

    def _integrate(self, volts: list[float], soc: float) -> float:
        knots = self._knots
        if soc <= knots[0]:
            return volts[0] + self._slopes[0] * (soc - knots[0])
        if soc >= knots[-1]:
            return volts[-1] + self._slopes[-1] * (soc - knots[-1])
        i = bisect_right(knots, soc) - 1
        return volts[i] + self._segment_rise(i, soc - knots[i])

    def value(self, soc: float) -> float:
        """Equilibrium potential (V vs the working-ion metal) at ``soc`` (0..1 of theoretical capacity)."""
        return self._integrate(self._volts, soc)

    def slope(self, soc: float) -> float:
        """dE/dSOC in V per unit SOC."""
        knots = self._knots
        if soc <= knots[0]:
            return self._slopes[0]
        if soc >= knots[-1]:
            return self._slopes[-1]
        i = bisect_right(knots, soc) - 1
        return self._slopes[i] + self._curvatures[i] * (soc - knots[i])

    def soc_at(self, voltage: float) -> float:
        """The SOC whose equilibrium potential is ``voltage`` (V vs the working-ion metal): exact inverse."""
        if not math.isfinite(voltage):
            raise ValueError(f"voltage: must be finite, got {voltage!r}")
        knots, volts, slopes = self._knots, self._volts, self._slopes
        if voltage <= volts[0]:
            return knots[0] + (voltage - volts[0]) / slopes[0]
        if voltage >= volts[-1]:
            return knots[-1] + (voltage - volts[-1]) / slopes[-1]
        i = bisect_right(volts, voltage) - 1
        rise = voltage - volts[i]
        # Root of s h + c h^2 / 2 = rise, in the form that does not cancel when c is small.
        root = math.sqrt(slopes[i] ** 2 + 2.0 * self._curvatures[i] * rise)
        return knots[i] + 2.0 * rise / (slopes[i] + root)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def family_of(material: str) -> str | None:
    """The curve family ("NMC622", "LFP", "glass") for a material name or formula, or None if there is none.

    Names are matched like the material table does (case, spaces, dashes ignored; aliases such as "LiFePO4" or
    "vanadate glass"); any NMC/NCM composition uses the NMC622 curve, an approximation good to ~0.1 V.
    """
    if not isinstance(material, str) or not material.strip():
        return None
    table = find_material(material)
    names = [_key(material)]
    if table is not None:
        names += [_key(table.name), _key(table.formula)]
    for name in names:
        for family in FAMILIES:
            if name == _key(family):
                return family
        if name.startswith(("nmc", "ncm")) or name.startswith("lini") and "mn" in name and "co" in name:
            return "NMC622"
        if "fepo4" in name:
            return "LFP"
        if "glass" in name:
            return "glass"
    return None


@cache
def _curve(family: str) -> OcvCurve:
    return OcvCurve(FAMILIES[family], family)


def curve_for(material: str, working_ion: str | None = None) -> OcvCurve | None:
    """The reference OCV curve for ``material`` (name, alias, formula or family), or None if none is known.

    A curve measured against another metal than ``working_ion`` ("Li", "Na"; by default the material table's)
    is not returned: its potentials would be off by the difference between the two metals.
    """
    family = family_of(material)
    if family is None:
        return None
    curve = _curve(family)
    if working_ion is None:
        table = find_material(material)
        working_ion = table.working_ion if table is not None else curve.working_ion
    if working_ion.strip().lower() != curve.working_ion.lower():
        return None
    return curve
