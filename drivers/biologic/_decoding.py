"""BL_GetData buffers -> points: row layouts per board family, technique, process; time, float words."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from operando.drivers.biologic._errors import error_for
from operando.drivers.biologic._structures import BoardType, TechniqueId

from operando.roles.potentiostat import ImpedancePoint, Point

_DC = ("t_high", "t_low", "Ewe", "I", "cycle")
_EIS_FREQUENCY = ("freq", "abs_Ewe", "abs_I", "phase_Zwe", "Ewe", "I", "-", "abs_Ece", "abs_Ice", "phase_Zce",
                  "Ece", "-", "-", "t")
_INTEGER_COLUMNS = frozenset({"t_high", "t_low", "cycle", "I_range"})

# (board type, technique, process index) -> column names of one row.
LAYOUTS: dict[tuple[BoardType, TechniqueId, int], tuple[str, ...]] = {}
for _technique in (TechniqueId.CA, TechniqueId.CP, TechniqueId.CALIMIT, TechniqueId.CPLIMIT):
    LAYOUTS[BoardType.ESSENTIAL, _technique, 0] = _DC
    LAYOUTS[BoardType.PREMIUM, _technique, 0] = _DC
LAYOUTS.update({
    (BoardType.ESSENTIAL, TechniqueId.OCV, 0): ("t_high", "t_low", "Ewe", "Ece"),
    (BoardType.PREMIUM, TechniqueId.OCV, 0): ("t_high", "t_low", "Ewe"),
    (BoardType.ESSENTIAL, TechniqueId.CV, 0): ("t_high", "t_low", "Ec", "I", "Ewe", "cycle"),
    (BoardType.PREMIUM, TechniqueId.CV, 0): ("t_high", "t_low", "I", "Ewe", "cycle"),
    (BoardType.ESSENTIAL, TechniqueId.PEIS, 0): ("t_high", "t_low", "Ewe", "I"),
    (BoardType.PREMIUM, TechniqueId.PEIS, 0): ("t_high", "t_low", "Ewe", "I"),
    (BoardType.ESSENTIAL, TechniqueId.PEIS, 1): (*_EIS_FREQUENCY, "I_range"),
    (BoardType.PREMIUM, TechniqueId.PEIS, 1): _EIS_FREQUENCY,
})


@dataclass(frozen=True)
class DataChunk:
    """One BL_GetData answer, copied out of the ctypes buffers: NbRows x NbCols words of one process."""

    technique_id: int
    process_index: int
    start_time: float  # s; EClib may report NaN, read as 0
    nb_rows: int
    nb_cols: int
    words: Sequence[int]


def decode(chunk: DataChunk, board_type: BoardType, time_base: float, to_float: Callable[[int], float],
           ) -> tuple[list[Point], list[ImpedancePoint]]:
    """Decode ``chunk``: times from (t_high, t_low) ticks of ``time_base`` s, floats through ``to_float``."""
    try:
        technique = TechniqueId(chunk.technique_id)
        layout = LAYOUTS[board_type, technique, chunk.process_index]
    except (ValueError, KeyError):
        raise error_for(-404, "BL_GetData", f"no known row layout for technique {chunk.technique_id}, "
                        f"process {chunk.process_index} on a {board_type.name} board") from None
    if chunk.nb_cols != len(layout) or len(chunk.words) < chunk.nb_rows * chunk.nb_cols:
        raise error_for(-404, "BL_GetData", f"{technique.name} rows have {chunk.nb_cols} columns "
                        f"({len(chunk.words)} words for {chunk.nb_rows} rows), expected {len(layout)}")
    start = 0.0 if math.isnan(chunk.start_time) else chunk.start_time
    points: list[Point] = []
    impedance: list[ImpedancePoint] = []
    width = chunk.nb_cols
    for row_start in range(0, chunk.nb_rows * width, width):
        row = chunk.words[row_start:row_start + width]
        values = {name: (word if name in _INTEGER_COLUMNS else to_float(word))
                  for name, word in zip(layout, row, strict=True) if name != "-"}
        if "t" in values:
            t = start + values["t"]
        else:
            t = start + time_base * ((values["t_high"] << 32) + values["t_low"])
        if chunk.process_index == 1:
            impedance.append(_impedance_point(t, values))
        else:
            points.append(Point(t_device=t, E_we=values["Ewe"], I=values.get("I", 0.0),
                                cycle=int(values.get("cycle", 0))))
    return points, impedance


def _impedance_point(t: float, values: dict[str, float]) -> ImpedancePoint:
    # |Z| = |Ewe| / |I|; the phase word is Z's phase in radians.
    modulus = values["abs_Ewe"] / values["abs_I"] if values["abs_I"] != 0 else math.nan
    phase = values["phase_Zwe"]
    return ImpedancePoint(t_device=t, frequency=values["freq"], Z_re=modulus * math.cos(phase),
                          Z_im=modulus * math.sin(phase), E_dc=values["Ewe"], I_dc=values["I"])
