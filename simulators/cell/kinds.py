"""Which simulated cell a protocol's cell is: a symmetric metal cell, a solid-electrolyte CV, or an electrode.

A working electrode of the counter electrode's own metal ("Li metal" against Li) is a symmetric plating/stripping
cell (:mod:`operando.simulators.cell.symmetric`); a working electrode that is the solid electrolyte itself (a
name naming LPS, Li3PS4 or an electrolyte, e.g. "LPS-carbon composite") is a solid-electrolyte CV cell
(:mod:`operando.simulators.cell.electrolyte_cv`); anything else an intercalation electrode on an OCV curve
(:class:`operando.simulators.cell.SimulatedCell`).
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from operando.simulators.cell.electrolyte_cv import ElectrolyteCvCell, ElectrolyteCvParameters
from operando.simulators.cell.model import SimulatedCell
from operando.simulators.cell.parameters import CellParameters
from operando.simulators.cell.symmetric import SymmetricCell, SymmetricParameters

if TYPE_CHECKING:
    from operando.plan import CellSummary

AnyCell = SimulatedCell | SymmetricCell | ElectrolyteCvCell
_METALS = {"li": "Li", "lithium": "Li", "limetal": "Li", "lithiummetal": "Li",
           "na": "Na", "sodium": "Na", "nametal": "Na", "sodiummetal": "Na"}
_ELECTROLYTE = re.compile(r"lps|li3ps4|electrolyte|argyrodite|li6ps5cl|lgps", re.IGNORECASE)


def cell_kind(cell: CellSummary) -> str:
    """"symmetric", "electrolyte_cv" or "electrode" for the protocol's cell."""
    metal = _METALS.get(re.sub(r"[\s_\-]+", "", cell.material).lower())
    counter = _METALS.get(re.sub(r"[\s_\-]+", "", cell.counter_electrode).lower())
    if metal is not None and metal == counter:
        return "symmetric"
    if _ELECTROLYTE.search(cell.material):
        return "electrolyte_cv"
    return "electrode"


def simulated_cell(cell: CellSummary | None, overrides: dict[str, Any] | None = None, seed: int = 0) -> AnyCell:
    """The simulated cell for ``cell`` (None: the default thesis cell), ``overrides`` setting its parameters."""
    overrides = dict(overrides or {})
    kind = "electrode" if cell is None else cell_kind(cell)
    if kind == "electrode":
        params = CellParameters.from_cell(cell, **overrides) if cell is not None else CellParameters(**overrides)
        return SimulatedCell(params, seed=seed)
    assert cell is not None
    overrides.pop("initial_soc", None)  # a resumed run without a saved state passes it; nothing intercalates here
    if kind == "symmetric":
        return SymmetricCell(_parameters(SymmetricParameters, overrides, "a symmetric cell"), seed=seed)
    overrides.setdefault("counter_potential", cell.counter_potential)
    return ElectrolyteCvCell(_parameters(ElectrolyteCvParameters, overrides, "a solid-electrolyte CV cell"),
                             seed=seed)


def _parameters(kind: type, overrides: dict[str, Any], what: str) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown cell parameter(s) {', '.join(unknown)} for {what}; known: "
                         f"{', '.join(sorted(known))}")
    return kind(**overrides)
