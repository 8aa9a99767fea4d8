"""The cell's equilibrium voltage against its state of charge, as the potentiostat measures it.

Built on the reference OCV curves of :mod:`operando.ocv` (vs the working-ion metal, SOC of the theoretical
capacity) and re-expressed in the plan's terms: SOC as a fraction of the cell's rated capacity (what C-rates
and SOC stops use) and volts vs the counter electrode. Used for duration and imaging estimates only.
"""

from __future__ import annotations

from dataclasses import dataclass

from operando.materials import FormulaError
from operando.materials import specific_capacity as theoretical_specific_capacity
from operando.ocv import OcvCurve, curve_for
from operando.plan import CellSummary


@dataclass(frozen=True)
class EquilibriumCurve:
    """E_measured(SOC) of one cell. ``scale``: rated capacity / theoretical capacity (1 when unknown)."""

    curve: OcvCurve
    counter_potential: float  # V of the counter electrode vs the working-ion metal
    scale: float
    material: str

    def voltage(self, soc: float) -> float:
        """V as measured (vs the counter electrode) at ``soc`` (0..1 of the rated capacity)."""
        return self.curve.value(soc * self.scale) - self.counter_potential

    def soc_at(self, measured: float) -> float:
        """The SOC (of the rated capacity) at equilibrium at ``measured`` V; may lie outside 0..1."""
        return self.curve.soc_at(measured + self.counter_potential) / self.scale


def equilibrium_curve(cell: CellSummary) -> EquilibriumCurve | None:
    """The cell's curve, or None when no reference curve is known for its material (or its working ion)."""
    curve = curve_for(cell.material, cell.working_ion) or (
        curve_for(cell.formula, cell.working_ion) if cell.formula else None
    )
    if curve is None or not cell.capacity:
        return None
    scale = 1.0
    if cell.formula and cell.active_mass:
        try:
            theoretical = theoretical_specific_capacity(cell.formula, cell.electrons) * cell.active_mass
        except (FormulaError, ValueError):
            theoretical = 0.0
        if theoretical > 0:
            scale = cell.capacity / theoretical
    return EquilibriumCurve(curve, cell.counter_potential, scale, cell.material)
