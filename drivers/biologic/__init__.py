"""BioLogic potentiostats (EC-Lab Development Package, EClib) behind the Potentiostat role."""

from operando.drivers.biologic._driver import BiologicPotentiostat
from operando.drivers.biologic._encoding import EccValue, EncodedTechnique, encode, limit_test_word
from operando.drivers.biologic._errors import (
    ERROR_CODES,
    BiologicAmplifierError,
    BiologicChannelBusy,
    BiologicChannelChanged,
    BiologicConnectionLost,
    BiologicError,
    BiologicFirmwareError,
    BiologicParameterError,
    BiologicTechniqueError,
)
from operando.drivers.biologic._seam import EClibLibrary, EClibSeam
from operando.drivers.biologic._structures import (
    DATA_BUFFER_WORDS,
    MAX_SLOTS,
    BoardType,
    FirmwareCode,
    ParamType,
    ProgramState,
    TechniqueId,
)

__all__ = [
    "DATA_BUFFER_WORDS",
    "MAX_SLOTS",
    "BoardType",
    "FirmwareCode",
    "ParamType",
    "ProgramState",
    "TechniqueId",
    "ERROR_CODES",
    "BiologicAmplifierError",
    "BiologicChannelBusy",
    "BiologicChannelChanged",
    "BiologicConnectionLost",
    "BiologicError",
    "BiologicFirmwareError",
    "BiologicParameterError",
    "BiologicPotentiostat",
    "BiologicTechniqueError",
    "EClibLibrary",
    "EClibSeam",
    "EccValue",
    "EncodedTechnique",
    "encode",
    "limit_test_word",
]
