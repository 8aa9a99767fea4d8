"""EClib's C structures and enumerations as ctypes types, defined once for the driver and the fake EClib."""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_bool, c_char, c_double, c_float, c_int32, c_uint32
from dataclasses import dataclass
from enum import IntEnum

MAX_SLOTS = 16  # EClib's channel arrays always have 16 entries
DATA_BUFFER_WORDS = 1000  # BL_GetData hands back at most this many 32-bit words per call

ChannelsArray = c_bool * MAX_SLOTS
ResultsArray = c_int32 * MAX_SLOTS
DataBuffer = c_uint32 * DATA_BUFFER_WORDS
TimeWords = c_uint32 * 2  # (t_high, t_low) as BL_ConvertTimeChannelNumericIntoSeconds reads them


class DeviceInfo(ctypes.Structure):
    """What BL_Connect reports about the instrument."""

    _fields_ = [
        ("DeviceCode", c_int32),
        ("RAMSize", c_int32),
        ("CPU", c_int32),
        ("NumberOfChannels", c_int32),
        ("NumberOfSlots", c_int32),
        ("FirmwareVersion", c_int32),
        ("FirmwareDate_yyyy", c_int32),
        ("FirmwareDate_mm", c_int32),
        ("FirmwareDate_dd", c_int32),
        ("HTdisplayOn", c_int32),
        ("NbOfConnectedPC", c_int32),
    ]


class ChannelInfo(ctypes.Structure):
    """What BL_GetChannelInfos reports about one channel board (firmware, ranges, state)."""

    _fields_ = [
        ("Channel", c_int32),
        ("BoardVersion", c_int32),
        ("BoardSerialNumber", c_int32),
        ("FirmwareCode", c_int32),
        ("FirmwareVersion", c_int32),
        ("XilinxVersion", c_int32),
        ("AmpCode", c_int32),
        ("NbAmps", c_int32),
        ("Lcboard", c_int32),
        ("Zboard", c_int32),
        ("MUXboard", c_int32),
        ("GPRAboard", c_int32),
        ("MemSize", c_int32),
        ("MemFilled", c_int32),
        ("State", c_int32),
        ("MaxIRange", c_int32),
        ("MinIRange", c_int32),
        ("MaxBandwidth", c_int32),
        ("NbOfTechniques", c_int32),
    ]


class CurrentValues(ctypes.Structure):
    """The channel's live values: state, time base (s per tick), Ewe (V), I (A), elapsed time (s)."""

    _fields_ = [
        ("State", c_int32),
        ("MemFilled", c_int32),
        ("TimeBase", c_float),
        ("Ewe", c_float),
        ("EweRangeMin", c_float),
        ("EweRangeMax", c_float),
        ("Ece", c_float),
        ("EceRangeMin", c_float),
        ("EceRangeMax", c_float),
        ("Eoverflow", c_int32),
        ("I", c_float),
        ("IRange", c_int32),
        ("Ioverflow", c_int32),
        ("ElapsedTime", c_float),
        ("Freq", c_float),
        ("Rcomp", c_float),
        ("Saturation", c_int32),
        ("OptErr", c_int32),
        ("OptPos", c_int32),
    ]


class DataInfo(ctypes.Structure):
    """Describes one BL_GetData buffer: rows x columns of which technique and process; packed to 4 bytes."""

    _pack_ = 4
    _fields_ = [
        ("IRQskipped", c_int32),
        ("NbRows", c_int32),
        ("NbCols", c_int32),
        ("TechniqueIndex", c_int32),
        ("TechniqueID", c_int32),
        ("ProcessIndex", c_int32),
        ("loop", c_int32),
        ("StartTime", c_double),
        ("MuxPad", c_int32),
    ]


class EccParam(ctypes.Structure):
    """One technique parameter as BL_Define*Parameter encodes it: label, type, 32-bit value, array index."""

    _fields_ = [
        ("ParamStr", c_char * 64),
        ("ParamType", c_int32),
        ("ParamVal", c_uint32),
        ("ParamIndex", c_int32),
    ]


class EccParams(ctypes.Structure):
    """The parameter list BL_LoadTechnique takes by value: a count and a pointer; packed to 4 bytes."""

    _pack_ = 4
    _fields_ = [
        ("len", c_int32),
        ("pParams", POINTER(EccParam)),
    ]


class ProgramState(IntEnum):
    """PROG_STATE: whether a channel runs a technique."""

    STOP = 0
    RUN = 1
    PAUSE = 2
    SYNC = 3


class ParamType(IntEnum):
    """PARAM_TYPE of an EccParam."""

    INT = 0
    BOOLEAN = 1
    SINGLE = 2


class BoardType(IntEnum):
    """BOARD_TYPE from BL_GetChannelBoardType: chooses firmware and technique files."""

    UNKNOWN = 0
    ESSENTIAL = 1
    PREMIUM = 2
    DIGICORE = 3


class FirmwareCode(IntEnum):
    """ChannelInfo.FirmwareCode: KERNEL is the development package's firmware, ECAL the EC-Lab one."""

    NONE = 0
    INTERPR = 1
    UNKNOWN = 4
    KERNEL = 5
    INVALID = 8
    ECAL = 10
    ECAL4 = 11


class TechniqueId(IntEnum):
    """TECH_ID reported in DataInfo.TechniqueID."""

    OCV = 100
    CA = 101
    CP = 102
    CV = 103
    PEIS = 104
    GEIS = 107
    LOOP = 150
    CPLIMIT = 155
    CALIMIT = 157


class CurrentRange(IntEnum):
    """I_RANGE: full scale of the current measurement; index n >= 0 is 100 pA x 10**n."""

    KEEP = -1
    R_100pA = 0
    R_1nA = 1
    R_10nA = 2
    R_100nA = 3
    R_1uA = 4
    R_10uA = 5
    R_100uA = 6
    R_1mA = 7
    R_10mA = 8
    R_100mA = 9
    R_1A = 10
    BOOSTER = 11
    AUTO = 12

    @property
    def full_scale(self) -> float:
        """Largest current (A) this fixed range measures."""
        if not 0 <= self.value <= 10:
            raise ValueError(f"{self.name} has no fixed full scale")
        return 100e-12 * 10**self.value


class VoltageRange(IntEnum):
    """E_RANGE: potential range of the channel (V)."""

    R_2_5V = 0
    R_5V = 1
    R_10V = 2
    AUTO = 3


# DEVICE codes of BL_Connect's DeviceInfo.DeviceCode, for the instrument's model name.
DEVICE_NAMES: dict[int, str] = {
    0: "VMP", 1: "VMP2", 2: "MPG", 3: "BISTAT", 4: "MCS-200", 5: "VMP3", 6: "VSP", 7: "HCP-803", 8: "EPP-400",
    9: "EPP-4000", 10: "BISTAT2", 11: "FCT-150S", 12: "VMP-300", 13: "SP-50", 14: "SP-150", 15: "FCT-50S",
    16: "SP-300", 17: "CLB-500", 18: "HCP-1005", 19: "CLB-2000", 20: "VSP-300", 21: "SP-200", 22: "MPG2",
    23: "SP-100", 24: "MOSLED", 25: "KINEXXX", 26: "BCS-815", 27: "SP-240", 28: "MPG-205", 29: "MPG-210",
    30: "MPG-220", 31: "MPG-240", 32: "BP-300", 33: "VMP-3e", 34: "VSP-3e", 35: "SP-50e", 36: "SP-150e",
}


@dataclass(frozen=True)
class BoardFamily:
    """Files a board type needs: firmware and FPGA image, and the suffix of its technique (.ecc) files."""

    name: str
    board_type: BoardType
    firmware: str
    fpga: str
    ecc_suffix: str

    def technique_file(self, technique: str) -> str:
        """The .ecc file of ``technique`` ("ocv", "cplimit", ...) for this family, e.g. cplimit4.ecc."""
        return f"{technique}{self.ecc_suffix}.ecc"


BOARD_FAMILIES: dict[BoardType, BoardFamily] = {
    BoardType.ESSENTIAL: BoardFamily("VMP3", BoardType.ESSENTIAL, "kernel.bin", "Vmp_ii_0437_a6.xlx", ""),
    BoardType.PREMIUM: BoardFamily("VMP-300", BoardType.PREMIUM, "kernel4.bin", "vmp_iv_0395_aa.xlx", "4"),
    BoardType.DIGICORE: BoardFamily("Digicore", BoardType.DIGICORE, "kernel.bin", "", "5"),
}
