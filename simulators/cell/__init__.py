"""Equivalent-circuit all-solid-state cell that drives the fake potentiostats with realistic signals."""

from operando.simulators.cell.electrolyte_cv import ElectrolyteCvCell, ElectrolyteCvParameters
from operando.simulators.cell.kinds import cell_kind, simulated_cell
from operando.simulators.cell.model import Reading, SimulatedCell
from operando.simulators.cell.parameters import CellParameters, material_family
from operando.simulators.cell.symmetric import SymmetricCell, SymmetricParameters

from operando.ocv import OcvCurve

__all__ = ["CellParameters", "ElectrolyteCvCell", "ElectrolyteCvParameters", "OcvCurve", "Reading", "SimulatedCell",
           "SymmetricCell", "SymmetricParameters", "cell_kind", "material_family", "simulated_cell"]
