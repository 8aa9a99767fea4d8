"""Electrode materials and their theoretical specific capacity, n F / M, with atomic weights from molmass."""

from __future__ import annotations

import re
from dataclasses import dataclass

from molmass import ELEMENTS

from operando.constants import FARADAY

MAH_PER_G = 3600.0  # C/kg in one mAh/g

_TOKEN = re.compile(
    r"\s*(?:(?P<element>[A-Z][a-z]?)|(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<open>[(\[])|"
    r"(?P<close>[)\]])|(?P<join>[-+·*]))"
)


class FormulaError(ValueError):
    """A chemical formula could not be read; the message says where."""


@dataclass(frozen=True)
class Material:
    """An active material: its formula, the electrons exchanged per formula unit and the ion it exchanges."""

    name: str
    formula: str
    electrons: float
    working_ion: str  # "Li" or "Na"
    description: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def molar_mass(self) -> float:
        """kg/mol of one formula unit."""
        return molar_mass(self.formula)

    @property
    def specific_capacity(self) -> float:
        """Theoretical specific capacity in C/kg (divide by MAH_PER_G for mAh/g)."""
        return specific_capacity(self.formula, self.electrons)


def composition(formula: str) -> dict[str, float]:
    """Atoms per formula unit, fractional counts allowed: "LiNi0.6Mn0.2Co0.2O2", "(V2O5)0.75(P2O5)0.25",
    "0.75V2O5-0.25P2O5" (a glass written as a sum of oxides), "Na3V2(PO4)3"."""
    text = formula.strip()
    if not text:
        raise FormulaError("empty formula")
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FormulaError(f"cannot read {formula!r} at character {position + 1}: {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    counts, index = _parse_sum(tokens, 0, formula)
    if index != len(tokens):
        raise FormulaError(
            f"cannot read {formula!r}: unexpected {tokens[index][1]!r} at character {tokens[index][2] + 1}"
        )
    if not counts:
        raise FormulaError(f"{formula!r} names no element")
    return counts


def _parse_sum(tokens: list[tuple[str, str, int]], index: int, formula: str) -> tuple[dict[str, float], int]:
    total: dict[str, float] = {}
    while True:
        coefficient = 1.0
        if index < len(tokens) and tokens[index][0] == "number":
            coefficient = float(tokens[index][1])
            index += 1
        part, index = _parse_group(tokens, index, formula)
        for element, count in part.items():
            total[element] = total.get(element, 0.0) + coefficient * count
        if index < len(tokens) and tokens[index][0] == "join":
            index += 1
            continue
        return total, index


def _parse_group(
    tokens: list[tuple[str, str, int]], index: int, formula: str
) -> tuple[dict[str, float], int]:
    counts: dict[str, float] = {}
    while index < len(tokens) and tokens[index][0] in ("element", "open"):
        kind, value, where = tokens[index]
        if kind == "element":
            if value not in ELEMENTS:
                raise FormulaError(
                    f"{formula!r}: {value!r} (character {where + 1}) is not a chemical element"
                )
            part, index = {value: 1.0}, index + 1
        else:
            part, index = _parse_sum(tokens, index + 1, formula)
            if index >= len(tokens) or tokens[index][0] != "close":
                raise FormulaError(f"{formula!r}: bracket opened at character {where + 1} is never closed")
            index += 1
        multiplier = 1.0
        if index < len(tokens) and tokens[index][0] == "number":
            multiplier = float(tokens[index][1])
            index += 1
        if multiplier <= 0:
            raise FormulaError(f"{formula!r}: a count of zero at character {tokens[index - 1][2] + 1}")
        for element, count in part.items():
            counts[element] = counts.get(element, 0.0) + multiplier * count
    if not counts:
        found = repr(tokens[index][1]) if index < len(tokens) else "the end"
        raise FormulaError(f"cannot read {formula!r}: expected an element or '(' but found {found}")
    return counts, index


def molar_mass(formula: str) -> float:
    """kg/mol of one formula unit, from molmass's standard atomic weights."""
    return sum(count * ELEMENTS[element].mass for element, count in composition(formula).items()) / 1000.0


def specific_capacity(formula: str, electrons: float) -> float:
    """Theoretical specific capacity n F / M in C/kg for ``electrons`` exchanged per formula unit."""
    if not electrons > 0:
        raise ValueError(f"electrons exchanged per formula unit must be positive, got {electrons!r}")
    return electrons * FARADAY / molar_mass(formula)


MATERIALS: tuple[Material, ...] = (
    Material("NMC622", "LiNi0.6Mn0.2Co0.2O2", 1, "Li", "layered oxide, the thesis cathode", ("NCM622",)),
    Material("NMC811", "LiNi0.8Mn0.1Co0.1O2", 1, "Li", "nickel-rich layered oxide", ("NCM811",)),
    Material("NMC111", "LiNi0.3333Mn0.3333Co0.3334O2", 1, "Li", "layered oxide", ("NCM111", "NMC333")),
    Material("NCA", "LiNi0.8Co0.15Al0.05O2", 1, "Li", "nickel cobalt aluminium oxide"),
    Material("LCO", "LiCoO2", 1, "Li", "lithium cobalt oxide", ("LiCoO2",)),
    Material("LFP", "LiFePO4", 1, "Li", "olivine lithium iron phosphate", ("LiFePO4",)),
    Material("LMO", "LiMn2O4", 1, "Li", "spinel lithium manganese oxide", ("LiMn2O4",)),
    Material(
        "LTO", "Li4Ti5O12", 3, "Li", "spinel lithium titanate (Ti4+ -> Ti3+ for 3 of 5 Ti)", ("Li4Ti5O12",)
    ),
    Material(
        "NVP", "Na3V2(PO4)3", 2, "Na", "NASICON sodium vanadium phosphate (V3+ -> V4+)", ("Na3V2(PO4)3",)
    ),
    Material(
        "VP glass",
        "(V2O5)0.75(P2O5)0.25",
        3,
        "Li",
        "75V2O5-25P2O5 vanadate-phosphate glass; 3 e- per unit assumes V5+ -> V3+ (about 468 mAh/g)",
        ("V2O5-P2O5 glass", "vanadate glass", "VP-glass"),
    ),
    Material(
        "NaVP glass",
        "(V2O5)0.75(P2O5)0.25",
        3,
        "Na",
        "the same vanadate-phosphate glass cycled against sodium",
        ("Na vanadate glass",),
    ),
)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_BY_NAME: dict[str, Material] = {}
for _material in MATERIALS:
    for _name in (_material.name, *_material.aliases):
        _BY_NAME[_key(_name)] = _material


def find_material(name: str) -> Material | None:
    """The table entry called ``name`` (case, spaces, dashes ignored), or None if the table has none."""
    return _BY_NAME.get(_key(name))


def material_names() -> list[str]:
    """Names of every material in the table, for error messages and docs."""
    return [material.name for material in MATERIALS]
