"""Simulated serial cell sensors (temperature readout, load cell) answering on a pseudo-terminal."""

from operando.simulators.sensors._device import Profile, SimulatedSerialSensor
from operando.simulators.sensors._rig import LOAD_CELL_DRIVER, TEMPERATURE_DRIVER

__all__ = ["LOAD_CELL_DRIVER", "TEMPERATURE_DRIVER", "Profile", "SimulatedSerialSensor"]
