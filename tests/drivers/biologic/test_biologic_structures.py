"""The EClib structures have the DLL's memory layout: sizes and offsets computed by hand from the headers."""

import ctypes

from operando.drivers.biologic._structures import (
    BOARD_FAMILIES,
    BoardType,
    ChannelInfo,
    CurrentValues,
    DataBuffer,
    DataInfo,
    DeviceInfo,
    EccParam,
    EccParams,
)

POINTER_SIZE = ctypes.sizeof(ctypes.c_void_p)


def test_device_info_is_eleven_int32() -> None:
    assert ctypes.sizeof(DeviceInfo) == 11 * 4
    assert DeviceInfo.NumberOfChannels.offset == 12
    assert DeviceInfo.NbOfConnectedPC.offset == 40


def test_channel_info_is_nineteen_int32() -> None:
    assert ctypes.sizeof(ChannelInfo) == 19 * 4
    assert ChannelInfo.FirmwareCode.offset == 12
    assert ChannelInfo.State.offset == 14 * 4
    assert ChannelInfo.NbOfTechniques.offset == 18 * 4


def test_current_values_mixes_int32_and_float32_without_padding() -> None:
    assert ctypes.sizeof(CurrentValues) == 19 * 4
    assert CurrentValues.TimeBase.offset == 8
    assert CurrentValues.Ewe.offset == 12
    assert CurrentValues.I.offset == 40
    assert CurrentValues.ElapsedTime.offset == 52
    assert CurrentValues.OptPos.offset == 72


def test_data_info_is_packed_to_four_bytes() -> None:
    # Seven int32 (28 bytes), then the double at 28, not at the naturally aligned 32.
    assert DataInfo.StartTime.offset == 28
    assert DataInfo.MuxPad.offset == 36
    assert ctypes.sizeof(DataInfo) == 40


def test_ecc_param_layout() -> None:
    assert EccParam.ParamStr.offset == 0
    assert EccParam.ParamStr.size == 64
    assert EccParam.ParamType.offset == 64
    assert EccParam.ParamVal.offset == 68
    assert EccParam.ParamIndex.offset == 72
    assert ctypes.sizeof(EccParam) == 76


def test_ecc_params_pointer_follows_the_count_without_padding() -> None:
    assert EccParams.pParams.offset == 4
    assert ctypes.sizeof(EccParams) == 4 + POINTER_SIZE


def test_data_buffer_holds_a_thousand_words() -> None:
    assert ctypes.sizeof(DataBuffer) == 4000


def test_board_families_name_their_files() -> None:
    vmp3 = BOARD_FAMILIES[BoardType.ESSENTIAL]
    vmp300 = BOARD_FAMILIES[BoardType.PREMIUM]
    assert (vmp3.firmware, vmp3.fpga, vmp3.technique_file("cplimit")) == (
        "kernel.bin", "Vmp_ii_0437_a6.xlx", "cplimit.ecc")
    assert (vmp300.firmware, vmp300.fpga, vmp300.technique_file("cplimit")) == (
        "kernel4.bin", "vmp_iv_0395_aa.xlx", "cplimit4.ecc")
    assert BOARD_FAMILIES[BoardType.DIGICORE].technique_file("ocv") == "ocv5.ecc"
