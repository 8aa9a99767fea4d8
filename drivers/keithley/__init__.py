"""Keithley 2450 source-measure unit as a Potentiostat, over pyvisa (SCPI); the driver runs the techniques."""

from operando.drivers.keithley._driver import MODELS, READ_QUERY, Keithley2450
from operando.drivers.keithley._errors import (
    ComplianceReached,
    KeithleyConnectionLost,
    KeithleyError,
    KeithleyNotAnswering,
)
from operando.drivers.keithley._plugin import DRIVER, Keithley2450Settings, clamps
from operando.drivers.keithley._scpi import ScpiLink, parse_error
from operando.drivers.keithley._technique import Sample, TechniqueRun

__all__ = ["DRIVER", "MODELS", "READ_QUERY", "ComplianceReached", "Keithley2450", "Keithley2450Settings",
           "KeithleyConnectionLost", "KeithleyError", "KeithleyNotAnswering", "Sample", "ScpiLink",
           "TechniqueRun", "clamps", "parse_error"]
