"""Equivalent-circuit all-solid-state cell that drives the fake potentiostats with realistic signals."""

from operando.simulators.cell.model import Reading, SimulatedCell
from operando.simulators.cell.parameters import CellParameters, material_family

from operando.ocv import OcvCurve

__all__ = ["CellParameters", "OcvCurve", "Reading", "SimulatedCell", "material_family"]
