"""The fake EClib answers raw ctypes calls with the DLL's codes, structures and buffer limits."""

from __future__ import annotations

import ctypes
from ctypes import byref, c_double, c_float, c_int32, c_uint32

import pytest
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
    TimeWords,
)
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.eclib import FakeEClib


class Clock:
    """A hand-driven clock for calling the fake without an event loop."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def connected(board: str = "VMP300", firmware: bool = True) -> tuple[FakeEClib, Clock, int]:
    clock = Clock()
    fake = FakeEClib(SimulatedCell(CellParameters(initial_soc=0.5), seed=1), clock, board=board)
    connection, info = c_int32(), DeviceInfo()
    assert fake.BL_Connect(b"USB0", 5, byref(connection), byref(info)) == 0
    if firmware:
        kernel, fpga = (b"kernel4.bin", b"vmp_iv_0395_aa.xlx") if board == "VMP300" else (
            b"kernel.bin", b"Vmp_ii_0437_a6.xlx")
        channels, results = ChannelsArray(True), ResultsArray()
        assert fake.BL_LoadFirmware(connection.value, channels, results, 16, False, True, kernel, fpga) == 0
    return fake, clock, connection.value


def params(fake: FakeEClib, *definitions: tuple[str, str, object, int]) -> tuple[EccParams, object]:
    """An EccParams from (setter, label, value, index) through the fake's own Define calls."""
    array = (EccParam * len(definitions))()
    setters = {"int": fake.BL_DefineIntParameter, "bool": fake.BL_DefineBoolParameter,
               "single": fake.BL_DefineSglParameter}
    for slot, (kind, label, value, index) in enumerate(definitions):
        assert setters[kind](label.encode(), value, index, byref(array[slot])) == 0
    return EccParams(len(definitions), array), array


OCV_FAST = (("single", "Rest_time_T", 30.0, 0), ("single", "Record_every_dT", 0.01, 0),
            ("single", "Record_every_dE", 0.0, 0), ("int", "E_Range", 2, 0))


def test_define_parameter_encodes_label_type_bits_and_index() -> None:
    fake, _, _ = connected()
    single, integer, boolean = EccParam(), EccParam(), EccParam()
    assert fake.BL_DefineSglParameter(b"Current_step", 1.5, 3, byref(single)) == 0
    assert (single.ParamStr, single.ParamType, single.ParamVal, single.ParamIndex) == (
        b"Current_step", 2, 0x3FC00000, 3)
    assert fake.BL_DefineIntParameter(b"I_Range", -1, 0, byref(integer)) == 0
    assert (integer.ParamType, integer.ParamVal) == (0, 0xFFFFFFFF)
    assert fake.BL_DefineBoolParameter(b"vs_initial", True, 0, byref(boolean)) == 0
    assert (boolean.ParamType, boolean.ParamVal) == (1, 1)
    assert fake.BL_DefineIntParameter(b"N_Cycles", 1.5, 0, byref(integer)) == -4
    assert fake.BL_DefineSglParameter(b"x" * 64, 1.0, 0, byref(single)) == -4


def test_calls_before_connecting_say_not_connected() -> None:
    clock = Clock()
    fake = FakeEClib(SimulatedCell(CellParameters()), clock)
    values = CurrentValues()
    assert fake.BL_GetCurrentValues(1, 0, byref(values)) == -1
    assert fake.BL_Connect(b"USB7", 5, byref(c_int32()), byref(DeviceInfo())) == -201


def test_no_firmware_means_minus_308() -> None:
    fake, _, connection = connected(firmware=False)
    info = ChannelInfo()
    assert fake.BL_GetChannelInfos(connection, 0, byref(info)) == -308
    assert info.FirmwareCode == 0
    bundle, _keep = params(fake, *OCV_FAST)
    assert fake.BL_LoadTechnique(connection, 0, b"ocv4.ecc", bundle, True, True, False) == -308


def test_firmware_files_must_match_the_board() -> None:
    fake, _, connection = connected(firmware=False)
    code = fake.BL_LoadFirmware(connection, ChannelsArray(True), ResultsArray(), 16, False, True,
                                b"kernel.bin", b"vmp_iv_0395_aa.xlx")
    assert code == -302


@pytest.mark.parametrize(("board", "ecc", "code"), [
    ("VMP300", b"ocv.ecc", -401), ("VMP300", b"ocv5.ecc", -401), ("VMP3", b"ocv4.ecc", -401),
    ("VMP3", b"ocv.ecc", 0), ("VMP300", b"C:\\EC-Lab Development Package\\ecc\\ocv4.ecc", 0),
    ("VMP300", b"gcpl4.ecc", -400),
])
def test_technique_files_must_match_the_board_family(board: str, ecc: bytes, code: int) -> None:
    fake, _, connection = connected(board)
    bundle, _keep = params(fake, *OCV_FAST)
    assert fake.BL_LoadTechnique(connection, 0, ecc, bundle, True, True, False) == code


@pytest.mark.parametrize("definition", [
    ("single", "Rest_Time_T", 30.0, 0),   # misspelt label
    ("int", "Rest_time_T", 30, 0),        # a single sent through the int setter
    ("single", "Rest_time_T", 30.0, 1),   # index beyond a scalar
    ("int", "E_Range", 7, 0),             # no such range
])
def test_bad_labels_types_indices_and_values_are_invalid_parameters(definition: tuple) -> None:
    fake, _, connection = connected()
    bundle, _keep = params(fake, *OCV_FAST, definition)
    assert fake.BL_LoadTechnique(connection, 0, b"ocv4.ecc", bundle, True, True, False) == -4


def test_loading_or_starting_a_running_channel_is_minus_13() -> None:
    fake, _, connection = connected()
    bundle, _keep = params(fake, *OCV_FAST)
    assert fake.BL_LoadTechnique(connection, 0, b"ocv4.ecc", bundle, True, True, False) == 0
    assert fake.BL_StartChannel(connection, 0) == 0
    assert fake.BL_LoadTechnique(connection, 0, b"ocv4.ecc", bundle, True, True, False) == -13
    assert fake.BL_StartChannel(connection, 0) == -13
    assert fake.BL_UpdateParameters(connection, 0, 1, byref(bundle), b"ocv4.ecc") == -15
    assert fake.BL_StopChannel(connection, 0) == 0
    assert fake.BL_GetChannelInfos(connection, 1, byref(ChannelInfo())) == -3


def test_get_data_hands_back_whole_rows_of_at_most_1000_words() -> None:
    fake, clock, connection = connected()
    bundle, _keep = params(fake, *OCV_FAST)
    assert fake.BL_LoadTechnique(connection, 0, b"ocv4.ecc", bundle, True, True, False) == 0
    assert fake.BL_StartChannel(connection, 0) == 0
    clock.now = 40.0
    buffer, info, values = DataBuffer(), DataInfo(), CurrentValues()
    sizes, states, times = [], [], []
    while True:
        assert fake.BL_GetData(connection, 0, buffer, byref(info), byref(values)) == 0
        states.append(values.State)
        if info.NbRows == 0:
            break
        sizes.append((info.NbRows, info.NbCols))
        times += [buffer[row * 3 + 1] * values.TimeBase for row in range(info.NbRows)]
    # OCV on a VMP-300: 3 words a row, so 333 rows (999 words) per full call; 30 s at 10 ms is 3001 rows.
    assert sizes[0] == (333, 3)
    assert all(rows * cols <= 1000 for rows, cols in sizes)
    assert sum(rows for rows, _ in sizes) == 3001
    assert states[-1] == 0  # stopped once the 30 s rest was over
    assert times[-1] == pytest.approx(30.0, abs=1e-4)


def test_impedance_rows_come_one_process_per_call() -> None:
    fake, clock, connection = connected("VMP3")
    bundle, _keep = params(fake, ("single", "Initial_frequency", 1000.0, 0),
                           ("single", "Final_frequency", 10.0, 0), ("int", "Frequency_number", 3, 0),
                           ("single", "Amplitude_Voltage", 0.01, 0),
                           ("bool", "vs_initial", True, 0))
    assert fake.BL_LoadTechnique(connection, 0, b"peis.ecc", bundle, True, True, False) == 0
    assert fake.BL_StartChannel(connection, 0) == 0
    clock.now = 10.0
    buffer, info, values = DataBuffer(), DataInfo(), CurrentValues()
    shapes = []
    while fake.BL_GetData(connection, 0, buffer, byref(info), byref(values)) == 0 and info.NbRows:
        shapes.append((info.ProcessIndex, info.NbRows, info.NbCols, info.TechniqueID))
    assert shapes == [(0, 1, 4, 104), (1, 1, 15, 104)] * 3


def test_conversions_bitcast_and_scale_time_words() -> None:
    fake, _, _ = connected()
    value, seconds = c_float(), c_double()
    assert fake.BL_ConvertNumericIntoSingle(0x40700000, byref(value)) == 0
    assert value.value == 3.75
    assert fake.BL_ConvertChannelNumericIntoSingle(0xBF000000, byref(value), 2) == 0
    assert value.value == -0.5
    assert fake.BL_ConvertChannelNumericIntoSingle(0, byref(value), 9) == -4
    assert fake.BL_ConvertTimeChannelNumericIntoSeconds(TimeWords(1, 2), byref(seconds), 0.5, 2) == 0
    assert seconds.value == 0.5 * (2**32 + 2)


def test_library_version_and_error_messages() -> None:
    fake, _, _ = connected()
    text, size = ctypes.create_string_buffer(64), c_uint32(64)
    assert fake.BL_GetLibVersion(text, byref(size)) == 0
    assert text.value.startswith(b"6.")
    assert size.value == len(b"6.06 (simulated)") + 1  # in: the buffer's size; out: what was written
    assert fake.BL_GetErrorMsg(-401, text, byref(c_uint32(8))) == -4  # too small a buffer
    size = c_uint32(64)
    assert fake.BL_GetErrorMsg(-401, text, byref(size)) == 0
    assert text.value == b"ECC file not compatible with the channel firmware"
