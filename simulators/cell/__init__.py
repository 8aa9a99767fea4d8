"""Equivalent-circuit all-solid-state cell that drives the fake potentiostats with realistic signals."""

from operando.simulators.cell.model import Reading, SimulatedCell
from operando.simulators.cell.ocv import OcvCurve, curve_for
from operando.simulators.cell.parameters import CellParameters, material_family

__all__ = ["CellParameters", "OcvCurve", "Reading", "SimulatedCell", "curve_for", "material_family"]
