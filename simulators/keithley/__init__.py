"""A simulated Keithley 2450 (SCPI, error queue, clamping) on a simulated cell, behind a VISA-like seam."""

from operando.simulators.keithley._instrument import ERRORS, SimulatedKeithley2450, normalise
from operando.simulators.keithley._rig import DRIVER, RESOURCE, shared_cell, simulated_keithley
from operando.simulators.keithley._visa import SimulatedResource, SimulatedResourceManager

__all__ = ["DRIVER", "ERRORS", "RESOURCE", "SimulatedKeithley2450", "SimulatedResource",
           "SimulatedResourceManager", "normalise", "shared_cell", "simulated_keithley"]
