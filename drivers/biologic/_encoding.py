"""Techniques -> EClib parameter lists: the .ecc file, each label through its typed setter, limits as Tests.

Every label's type comes from an explicit per-technique table: a float sent through the int setter silently
sets something else on the instrument, so nothing is inferred from Python types. Limits the instrument cannot
test itself (charge, dE/dt, state of charge, more than three tests) are returned as ``engine_limits``: the
engine checks every limit in software anyway, these are simply not also enforced by the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from operando.drivers.biologic._errors import BiologicParameterError
from operando.drivers.biologic._structures import (
    BoardFamily,
    CurrentRange,
    ParamType,
    TechniqueId,
    VoltageRange,
)

from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
    Technique,
)

INT, BOOL, SINGLE = ParamType.INT, ParamType.BOOLEAN, ParamType.SINGLE

# The sources disagree on Scan_Rate's unit (PyExpLabSys and kbio users: mV/s; easy-biologic: V/s). We send
# mV/s; the fake EClib reads it the same way. Check against the development package PDF on a real unit.
SCAN_RATE_UNIT = 1e-3  # V/s per unit of Scan_Rate

HOLD_SIGN_MARGIN = 5e-3  # V: closer than this to the hold voltage, the present potential tells no direction
DC_BANDWIDTH = 5
EIS_BANDWIDTH = 7
TEST_SLOTS = 3

_TEST_LABELS = {f"Test{n}_{part}": (INT if part == "Config" else SINGLE)
                for n in range(1, TEST_SLOTS + 1) for part in ("Config", "Value")}

# label -> setter type, per technique file (without family suffix); order is the order sent.
PARAMETER_TYPES: dict[str, dict[str, ParamType]] = {
    "ocv": {"Rest_time_T": SINGLE, "Record_every_dE": SINGLE, "Record_every_dT": SINGLE, "E_Range": INT},
    "cplimit": {"Current_step": SINGLE, "vs_initial": BOOL, "Duration_step": SINGLE, "Step_number": INT,
                "Record_every_dT": SINGLE, "Record_every_dE": SINGLE, **_TEST_LABELS, "Exit_Cond": INT,
                "N_Cycles": INT, "I_Range": INT, "E_Range": INT, "Bandwidth": INT},
    "calimit": {"Voltage_step": SINGLE, "vs_initial": BOOL, "Duration_step": SINGLE, "Step_number": INT,
                "Record_every_dT": SINGLE, "Record_every_dI": SINGLE, **_TEST_LABELS, "Exit_Cond": INT,
                "N_Cycles": INT, "I_Range": INT, "E_Range": INT, "Bandwidth": INT},
    "cv": {"vs_initial": BOOL, "Voltage_step": SINGLE, "Scan_Rate": SINGLE, "Scan_number": INT,
           "Record_every_dE": SINGLE, "Average_over_dE": BOOL, "N_Cycles": INT, "Begin_measuring_I": SINGLE,
           "End_measuring_I": SINGLE, "I_Range": INT, "E_Range": INT, "Bandwidth": INT},
    "peis": {"vs_initial": BOOL, "vs_final": BOOL, "Initial_Voltage_step": SINGLE,
             "Final_Voltage_step": SINGLE, "Duration_step": SINGLE, "Step_number": INT,
             "Record_every_dT": SINGLE, "Record_every_dI": SINGLE, "Final_frequency": SINGLE,
             "Initial_frequency": SINGLE, "sweep": BOOL, "Amplitude_Voltage": SINGLE, "Frequency_number": INT,
             "Average_N_times": INT, "Correction": BOOL, "Wait_for_steady": SINGLE, "I_Range": INT,
             "E_Range": INT, "Bandwidth": INT},
}

TECHNIQUE_IDS = {"ocv": TechniqueId.OCV, "cplimit": TechniqueId.CPLIMIT, "calimit": TechniqueId.CALIMIT,
                 "cv": TechniqueId.CV, "peis": TechniqueId.PEIS}

# Test{n}_Config bits: 0 active, 1 AND with the next test (0 = OR), 2-4 comparison, 5 and up the variable.
_COMPARISON_BITS = {"<": 0, ">": 1}
_VARIABLE_BITS = {"E": 0, "AUX1": 1, "AUX2": 2, "I": 3}

# Exit_Cond: what the device does when a test is met.
EXIT_NEXT_STEP, EXIT_NEXT_TECHNIQUE, EXIT_STOP = 0, 1, 2


def limit_test_word(variable: Literal["E", "AUX1", "AUX2", "I"], comparison: Literal["<", ">"], *,
                and_next: bool = False) -> int:
    """The Test{n}_Config word of an active test "variable comparison value" (e.g. I > limit = 101)."""
    return 1 | (2 if and_next else 0) | (_COMPARISON_BITS[comparison] << 2) | (_VARIABLE_BITS[variable] << 5)


@dataclass(frozen=True)
class EccValue:
    """One parameter to define: label, setter type, value (SI except where the table says), array index."""

    label: str
    kind: ParamType
    value: int | float | bool
    index: int = 0


@dataclass(frozen=True)
class EncodedTechnique:
    """A technique ready for BL_LoadTechnique, plus the limits only the engine will enforce."""

    name: str
    technique_id: TechniqueId
    ecc_file: str
    parameters: tuple[EccValue, ...]
    device_limits: tuple[Limit, ...]
    engine_limits: tuple[Limit, ...]


class _Builder:
    """Collects parameters for one technique, typing each from the technique's table."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.types = PARAMETER_TYPES[name]
        self.values: list[EccValue] = []

    def add(self, label: str, value: float | bool, index: int = 0) -> None:
        kind = self.types[label]
        if kind is INT:
            if isinstance(value, float) and not value.is_integer():
                raise BiologicParameterError(f"{self.name}: {label} must be an integer, got {value!r}")
            typed: int | float | bool = int(value)
        elif kind is BOOL:
            typed = bool(value)
        else:
            typed = float(value)
            if not math.isfinite(typed):
                raise BiologicParameterError(f"{self.name}: {label} must be finite, got {value!r}")
        self.values.append(EccValue(label, kind, typed, index))


def _positive(technique: str, field: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise BiologicParameterError(f"{technique}: {field} must be a positive finite number, got {value!r}")
    return float(value)


def _non_negative(technique: str, field: str, value: float | None) -> float:
    if value is None:
        return 0.0
    if not (math.isfinite(value) and value >= 0):
        raise BiologicParameterError(f"{technique}: {field} must be >= 0, got {value!r}")
    return float(value)


def current_range_for(current: float) -> CurrentRange:
    """The smallest fixed current range whose full scale holds ``current`` A (CP needs a fixed range)."""
    magnitude = abs(current)
    # Below 1 uA full scale the noise floor dominates a battery's currents; start there.
    for candidate in (CurrentRange(n) for n in range(CurrentRange.R_1uA, CurrentRange.R_1A + 1)):
        if candidate.full_scale >= magnitude:
            return candidate
    raise BiologicParameterError(f"current {current!r} A exceeds the 1 A range (booster not supported)")


def _split_limits(limits: tuple[Limit, ...], duration: float, current_sign: int,
                  ) -> tuple[float, list[tuple[int, float]], list[Limit], list[Limit]]:
    """Device duration, (Test config, value) pairs, limits the device enforces, limits left to the engine.

    ``current_sign`` is the expected sign of I during the step (+1 charge, -1 discharge, 0 unknown): the
    device compares signed I, so |I| tests can only be encoded when it is known.
    """
    tests: list[tuple[int, float]] = []
    device: list[Limit] = []
    engine: list[Limit] = []
    for limit in limits:
        encoded: tuple[int, float] | None = None
        if limit.quantity == "time" and limit.comparison == ">":
            duration = min(duration, limit.value)
            device.append(limit)
            continue
        if limit.quantity == "E_we":
            encoded = (limit_test_word("E", limit.comparison), limit.value)
        elif limit.quantity == "abs_I" and current_sign != 0:
            # |I| > v is I > v while charging, I < -v while discharging; |I| < v likewise mirrored.
            comparison = limit.comparison if current_sign > 0 else ("<" if limit.comparison == ">" else ">")
            encoded = (limit_test_word("I", comparison), current_sign * limit.value)
        if encoded is not None and len(tests) < TEST_SLOTS:
            tests.append(encoded)
            device.append(limit)
        else:
            engine.append(limit)
    return duration, tests, device, engine


def _add_tests(builder: _Builder, tests: list[tuple[int, float]]) -> None:
    for slot in range(TEST_SLOTS):
        config, value = tests[slot] if slot < len(tests) else (0, 0.0)
        builder.add(f"Test{slot + 1}_Config", config)
        builder.add(f"Test{slot + 1}_Value", value)


def encode(technique: Technique, family: BoardFamily, *, present_potential: float | None = None,
           previous_current: float = 0.0) -> EncodedTechnique:
    """Encode ``technique`` for a ``family`` board.

    A voltage hold's current sign comes from ``present_potential`` (V) when the hold is clearly above or
    below it, else from ``previous_current`` (A, last point of the technique before: a CC-CV hold goes on
    charging); with neither, |I| limits stay with the engine.
    """
    if isinstance(technique, OpenCircuit):
        return _open_circuit(technique, family)
    if isinstance(technique, ConstantCurrent):
        return _constant_current(technique, family)
    if isinstance(technique, ConstantVoltage):
        return _constant_voltage(technique, family, present_potential, previous_current)
    if isinstance(technique, CyclicVoltammetry):
        return _cyclic_voltammetry(technique, family)
    if isinstance(technique, Impedance):
        return _impedance(technique, family)
    raise BiologicParameterError(f"the BioLogic driver cannot run {type(technique).__name__}")


def _finish(builder: _Builder, family: BoardFamily, device: list[Limit], engine: list[Limit],
            ) -> EncodedTechnique:
    return EncodedTechnique(builder.name, TECHNIQUE_IDS[builder.name], family.technique_file(builder.name),
                            tuple(builder.values), tuple(device), tuple(engine))


def _open_circuit(technique: OpenCircuit, family: BoardFamily) -> EncodedTechnique:
    duration = _positive("OCV", "duration", technique.duration)
    # OCV has no Test parameters: only its duration stops it on the device.
    duration, _, device, engine = _split_limits(
        tuple(limit for limit in technique.limits if limit.quantity == "time"), duration, 0)
    engine += [limit for limit in technique.limits if limit.quantity != "time"]
    builder = _Builder("ocv")
    builder.add("Rest_time_T", duration)
    builder.add("Record_every_dE", _non_negative("OCV", "recording.dE", technique.recording.dE))
    builder.add("Record_every_dT", _positive("OCV", "recording.dt", technique.recording.dt))
    builder.add("E_Range", VoltageRange.R_10V)
    return _finish(builder, family, device, engine)


def _constant_current(technique: ConstantCurrent, family: BoardFamily) -> EncodedTechnique:
    duration = _positive("CP", "duration", technique.duration)
    if not math.isfinite(technique.current):
        raise BiologicParameterError(f"CP: current must be finite, got {technique.current!r}")
    sign = (technique.current > 0) - (technique.current < 0)
    duration, tests, device, engine = _split_limits(technique.limits, duration, sign)
    builder = _Builder("cplimit")
    builder.add("Current_step", technique.current)
    builder.add("vs_initial", False)
    builder.add("Duration_step", duration)
    builder.add("Step_number", 0)
    builder.add("Record_every_dT", _positive("CP", "recording.dt", technique.recording.dt))
    builder.add("Record_every_dE", _non_negative("CP", "recording.dE", technique.recording.dE))
    _add_tests(builder, tests)
    builder.add("Exit_Cond", EXIT_NEXT_TECHNIQUE)
    builder.add("N_Cycles", 0)
    builder.add("I_Range", current_range_for(technique.current))
    builder.add("E_Range", VoltageRange.R_10V)
    builder.add("Bandwidth", DC_BANDWIDTH)
    return _finish(builder, family, device, engine)


def _constant_voltage(technique: ConstantVoltage, family: BoardFamily, present_potential: float | None,
                      previous_current: float) -> EncodedTechnique:
    duration = _positive("CA", "duration", technique.duration)
    if not math.isfinite(technique.voltage):
        raise BiologicParameterError(f"CA: voltage must be finite, got {technique.voltage!r}")
    sign = 0
    # Right after a constant-current step the potential still sits at the hold voltage: the hold carries on in
    # that current's direction, if it was clearly flowing (above every |I| threshold, not noise).
    thresholds = [limit.value for limit in technique.limits if limit.quantity == "abs_I"]
    if thresholds and abs(previous_current) >= min(thresholds):
        sign = 1 if previous_current > 0 else -1
    if present_potential is not None and math.isfinite(present_potential):
        # Holding clearly above the present potential charges the cell (I > 0), below it discharges.
        if abs(technique.voltage - present_potential) > HOLD_SIGN_MARGIN:
            sign = 1 if technique.voltage > present_potential else -1
    duration, tests, device, engine = _split_limits(technique.limits, duration, sign)
    builder = _Builder("calimit")
    builder.add("Voltage_step", technique.voltage)
    builder.add("vs_initial", False)
    builder.add("Duration_step", duration)
    builder.add("Step_number", 0)
    builder.add("Record_every_dT", _positive("CA", "recording.dt", technique.recording.dt))
    builder.add("Record_every_dI", _non_negative("CA", "recording.dI", technique.recording.dI))
    _add_tests(builder, tests)
    builder.add("Exit_Cond", EXIT_NEXT_TECHNIQUE)
    builder.add("N_Cycles", 0)
    builder.add("I_Range", CurrentRange.AUTO)
    builder.add("E_Range", VoltageRange.R_10V)
    builder.add("Bandwidth", DC_BANDWIDTH)
    return _finish(builder, family, device, engine)


def _cyclic_voltammetry(technique: CyclicVoltammetry, family: BoardFamily) -> EncodedTechnique:
    scan_rate = _positive("CV", "scan_rate", technique.scan_rate)
    if not (isinstance(technique.cycles, int) and technique.cycles >= 1):
        raise BiologicParameterError(f"CV: cycles must be a whole number >= 1, got {technique.cycles!r}")
    vertices = (technique.start, technique.vertex_1, technique.vertex_2, technique.start, technique.end)
    record_dE = technique.recording.dE or scan_rate * _positive("CV", "recording.dt", technique.recording.dt)
    builder = _Builder("cv")
    for index, vertex in enumerate(vertices):
        builder.add("vs_initial", False, index)
        builder.add("Voltage_step", vertex, index)
        builder.add("Scan_Rate", scan_rate / SCAN_RATE_UNIT, index)
    builder.add("Scan_number", 2)
    builder.add("Record_every_dE", _positive("CV", "recording.dE", record_dE))
    builder.add("Average_over_dE", True)
    builder.add("N_Cycles", technique.cycles - 1)
    builder.add("Begin_measuring_I", 0.5)
    builder.add("End_measuring_I", 1.0)
    builder.add("I_Range", CurrentRange.AUTO)
    builder.add("E_Range", VoltageRange.R_10V)
    builder.add("Bandwidth", DC_BANDWIDTH)
    return _finish(builder, family, [], list(technique.limits))


def _impedance(technique: Impedance, family: BoardFamily) -> EncodedTechnique:
    initial = _positive("PEIS", "initial_frequency", technique.initial_frequency)
    final = _positive("PEIS", "final_frequency", technique.final_frequency)
    amplitude = _positive("PEIS", "amplitude", technique.amplitude)
    if not (isinstance(technique.averages, int) and technique.averages >= 1):
        raise BiologicParameterError(f"PEIS: averages must be a whole number >= 1, "
                                     f"got {technique.averages!r}")
    builder = _Builder("peis")
    builder.add("vs_initial", technique.dc_vs_ocv)
    builder.add("vs_final", technique.dc_vs_ocv)
    builder.add("Initial_Voltage_step", technique.dc_voltage)
    builder.add("Final_Voltage_step", technique.dc_voltage)
    builder.add("Duration_step", 0.0)
    builder.add("Step_number", 0)
    builder.add("Record_every_dT", _positive("PEIS", "recording.dt", technique.recording.dt))
    builder.add("Record_every_dI", _non_negative("PEIS", "recording.dI", technique.recording.dI))
    builder.add("Final_frequency", final)
    builder.add("Initial_frequency", initial)
    builder.add("sweep", False)  # False = logarithmic spacing
    builder.add("Amplitude_Voltage", amplitude)
    builder.add("Frequency_number", len(technique.frequencies))
    builder.add("Average_N_times", technique.averages)
    builder.add("Correction", False)
    builder.add("Wait_for_steady", _non_negative("PEIS", "wait_for_steady", technique.wait_for_steady))
    builder.add("I_Range", CurrentRange.AUTO)
    builder.add("E_Range", VoltageRange.R_10V)
    builder.add("Bandwidth", EIS_BANDWIDTH)
    return _finish(builder, family, [], list(technique.limits))
