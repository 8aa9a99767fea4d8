"""Role interfaces the engine needs; drivers fill them, the engine never imports a driver."""

from operando.roles.instrument import InstrumentInfo
from operando.roles.microscope import Frame, FrameMetadata, Microscope, MicroscopeSettingError, StagePosition
from operando.roles.potentiostat import (
    ImpedancePoint,
    Point,
    Potentiostat,
    Readout,
)
from operando.roles.sensor import Sensor, SensorLimit, SensorReading

__all__ = ["ImpedancePoint", "InstrumentInfo", "Point", "Potentiostat", "Readout",
           "Frame", "FrameMetadata", "Microscope", "MicroscopeSettingError", "StagePosition",
           "Sensor", "SensorLimit", "SensorReading"]
