"""OCV curves of every material family in the material table, for the simulated cell; V vs the working-ion metal.

SOC is the fraction of the theoretical capacity removed from the positive electrode (0 = fully lithiated or
sodiated), as in :mod:`operando.ocv`, whose NMC622, LFP and glass curves are used unchanged. Each new curve is
an :class:`operando.ocv.CurveShape` (slope knots integrated from an anchor, so smooth, strictly increasing and
exactly invertible) fitted by hand to the handbook or paper values in its comment; docs/simulators.md lists
them. The curves are typical room-temperature near-equilibrium (GITT or C/20) values, good to a few tens of mV
on the plateaus; the simulator scales them to the protocol's capacity (SOC is charge over that capacity).
"""

from __future__ import annotations

import re
from functools import cache

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
                     f"{supported_text()}")


@cache
def simulated_curve(family: str) -> OcvCurve:
    """The curve of a family :func:`simulated_family` returned (NMC622, LFP and glass: operando.ocv's own)."""
    if family in CORE_FAMILIES:
        curve = curve_for(family)
        assert curve is not None
        return curve
    return OcvCurve(SHAPES[family], family)
