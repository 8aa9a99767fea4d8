"""Rows exactly as the instruments lay them out in BL_GetData buffers: time ticks and IEEE-754 float words."""

from __future__ import annotations

import struct

_FLOAT = struct.Struct("<f")
_WORD = struct.Struct("<I")

# Seconds per tick of the channel clock (float32 as CurrentValues.TimeBase carries it). Our choice: the driver
# always reads TimeBase from the instrument, so only its use, not its value, needs to be faithful.
TIME_BASE = {"VMP3": _FLOAT.unpack(_FLOAT.pack(24e-6))[0], "VMP-300": _FLOAT.unpack(_FLOAT.pack(20e-6))[0]}


def float_word(value: float) -> int:
    """The 32-bit word of ``value`` as a single-precision float (what BL_ConvertNumericIntoSingle undoes)."""
    return _WORD.unpack(_FLOAT.pack(value))[0]


def word_float(word: int) -> float:
    return _FLOAT.unpack(_WORD.pack(word))[0]


def time_words(t: float, time_base: float) -> tuple[int, int]:
    """(t_high, t_low): ``t`` s since the technique started, in ticks of ``time_base`` s, split at 32 bits."""
    ticks = round(t / time_base)
    return ticks >> 32, ticks & 0xFFFFFFFF


def ocv_row(premium: bool, time_base: float, t: float, E: float) -> tuple[int, ...]:
    """OCV: t_h, t_l, Ewe (VMP-300); VMP3 adds Ece (0 V: two-electrode cell, reference on the counter)."""
    high, low = time_words(t, time_base)
    if premium:
        return high, low, float_word(E)
    return high, low, float_word(E), float_word(0.0)


def dc_row(time_base: float, t: float, E: float, I: float, cycle: int) -> tuple[int, ...]:
    """CA, CP, CALIMIT, CPLIMIT on both families: t_h, t_l, Ewe, I, cycle."""
    high, low = time_words(t, time_base)
    return high, low, float_word(E), float_word(I), cycle


def cv_row(premium: bool, time_base: float, t: float, E_control: float, E: float, I: float,
           cycle: int) -> tuple[int, ...]:
    """CV: t_h, t_l, I, Ewe, cycle (VMP-300); VMP3 puts the control potential Ec first: Ec, I, Ewe."""
    high, low = time_words(t, time_base)
    if premium:
        return high, low, float_word(I), float_word(E), cycle
    return high, low, float_word(E_control), float_word(I), float_word(E), cycle


def eis_dc_row(time_base: float, t: float, E: float, I: float) -> tuple[int, ...]:
    """PEIS process 0 (DC sampling): t_h, t_l, Ewe, I."""
    high, low = time_words(t, time_base)
    return high, low, float_word(E), float_word(I)


def eis_frequency_row(premium: bool, frequency: float, abs_E: float, abs_I: float, phase: float, E: float,
                      I: float, t: float, current_range: int) -> tuple[int, ...]:
    """PEIS process 1, one frequency: freq, |Ewe|, |I|, Phase_Zwe (rad), Ewe, I, -, |Ece|, |Ice|, Phase_Zce,
    Ece, -, -, t (float s); VMP3 adds I_range."""
    words = (float_word(frequency), float_word(abs_E), float_word(abs_I), float_word(phase), float_word(E),
             float_word(I), 0, float_word(0.0), float_word(abs_I), float_word(0.0), float_word(0.0), 0, 0,
             float_word(t))
    return words if premium else (*words, current_range)
