"""Role interfaces the engine needs; drivers fill them, the engine never imports a driver."""

from operando.roles.microscope import Frame, FrameMetadata, Microscope, MicroscopeSettingError, StagePosition
from operando.roles.potentiostat import (
    ImpedancePoint,
    InstrumentInfo,
    Point,
    Potentiostat,
    Readout,
)

__all__ = ["ImpedancePoint", "InstrumentInfo", "Point", "Potentiostat", "Readout",
           "Frame", "FrameMetadata", "Microscope", "MicroscopeSettingError", "StagePosition"]
