"""OCV curves of every material family in the material table, for the simulated cell; V vs the working-ion metal.

SOC is the fraction of the theoretical capacity removed from the positive electrode (0 = fully lithiated or
sodiated), as in :mod:`operando.ocv`, whose NMC622, LFP and glass curves are used unchanged. Each new curve is
an :class:`operando.ocv.CurveShape` (slope knots integrated from an anchor, so smooth, strictly increasing and
exactly invertible) fitted by hand to the handbook or paper values in its comment; docs/simulators.md lists
them. The curves are typical room-temperature near-equilibrium (GITT or C/20) values, good to a few tens of mV
on the plateaus; the simulator scales them to the protocol's capacity (SOC is charge over that capacity).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from operando.materials import find_material
from operando.ocv import CurveShape, NoOcvCurve, OcvCurve, curve_for, family_of

# Ni-rich NMC811 (275 mAh/g theoretical): ~3.6 V early, ~3.8 V mid-charge, the H2->H3 step near 4.2 V, about
# 200 mAh/g (SOC 0.73) at 4.3 V. Noh et al., J. Power Sources 233 (2013) 121; Ryu et al., Chem. Mater. 30
# (2018) 1155 (dQ/dV peaks 3.7, 4.0, 4.2 V).
NMC811 = CurveShape(
    slopes=((-0.03, 200.0), (-0.01, 120.0), (0.0, 5.0), (0.03, 1.2), (0.08, 0.5), (0.30, 0.35), (0.45, 1.1),
            (0.55, 1.6), (0.65, 1.3), (0.72, 0.8), (0.78, 2.0), (0.85, 4.0), (1.0, 8.0)),
    anchor=(0.0, 3.50),
    description="nickel-rich layered oxide NMC811 vs Li (Noh 2013, Ryu 2018)",
)
# NCA LiNi0.8Co0.15Al0.05O2 (279 mAh/g theoretical): smoothly sloping, ~3.75 V mid-charge, about 200 mAh/g
# (SOC 0.72) at 4.3 V, no marked H2->H3 step (Al). Albertus, Christensen, Newman, J. Electrochem. Soc. 156
# (2009) A606; Bloom et al., J. Power Sources 124 (2003) 538.
NCA = CurveShape(
    slopes=((-0.03, 200.0), (-0.01, 120.0), (0.0, 5.0), (0.03, 1.3), (0.08, 0.6), (0.30, 0.45), (0.50, 1.1),
            (0.65, 1.4), (0.75, 1.8), (0.85, 4.0), (1.0, 8.0)),
    anchor=(0.0, 3.50),
    description="layered oxide NCA vs Li (Albertus 2009, Bloom 2003)",
)
# LiCoO2 (274 mAh/g theoretical): the two-phase plateau at 3.93 V for x = 0.05..0.25 in Li(1-x)CoO2, then a
# slope to the order-disorder steps near x = 0.5 (4.05-4.2 V): 4.2 V at about x = 0.5 (137 mAh/g). Reimers and
# Dahn, J. Electrochem. Soc. 139 (1992) 2091.
LCO = CurveShape(
    slopes=((-0.02, 150.0), (0.0, 30.0), (0.02, 3.0), (0.05, 0.12), (0.25, 0.12), (0.30, 0.6), (0.45, 0.5),
            (0.50, 1.2), (0.55, 2.5), (0.70, 3.0), (0.85, 5.0), (1.0, 8.0)),
    anchor=(0.15, 3.93),
    description="layered LiCoO2 vs Li: 3.93 V plateau (Reimers and Dahn 1992)",
)
# Spinel LiMn2O4 (148 mAh/g theoretical): two plateaus, ~4.0 V for x < 0.5 in Li(1-x)Mn2O4 and ~4.12 V above,
# the step at x = 0.5 where Li orders. Ohzuku, Kitagawa, Hirai, J. Electrochem. Soc. 137 (1990) 769; Thackeray,
# Prog. Solid State Chem. 25 (1997) 1.
LMO = CurveShape(
    slopes=((-0.02, 150.0), (0.0, 30.0), (0.03, 1.5), (0.08, 0.25), (0.42, 0.25), (0.50, 1.0), (0.58, 0.1),
            (0.92, 0.1), (0.97, 3.0), (1.0, 30.0), (1.02, 150.0)),
    anchor=(0.25, 4.00),
    description="spinel LiMn2O4 vs Li: plateaus at 4.0 and 4.12 V (Ohzuku 1990)",
)
# Spinel Li4Ti5O12 <-> Li7Ti5O12 (175 mAh/g for 3 Li): a flat two-phase plateau at 1.55 V. SOC 0 is Li7Ti5O12
# (fully lithiated), SOC 1 the pristine Li4Ti5O12. Ohzuku, Ueda, Yamamoto, J. Electrochem. Soc. 142 (1995) 1431.
LTO = CurveShape(
    slopes=((-0.02, 60.0), (0.0, 20.0), (0.02, 2.0), (0.05, 0.04), (0.95, 0.04), (0.98, 2.0), (1.0, 20.0),
            (1.02, 60.0)),
    anchor=(0.5, 1.55),
    description="spinel Li4Ti5O12 vs Li: flat 1.55 V plateau (Ohzuku 1995)",
)
# NASICON Na3V2(PO4)3 <-> NaV2(PO4)3 (117.6 mAh/g for 2 Na, V3+/V4+): a flat two-phase plateau at 3.40 V vs Na.
# Jian et al., Electrochem. Commun. 14 (2012) 86; Saravanan et al., Adv. Energy Mater. 3 (2013) 444.
NVP = CurveShape(
    slopes=((-0.02, 100.0), (0.0, 40.0), (0.02, 4.0), (0.05, 0.05), (0.93, 0.05), (0.97, 4.0), (1.0, 40.0),
            (1.02, 100.0)),
    anchor=(0.5, 3.40),
    working_ion="Na",
    description="NASICON Na3V2(PO4)3 vs Na: flat 3.40 V plateau (Jian 2012)",
)
# Vanadate-phosphate glass against sodium: the lithium glass's sloping single-phase shape (operando.ocv.GLASS)
# 0.30 V lower, the usual offset of vanadium-oxide insertion potentials vs Na from vs Li (Na+/Na lies 0.33 V
# above Li+/Li; amorphous V2O5 vs Na slopes from ~3.5 to 1.5 V, mean ~2.3 V: Uchaker et al., J. Mater. Chem. A
# 2 (2014) 18208).
NA_GLASS = CurveShape(
    slopes=((-0.02, 30.0), (0.0, 6.0), (0.05, 2.5), (0.15, 1.9), (0.5, 1.5), (0.85, 1.9), (0.95, 2.6),
            (1.0, 5.0), (1.02, 30.0)),
    anchor=(0.0, 1.20),
    working_ion="Na",
    description="vanadate-phosphate glass vs Na: sloping, 1.2 V sodiated to 3.2 V pristine",
)

SHAPES: dict[str, CurveShape] = {"NMC811": NMC811, "NCA": NCA, "LCO": LCO, "LMO": LMO, "LTO": LTO, "NVP": NVP,
                                 "Na glass": NA_GLASS}
# Material-table names with a curve of their own (the rest go through operando.ocv.family_of).
_TABLE_FAMILIES = {"NMC811": "NMC811", "NCA": "NCA", "LCO": "LCO", "LMO": "LMO", "LTO": "LTO", "NVP": "NVP",
                   "NaVP glass": "Na glass"}
CORE_FAMILIES = ("NMC622", "LFP", "glass")
SUPPORTED = (*CORE_FAMILIES, *SHAPES)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def supported_text() -> str:
    """The materials the simulator can model, for error messages."""
    return ", ".join(SUPPORTED) + ", their aliases and formulas, any NMC/NCM (on the NMC622 curve)"


def simulated_family(material: str) -> str:
    """The simulator's curve family for a material name, alias, formula or family; raises NoOcvCurve naming
    ``cell.material`` and what is supported when there is none."""
    if isinstance(material, str) and material.strip():
        key = _key(material)
        for family in SUPPORTED:
            if key == _key(family):
                return family
        table = find_material(material)
        if table is not None and table.name in _TABLE_FAMILIES:
            return _TABLE_FAMILIES[table.name]
        core = family_of(material)
        if core is not None:
            return core
    raise NoOcvCurve(f"cell.material: the simulator has no OCV curve for {material!r}; supported: "
                     f"{supported_text()}; or give the simulated rig's cell an ocv_curve (CSV of SOC, V)")


@cache
def simulated_curve(family: str) -> OcvCurve:
    """The curve of a family :func:`simulated_family` returned (NMC622, LFP and glass: operando.ocv's own)."""
    if family in CORE_FAMILIES:
        curve = curve_for(family)
        assert curve is not None
        return curve
    return OcvCurve(SHAPES[family], family)


class MeasuredOcvCurve:
    """A user's measured OCV curve (SOC vs V, strictly increasing) as a monotone C1 cubic (scipy's PCHIP), with
    linear continuation past its ends; same interface as :class:`operando.ocv.OcvCurve`."""

    def __init__(self, socs: Sequence[float], volts: Sequence[float], family: str = "measured") -> None:
        interpolator = PchipInterpolator(np.asarray(socs, float), np.asarray(volts, float), extrapolate=False)
        self.family = family
        self.working_ion = ""  # the cell's own: the file gives V vs its working-ion metal
        self.description = f"measured OCV curve {family}"
        self._knots = [float(x) for x in interpolator.x]
        self._coefficients = [tuple(float(c) for c in interpolator.c[:, i]) for i in range(len(self._knots) - 1)]
        self._volts = [float(v) for v in volts]
        derivative = interpolator.derivative()
        self._end_slopes = (float(derivative(self._knots[0])), float(derivative(self._knots[-1])))
        # PCHIP keeps the data's monotonicity but may flatten at a knot; a zero slope past the ends would make
        # the curve uninvertible there, so the continuation uses at least the mean slope of the end interval.
        first = (self._volts[1] - self._volts[0]) / (self._knots[1] - self._knots[0])
        last = (self._volts[-1] - self._volts[-2]) / (self._knots[-1] - self._knots[-2])
        self._end_slopes = (max(self._end_slopes[0], first), max(self._end_slopes[1], last))

    def __repr__(self) -> str:
        return f"MeasuredOcvCurve({self.family!r})"

    def value(self, soc: float) -> float:
        """Equilibrium potential (V vs the working-ion metal) at ``soc``."""
        knots = self._knots
        if soc <= knots[0]:
            return self._volts[0] + self._end_slopes[0] * (soc - knots[0])
        if soc >= knots[-1]:
            return self._volts[-1] + self._end_slopes[1] * (soc - knots[-1])
        i = bisect_right(knots, soc) - 1
        a, b, c, d = self._coefficients[i]
        h = soc - knots[i]
        return ((a * h + b) * h + c) * h + d

    def slope(self, soc: float) -> float:
        """dE/dSOC in V per unit SOC."""
        knots = self._knots
        if soc <= knots[0]:
            return self._end_slopes[0]
        if soc >= knots[-1]:
            return self._end_slopes[1]
        i = bisect_right(knots, soc) - 1
        a, b, c, _ = self._coefficients[i]
        h = soc - knots[i]
        return (3.0 * a * h + 2.0 * b) * h + c

    def soc_at(self, voltage: float) -> float:
        """The SOC whose equilibrium potential is ``voltage`` (V vs the working-ion metal)."""
        if not math.isfinite(voltage):
            raise ValueError(f"voltage: must be finite, got {voltage!r}")
        knots, volts = self._knots, self._volts
        if voltage <= volts[0]:
            return knots[0] + (voltage - volts[0]) / self._end_slopes[0]
        if voltage >= volts[-1]:
            return knots[-1] + (voltage - volts[-1]) / self._end_slopes[1]
        i = min(bisect_right(volts, voltage) - 1, len(knots) - 2)
        return brentq(lambda s: self.value(s) - voltage, knots[i], knots[i + 1], xtol=1e-14)


@cache
def load_ocv_curve(path: str) -> MeasuredOcvCurve:
    """The OCV curve in a CSV file: two columns, SOC (0..1 of the protocol's capacity, 0 = fully lithiated or
    sodiated) and V vs the working-ion metal, an optional header line, "#" comments. Raises ValueError naming
    ``ocv_curve`` and what is wrong."""
    where = f"ocv_curve: {path}"
    try:
        with open(path, encoding="utf-8-sig") as file:
            lines = [line for line in (raw.split("#", 1)[0].strip() for raw in file) if line]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if lines and not any(ch.isdigit() for ch in lines[0].split(",")[0]):
        lines = lines[1:]  # a header line
    try:
        rows = np.loadtxt(lines, delimiter=",", ndmin=2, dtype=float)
    except ValueError as exc:
        raise ValueError(f"{where}: expected two numeric columns, SOC and V ({exc})") from None
    if rows.shape[1] != 2 or rows.shape[0] < 3:
        raise ValueError(f"{where}: expected at least 3 rows of two columns (SOC, V), got shape {rows.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{where}: holds a value that is not a finite number")
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    socs, volts = rows[:, 0], rows[:, 1]
    if np.any(np.diff(socs) <= 0):
        raise ValueError(f"{where}: two rows share the SOC {float(socs[np.argmin(np.diff(socs))]):g}")
    if np.any(np.diff(volts) <= 0):
        bad = int(np.argmax(np.diff(volts) <= 0))
        raise ValueError(f"{where}: the voltage must rise with SOC; it does not between SOC {socs[bad]:g} "
                         f"({volts[bad]:g} V) and {socs[bad + 1]:g} ({volts[bad + 1]:g} V)")
    if not (0.0 <= socs[0] and socs[-1] <= 1.0 + 1e-9):
        raise ValueError(f"{where}: SOC must lie in 0..1, got {socs[0]:g} to {socs[-1]:g}")
    return MeasuredOcvCurve(socs, volts, Path(path).name)
