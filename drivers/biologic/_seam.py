"""The EClib seam: the DLL's BL_* calls with the DLL's ctypes signatures, real (EClib.dll) or simulated.

The driver only ever calls these functions, passing ctypes objects exactly as the DLL wants them (byref
pointers, structures, arrays) and reading the int32 return code. ``EClibLibrary`` binds them to the vendor
DLL; ``operando.simulators.eclib.FakeEClib`` implements the same calls for tests and the simulated rig.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import POINTER, c_bool, c_char_p, c_double, c_float, c_int8, c_int32, c_uint8, c_uint32
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from operando.drivers.biologic._errors import BiologicError
from operando.drivers.biologic._structures import (
    ChannelInfo,
    ChannelsArray,
    CurrentValues,
    DataBuffer,
    DataInfo,
    DeviceInfo,
    EccParam,
    EccParams,
    ResultsArray,
)

DEFAULT_FOLDER = Path(r"C:\EC-Lab Development Package\lib")

# (name, argtypes): the development package's prototypes; every call returns an int32 error code.
PROTOTYPES: tuple[tuple[str, list[Any]], ...] = (
    ("BL_GetLibVersion", [c_char_p, POINTER(c_uint32)]),
    ("BL_Connect", [c_char_p, c_uint8, POINTER(c_int32), POINTER(DeviceInfo)]),
    ("BL_Disconnect", [c_int32]),
    ("BL_TestConnection", [c_int32]),
    ("BL_GetChannelsPlugged", [c_int32, ChannelsArray, c_uint8]),
    ("BL_GetChannelInfos", [c_int32, c_uint8, POINTER(ChannelInfo)]),
    ("BL_GetChannelBoardType", [c_int32, c_uint8, POINTER(c_uint32)]),
    ("BL_LoadFirmware", [c_int32, ChannelsArray, ResultsArray, c_uint8, c_bool, c_bool, c_char_p, c_char_p]),
    ("BL_DefineBoolParameter", [c_char_p, c_bool, c_int32, POINTER(EccParam)]),
    ("BL_DefineSglParameter", [c_char_p, c_float, c_int32, POINTER(EccParam)]),
    ("BL_DefineIntParameter", [c_char_p, c_int32, c_int32, POINTER(EccParam)]),
    ("BL_LoadTechnique", [c_int32, c_uint8, c_char_p, EccParams, c_bool, c_bool, c_bool]),
    ("BL_UpdateParameters", [c_int32, c_uint8, c_int32, POINTER(EccParams), c_char_p]),
    ("BL_StartChannel", [c_int32, c_uint8]),
    ("BL_StopChannel", [c_int32, c_uint8]),
    ("BL_GetCurrentValues", [c_int32, c_uint8, POINTER(CurrentValues)]),
    ("BL_GetData", [c_int32, c_uint8, DataBuffer, POINTER(DataInfo), POINTER(CurrentValues)]),
    ("BL_ConvertNumericIntoSingle", [c_uint32, POINTER(c_float)]),
    ("BL_ConvertChannelNumericIntoSingle", [c_uint32, POINTER(c_float), c_uint32]),
    ("BL_ConvertTimeChannelNumericIntoSeconds", [POINTER(c_uint32), POINTER(c_double), c_float, c_uint32]),
    ("BL_GetErrorMsg", [c_int32, c_char_p, POINTER(c_uint32)]),
    ("BL_GetOptErr", [c_int32, c_int8, POINTER(c_int32), POINTER(c_int32)]),
)


@runtime_checkable
class EClibSeam(Protocol):
    """The BL_* calls the driver uses; arguments are ctypes objects as the DLL takes them, results int32."""

    def BL_GetLibVersion(self, version: Any, size: Any) -> int: ...
    def BL_Connect(self, address: bytes, timeout: int, connection_id: Any, device_info: Any) -> int: ...
    def BL_Disconnect(self, connection_id: int) -> int: ...
    def BL_TestConnection(self, connection_id: int) -> int: ...
    def BL_GetChannelsPlugged(self, connection_id: int, channels: Any, size: int) -> int: ...
    def BL_GetChannelInfos(self, connection_id: int, channel: int, info: Any) -> int: ...
    def BL_GetChannelBoardType(self, connection_id: int, channel: int, board_type: Any) -> int: ...
    def BL_LoadFirmware(self, connection_id: int, channels: Any, results: Any, size: int, show_gauge: bool,
                        force_reload: bool, firmware: bytes | None, fpga: bytes | None) -> int: ...
    def BL_DefineBoolParameter(self, label: bytes, value: bool, index: int, param: Any) -> int: ...
    def BL_DefineSglParameter(self, label: bytes, value: float, index: int, param: Any) -> int: ...
    def BL_DefineIntParameter(self, label: bytes, value: int, index: int, param: Any) -> int: ...
    def BL_LoadTechnique(self, connection_id: int, channel: int, ecc_file: bytes, params: EccParams,
                         first: bool, last: bool, display: bool) -> int: ...
    def BL_UpdateParameters(self, connection_id: int, channel: int, technique_index: int, params: Any,
                            ecc_file: bytes) -> int: ...
    def BL_StartChannel(self, connection_id: int, channel: int) -> int: ...
    def BL_StopChannel(self, connection_id: int, channel: int) -> int: ...
    def BL_GetCurrentValues(self, connection_id: int, channel: int, values: Any) -> int: ...
    def BL_GetData(self, connection_id: int, channel: int, buffer: Any, info: Any, values: Any) -> int: ...
    def BL_ConvertNumericIntoSingle(self, word: int, value: Any) -> int: ...
    def BL_ConvertChannelNumericIntoSingle(self, word: int, value: Any, board_type: int) -> int: ...
    def BL_ConvertTimeChannelNumericIntoSeconds(self, words: Any, seconds: Any, time_base: float,
                                                board_type: int) -> int: ...
    def BL_GetErrorMsg(self, code: int, message: Any, size: Any) -> int: ...


class EClibLibrary:
    """The real seam: EClib.dll (32-bit Python) or EClib64.dll (64-bit) from the development package.

    ``path`` is the DLL itself or the folder holding it (default: the package's usual install folder).
    Windows only; the DLL must be called from one thread (the driver's instrument thread).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if sys.platform != "win32":
            raise BiologicError(
                f"EClib is a Windows DLL and this is {sys.platform}: run on the instrument PC, "
                "or use the simulated rig (operando.simulators.eclib.FakeEClib)")
        name = "EClib64.dll" if ctypes.sizeof(ctypes.c_void_p) == 8 else "EClib.dll"
        location = Path(path) if path is not None else DEFAULT_FOLDER
        dll_path = location / name if location.is_dir() or location.suffix.lower() != ".dll" else location
        if not dll_path.is_file():
            raise BiologicError(f"EClib DLL not found at {dll_path}: install the EC-Lab Development Package "
                                "or give its lib folder as eclib_path in the rig config")
        try:
            self._dll = ctypes.WinDLL(str(dll_path))  # type: ignore[attr-defined]
        except OSError as exc:
            raise BiologicError(f"cannot load {dll_path}: {exc} (32/64-bit mismatch with Python?)") from exc
        self.path = dll_path
        for function_name, argtypes in PROTOTYPES:
            function = getattr(self._dll, function_name)
            function.argtypes = argtypes
            function.restype = c_int32
            setattr(self, function_name, function)
