"""What the fake EClib knows of the .ecc technique files: labels, types, array sizes, defaults, valid values.

Written from the development package's technique tables independently of the driver's encoder, so a driver
that sends a label with the wrong setter or an index out of range is refused as the real library would (-4).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import PureWindowsPath

from operando.drivers.biologic import BoardType, ParamType, TechniqueId

INT, BOOL, SINGLE = ParamType.INT, ParamType.BOOLEAN, ParamType.SINGLE
STEPS = 100  # array width of step parameters (Step_number < 99 in the vendor's examples)


@dataclass(frozen=True)
class Field:
    """One label of a technique: setter type, number of indices, value when the caller leaves it out."""

    kind: ParamType
    size: int = 1
    default: float = 0.0


def _tests() -> dict[str, Field]:
    return {f"Test{n}_{part}": Field(INT if part == "Config" else SINGLE, STEPS)
            for n in (1, 2, 3) for part in ("Config", "Value")}


_RANGES = {"I_Range": Field(INT, 1, 12), "E_Range": Field(INT, 1, 2), "Bandwidth": Field(INT, 1, 5)}

TECHNIQUES: dict[str, tuple[TechniqueId, dict[str, Field]]] = {
    "ocv": (TechniqueId.OCV, {
        "Rest_time_T": Field(SINGLE, 1, 10.0), "Record_every_dE": Field(SINGLE), "Record_every_dT":
        Field(SINGLE, 1, 1.0), "E_Range": Field(INT, 1, 2)}),
    "cplimit": (TechniqueId.CPLIMIT, {
        "Current_step": Field(SINGLE, STEPS), "vs_initial": Field(BOOL, STEPS), "Duration_step":
        Field(SINGLE, STEPS), "Step_number": Field(INT), "Record_every_dT": Field(SINGLE, 1, 1.0),
        "Record_every_dE": Field(SINGLE), **_tests(), "Exit_Cond": Field(INT, STEPS), "N_Cycles": Field(INT),
        **_RANGES}),
    "calimit": (TechniqueId.CALIMIT, {
        "Voltage_step": Field(SINGLE, STEPS), "vs_initial": Field(BOOL, STEPS), "Duration_step":
        Field(SINGLE, STEPS), "Step_number": Field(INT), "Record_every_dT": Field(SINGLE, 1, 1.0),
        "Record_every_dI": Field(SINGLE), **_tests(), "Exit_Cond": Field(INT, STEPS), "N_Cycles": Field(INT),
        **_RANGES}),
    "cv": (TechniqueId.CV, {
        "vs_initial": Field(BOOL, 5), "Voltage_step": Field(SINGLE, 5), "Scan_Rate": Field(SINGLE, 5, 10.0),
        "Scan_number": Field(INT, 1, 2), "Record_every_dE": Field(SINGLE, 1, 1e-3), "Average_over_dE":
        Field(BOOL), "N_Cycles": Field(INT), "Begin_measuring_I": Field(SINGLE, 1, 0.5), "End_measuring_I":
        Field(SINGLE, 1, 1.0), **_RANGES}),
    "peis": (TechniqueId.PEIS, {
        "vs_initial": Field(BOOL), "vs_final": Field(BOOL), "Initial_Voltage_step": Field(SINGLE),
        "Final_Voltage_step": Field(SINGLE), "Duration_step": Field(SINGLE), "Step_number": Field(INT),
        "Record_every_dT": Field(SINGLE, 1, 1.0), "Record_every_dI": Field(SINGLE), "Final_frequency":
        Field(SINGLE, 1, 1.0), "Initial_frequency": Field(SINGLE, 1, 1e5), "sweep": Field(BOOL),
        "Amplitude_Voltage": Field(SINGLE, 1, 0.01), "Frequency_number": Field(INT, 1, 51),
        "Average_N_times": Field(INT, 1, 1), "Correction": Field(BOOL),
        "Wait_for_steady": Field(SINGLE, 1, 0.1), **_RANGES}),
}

FAMILY_SUFFIX = {BoardType.ESSENTIAL: "", BoardType.PREMIUM: "4", BoardType.DIGICORE: "5"}
FIRMWARE_FILES = {BoardType.ESSENTIAL: ("kernel.bin", "vmp_ii_0437_a6.xlx"),
                  BoardType.PREMIUM: ("kernel4.bin", "vmp_iv_0395_aa.xlx"),
                  BoardType.DIGICORE: ("kernel.bin", "")}


def base_name(path: str) -> str:
    """The file name of a path given with either separator, lower-cased (EClib runs on Windows)."""
    return PureWindowsPath(path).name.lower()


def parse_ecc(path: str) -> tuple[str, str] | None:
    """(technique, family suffix) of an .ecc file name such as cplimit4.ecc, or None if not a known one."""
    name = base_name(path)
    if not name.endswith(".ecc"):
        return None
    stem = name[:-4]
    suffix = stem[-1] if stem and stem[-1] in "45" else ""
    technique = stem[:-1] if suffix else stem
    return (technique, suffix) if technique in TECHNIQUES else None


def decode_value(kind: ParamType, word: int) -> float | int | bool:
    """The value an EccParam carries in its 32-bit ParamVal."""
    if kind is SINGLE:
        return struct.unpack("<f", struct.pack("<I", word))[0]
    if kind is BOOL:
        return word != 0
    return word - (1 << 32) if word >= 1 << 31 else word


def invalid_value(technique: str, board: BoardType, values: dict[str, list]) -> str | None:
    """Why the instrument would refuse these values, or None: ranges, counts, frequencies."""
    first = {label: entries[0] for label, entries in values.items()}
    if "Bandwidth" in first and not 1 <= first["Bandwidth"] <= (9 if board is BoardType.PREMIUM else 7):
        return f"Bandwidth {first['Bandwidth']} out of range"
    if not 0 <= first["E_Range"] <= 3:
        return f"E_Range {first['E_Range']} out of range"
    if "I_Range" in first and not -1 <= first["I_Range"] <= 12:
        return f"I_Range {first['I_Range']} out of range"
    if "Step_number" in first and not 0 <= first["Step_number"] < STEPS - 1:
        return f"Step_number {first['Step_number']} out of range"
    if "N_Cycles" in first and first["N_Cycles"] < 0:
        return f"N_Cycles {first['N_Cycles']} is negative"
    for label, entries in values.items():
        if any(isinstance(v, float) and not math.isfinite(v) for v in entries):
            return f"{label} is not finite"
    if technique == "cv" and any(rate <= 0 for rate in values["Scan_Rate"][1:]):
        return "Scan_Rate must be positive"
    if technique == "peis":
        if first["Initial_frequency"] <= 0 or first["Final_frequency"] <= 0:
            return "frequencies must be positive"
        if first["Frequency_number"] < 1 or first["Average_N_times"] < 1 or first["Amplitude_Voltage"] <= 0:
            return "Frequency_number, Average_N_times and Amplitude_Voltage must be positive"
    return None
