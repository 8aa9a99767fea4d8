"""Hand-built BL_GetData buffers of both board families decode to the right times and values."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from operando.drivers.biologic import BiologicError
from operando.drivers.biologic._decoding import DataChunk, decode
from operando.drivers.biologic._structures import BoardType, TechniqueId
from operando.simulators.eclib import _rows

VMP3, VMP300 = BoardType.ESSENTIAL, BoardType.PREMIUM

# IEEE-754 single words of exactly representable values.
W_3_75 = 0x40700000
W_3_5 = 0x40600000
W_MINUS_2_POW_15 = 0xB8000000  # -3.0517578125e-05
W_0_5 = 0x3F000000
W_0_25 = 0x3E800000
W_MINUS_0_5 = 0xBF000000
W_1000 = 0x447A0000
W_12 = 0x41400000


def bitcast(word: int) -> float:
    return struct.unpack("<f", struct.pack("<I", word))[0]


def test_bitcast_words_are_the_values_named() -> None:
    assert [bitcast(w) for w in (W_3_75, W_3_5, W_MINUS_2_POW_15, W_0_5, W_1000)] == [
        3.75, 3.5, -2.0**-15, 0.5, 1000.0]


@pytest.mark.parametrize("board", [VMP3, VMP300])
def test_constant_current_rows_use_both_time_words(board: BoardType) -> None:
    # Row 1: 5 ticks; row 2: t_high = 2, t_low = 2**31 -> 2 * 2**32 + 2**31 ticks.
    words = [0, 5, W_3_5, W_MINUS_2_POW_15, 0,
             2, 0x80000000, W_3_75, W_MINUS_2_POW_15, 1]
    chunk = DataChunk(int(TechniqueId.CPLIMIT), 0, 10.0, 2, 5, words)
    points, impedance = decode(chunk, board, 0.5, bitcast)
    assert impedance == []
    assert [(p.t_device, p.E_we, p.I, p.cycle) for p in points] == [
        (10.0 + 2.5, 3.5, -2.0**-15, 0),
        (10.0 + 2**32 + 2**30, 3.75, -2.0**-15, 1),
    ]


def test_start_time_nan_counts_as_zero() -> None:
    chunk = DataChunk(int(TechniqueId.OCV), 0, math.nan, 1, 3, [0, 4, W_3_5])
    points, _ = decode(chunk, VMP300, 0.25, bitcast)
    assert (points[0].t_device, points[0].E_we, points[0].I) == (1.0, 3.5, 0.0)


def test_open_circuit_rows_differ_by_family() -> None:
    vmp3, _ = decode(DataChunk(int(TechniqueId.OCV), 0, 0.0, 1, 4, [0, 8, W_3_75, W_0_5]), VMP3, 0.5, bitcast)
    vmp300, _ = decode(DataChunk(int(TechniqueId.OCV), 0, 0.0, 1, 3, [0, 8, W_3_75]), VMP300, 0.5, bitcast)
    assert vmp3[0].E_we == vmp300[0].E_we == 3.75  # the VMP3's fourth word is Ece, not E_we
    with pytest.raises(BiologicError, match="expected 3"):
        decode(DataChunk(int(TechniqueId.OCV), 0, 0.0, 1, 4, [0, 8, W_3_75, W_0_5]), VMP300, 0.5, bitcast)


def test_cyclic_voltammetry_columns_differ_by_family() -> None:
    # VMP3: t_h, t_l, Ec, I, Ewe, cycle; VMP-300: t_h, t_l, I, Ewe, cycle.
    vmp3, _ = decode(DataChunk(int(TechniqueId.CV), 0, 0.0, 1, 6, [0, 2, W_3_5, W_0_25, W_3_75, 3]),
                     VMP3, 0.5, bitcast)
    vmp300, _ = decode(DataChunk(int(TechniqueId.CV), 0, 0.0, 1, 5, [0, 2, W_0_25, W_3_75, 3]),
                       VMP300, 0.5, bitcast)
    for points in (vmp3, vmp300):
        assert [(p.t_device, p.E_we, p.I, p.cycle) for p in points] == [(1.0, 3.75, 0.25, 3)]


@pytest.mark.parametrize("board", [VMP3, VMP300])
def test_impedance_rows_give_z_from_moduli_and_phase(board: BoardType) -> None:
    # freq 1 kHz, |Ewe| 0.5 V, |I| 0.25 A -> |Z| = 2 ohm, phase -0.5 rad; Ewe 3.5 V, I -2**-15 A, t 12 s.
    row = [W_1000, W_0_5, W_0_25, W_MINUS_0_5, W_3_5, W_MINUS_2_POW_15, 0, 0, W_0_25, 0, 0, 0, 0, W_12]
    if board is VMP3:
        row.append(7)  # I_range
    chunk = DataChunk(int(TechniqueId.PEIS), 1, 100.0, 1, len(row), row)
    points, impedance = decode(chunk, board, 0.5, bitcast)
    assert points == []
    (z,) = impedance
    assert (z.t_device, z.frequency, z.E_dc, z.I_dc) == (112.0, 1000.0, 3.5, -2.0**-15)
    assert z.Z_re == pytest.approx(2 * math.cos(0.5), rel=1e-12)
    assert z.Z_im == pytest.approx(-2 * math.sin(0.5), rel=1e-12)


def test_impedance_dc_rows_are_points() -> None:
    points, impedance = decode(DataChunk(int(TechniqueId.PEIS), 0, 0.0, 1, 4, [0, 6, W_3_5, W_0_25]),
                               VMP300, 0.5, bitcast)
    assert impedance == []
    assert [(p.t_device, p.E_we, p.I) for p in points] == [(3.0, 3.5, 0.25)]


def test_an_unknown_technique_is_a_data_error_not_a_guess() -> None:
    with pytest.raises(BiologicError) as caught:
        decode(DataChunk(999, 0, 0.0, 1, 3, [0, 0, 0]), VMP300, 0.5, bitcast)
    assert (caught.value.code, caught.value.name) == (-404, "TECH_DATACORRUPTED")


@given(t=st.floats(min_value=0.0, max_value=300 * 3600.0), E=st.floats(min_value=-10.0, max_value=10.0),
       I=st.floats(min_value=-1.0, max_value=1.0))
@settings(max_examples=200, deadline=None)
def test_rows_the_fake_writes_decode_to_what_it_measured(t: float, E: float, I: float) -> None:
    # The fake's encoder and the driver's decoder are written independently; they must agree to one clock
    # tick in time and to single precision in value, far past 2**32 ticks (about 24 h at 20 us).
    time_base = _rows.TIME_BASE["VMP-300"]
    chunk = DataChunk(int(TechniqueId.CALIMIT), 0, 0.0, 1, 5, _rows.dc_row(time_base, t, E, I, 2))
    (point,), _ = decode(chunk, VMP300, time_base, bitcast)
    assert abs(point.t_device - t) <= time_base / 2 + 1e-9 * t
    assert point.E_we == struct.unpack("<f", struct.pack("<f", E))[0]
    assert point.I == struct.unpack("<f", struct.pack("<f", I))[0]
    assert point.cycle == 2
