"""Techniques reach the instrument as the exact EccParam lists written here by hand (expected protocol)."""

from __future__ import annotations

import pytest
from operando.drivers.biologic import BiologicParameterError, encode, limit_test_word
from operando.drivers.biologic._structures import BOARD_FAMILIES, BoardType, ParamType

from operando.clock import run_simulated
from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
    Recording,
    Technique,
)
from tests.drivers.biologic.helpers import make_rig, single

I, B, S = ParamType.INT, ParamType.BOOLEAN, ParamType.SINGLE
VMP300 = BOARD_FAMILIES[BoardType.PREMIUM]
UNUSED_TESTS = [("Test2_Config", 0, I, 0), ("Test2_Value", 0, S, 0.0),
                ("Test3_Config", 0, I, 0), ("Test3_Value", 0, S, 0.0)]


def sent_to_fake(technique: Technique, board: str = "VMP300") -> tuple[str, list[tuple]]:
    """Start ``technique`` through the driver on the fake; return the .ecc file and parameters it received."""

    async def scenario() -> tuple[str, list[tuple]]:
        rig = make_rig(board)
        await rig.driver.connect()
        await rig.driver.start(technique)
        await rig.driver.safe_state()
        await rig.driver.disconnect()
        loaded = rig.fake.loads[-1]
        return loaded.ecc_file, loaded.sent

    return run_simulated(scenario())


@pytest.mark.parametrize(("variable", "comparison", "and_next", "expected"), [
    ("I", ">", False, 1 + 4 + 96),   # 101, the documented "current > limit"
    ("E", ">", False, 1 + 4 + 0),    # 5
    ("E", "<", False, 1),
    ("I", "<", False, 1 + 96),       # 97
    ("E", ">", True, 1 + 2 + 4),     # 7: ANDed with the next test
    ("AUX1", "<", False, 1 + 32),
])
def test_limit_test_word_bits(variable: str, comparison: str, and_next: bool, expected: int) -> None:
    assert limit_test_word(variable, comparison, and_next=and_next) == expected


@pytest.mark.parametrize(("board", "ecc"), [("VMP300", "cplimit4.ecc"), ("VMP3", "cplimit.ecc")])
def test_constant_current_to_an_upper_voltage(board: str, ecc: str) -> None:
    charge = ConstantCurrent(current=15e-6, duration=80 * 3600.0, limits=(Limit("E_we", ">", 3.68),),
                             recording=Recording(dt=10.0))
    assert sent_to_fake(charge, board) == (ecc, [
        ("Current_step", 0, S, single(15e-6)),
        ("vs_initial", 0, B, False),
        ("Duration_step", 0, S, 288000.0),
        ("Step_number", 0, I, 0),
        ("Record_every_dT", 0, S, 10.0),
        ("Record_every_dE", 0, S, 0.0),
        ("Test1_Config", 0, I, 5),
        ("Test1_Value", 0, S, single(3.68)),
        *UNUSED_TESTS,
        ("Exit_Cond", 0, I, 1),
        ("N_Cycles", 0, I, 0),
        ("I_Range", 0, I, 6),  # 100 uA: the smallest range holding 15 uA
        ("E_Range", 0, I, 2),
        ("Bandwidth", 0, I, 5),
    ])


def test_discharge_limits_mirror_current_tests_and_leave_charge_to_the_engine() -> None:
    discharge = ConstantCurrent(current=-2e-3, duration=7200.0, limits=(
        Limit("E_we", "<", 2.0), Limit("abs_I", ">", 5e-3), Limit("abs_Q", ">", 1.0),
        Limit("time", ">", 3600.0)))
    encoded = encode(discharge, VMP300)
    values = {(p.label, p.index): p.value for p in encoded.parameters}
    assert values["Duration_step", 0] == 3600.0
    assert (values["Test1_Config", 0], values["Test1_Value", 0]) == (1, 2.0)
    # |I| > 5 mA while discharging is I < -5 mA.
    assert (values["Test2_Config", 0], values["Test2_Value", 0]) == (97, -5e-3)
    assert values["Test3_Config", 0] == 0
    assert values["I_Range", 0] == 8  # 10 mA
    assert [limit.quantity for limit in encoded.engine_limits] == ["abs_Q"]


def test_a_fourth_test_is_left_to_the_engine() -> None:
    charge = ConstantCurrent(current=1e-6, duration=10.0, limits=(
        Limit("E_we", ">", 3.6), Limit("E_we", "<", 1.0), Limit("E_we", ">", 3.7), Limit("E_we", ">", 3.8)))
    encoded = encode(charge, VMP300)
    assert [limit.value for limit in encoded.engine_limits] == [3.8]
    assert [limit.value for limit in encoded.device_limits] == [3.6, 1.0, 3.7]


def test_constant_voltage_hold_until_the_current_falls() -> None:
    hold = ConstantVoltage(voltage=3.68, duration=7200.0, limits=(Limit("abs_I", "<", 1.5e-6),),
                           recording=Recording(dt=30.0, dI=1e-6))

    def sent(present: float) -> dict:
        encoded = encode(hold, VMP300, present_potential=present)
        return {(p.label, p.index): p.value for p in encoded.parameters}

    charging = sent(3.5)
    assert (charging["Test1_Config", 0], charging["Test1_Value", 0]) == (97, 1.5e-6)  # I < 1.5 uA
    discharging = sent(3.9)
    assert (discharging["Test1_Config", 0], discharging["Test1_Value", 0]) == (101, -1.5e-6)  # I > -1.5 uA
    unknown = encode(hold, VMP300, present_potential=None)
    assert [limit.quantity for limit in unknown.engine_limits] == ["abs_I"]


def test_a_hold_at_the_present_potential_follows_the_previous_current() -> None:
    hold = ConstantVoltage(voltage=3.68, duration=7200.0, limits=(Limit("abs_I", "<", 1.5e-6),))

    def test1(present: float, previous: float) -> tuple:
        encoded = encode(hold, VMP300, present_potential=present, previous_current=previous)
        values = {(p.label, p.index): p.value for p in encoded.parameters}
        return values["Test1_Config", 0], values["Test1_Value", 0], len(encoded.engine_limits)

    # Just after a 15 uA charge stopped at 3.6805 V: still charging, I < 1.5 uA ends the hold.
    assert test1(3.6805, 15e-6) == (97, 1.5e-6, 0)
    assert test1(3.6795, -15e-6) == (101, -1.5e-6, 0)
    # After a rest (no current, or noise below the threshold) nothing tells the direction: engine only.
    assert test1(3.6805, 0.0) == (0, 0.0, 1)
    assert test1(3.6805, 2e-9) == (0, 0.0, 1)
    # A hold well away from the present potential goes its own way whatever came before.
    assert test1(3.60, -15e-6) == (97, 1.5e-6, 0)


def test_constant_voltage_parameter_list() -> None:
    # The fake cell rests near 3.0 V (pristine NMC622 vs Li-In), so holding 3.68 V charges: I < 1.5 uA.
    hold = ConstantVoltage(voltage=3.68, duration=7200.0, limits=(Limit("abs_I", "<", 1.5e-6),),
                           recording=Recording(dt=30.0, dI=1e-6))
    assert sent_to_fake(hold) == ("calimit4.ecc", [
        ("Voltage_step", 0, S, single(3.68)),
        ("vs_initial", 0, B, False),
        ("Duration_step", 0, S, 7200.0),
        ("Step_number", 0, I, 0),
        ("Record_every_dT", 0, S, 30.0),
        ("Record_every_dI", 0, S, single(1e-6)),
        ("Test1_Config", 0, I, 97),
        ("Test1_Value", 0, S, single(1.5e-6)),
        *UNUSED_TESTS,
        ("Exit_Cond", 0, I, 1),
        ("N_Cycles", 0, I, 0),
        ("I_Range", 0, I, 12),  # auto
        ("E_Range", 0, I, 2),
        ("Bandwidth", 0, I, 5),
    ])


def test_open_circuit_parameter_list() -> None:
    rest = OpenCircuit(duration=3600.0, limits=(Limit("abs_dE_dt", "<", 1e-7),),
                       recording=Recording(dt=60.0, dE=1e-3))
    assert sent_to_fake(rest, "VMP3") == ("ocv.ecc", [
        ("Rest_time_T", 0, S, 3600.0),
        ("Record_every_dE", 0, S, single(1e-3)),
        ("Record_every_dT", 0, S, 60.0),
        ("E_Range", 0, I, 2),
    ])
    assert [limit.quantity for limit in encode(rest, VMP300).engine_limits] == ["abs_dE_dt"]


def test_cyclic_voltammetry_parameter_list() -> None:
    cv = CyclicVoltammetry(start=3.0, vertex_1=3.25, vertex_2=2.75, end=3.0, scan_rate=0.5e-3, cycles=3,
                           recording=Recording(dt=10.0, dE=5e-3))
    vertices = [3.0, 3.25, 2.75, 3.0, 3.0]
    expected = []
    for index, vertex in enumerate(vertices):
        expected += [("vs_initial", index, B, False), ("Voltage_step", index, S, vertex),
                     ("Scan_Rate", index, S, 0.5)]  # mV/s
    expected += [("Scan_number", 0, I, 2), ("Record_every_dE", 0, S, single(5e-3)),
                 ("Average_over_dE", 0, B, True), ("N_Cycles", 0, I, 2),
                 ("Begin_measuring_I", 0, S, 0.5), ("End_measuring_I", 0, S, 1.0),
                 ("I_Range", 0, I, 12), ("E_Range", 0, I, 2), ("Bandwidth", 0, I, 5)]
    assert sent_to_fake(cv) == ("cv4.ecc", expected)


def test_impedance_parameter_list() -> None:
    eis = Impedance(initial_frequency=1e5, final_frequency=0.1, points_per_decade=5, amplitude=0.01,
                    averages=2, wait_for_steady=0.25)
    assert sent_to_fake(eis, "VMP3") == ("peis.ecc", [
        ("vs_initial", 0, B, True),
        ("vs_final", 0, B, True),
        ("Initial_Voltage_step", 0, S, 0.0),
        ("Final_Voltage_step", 0, S, 0.0),
        ("Duration_step", 0, S, 0.0),
        ("Step_number", 0, I, 0),
        ("Record_every_dT", 0, S, 10.0),
        ("Record_every_dI", 0, S, 0.0),
        ("Final_frequency", 0, S, single(0.1)),
        ("Initial_frequency", 0, S, 1e5),
        ("sweep", 0, B, False),  # logarithmic
        ("Amplitude_Voltage", 0, S, single(0.01)),
        ("Frequency_number", 0, I, 31),  # 6 decades x 5 + 1
        ("Average_N_times", 0, I, 2),
        ("Correction", 0, B, False),
        ("Wait_for_steady", 0, S, 0.25),
        ("I_Range", 0, I, 12),
        ("E_Range", 0, I, 2),
        ("Bandwidth", 0, I, 7),
    ])


@pytest.mark.parametrize(("technique", "named"), [
    (ConstantCurrent(current=1e-6, duration=0.0), "duration"),
    (ConstantCurrent(current=float("nan"), duration=10.0), "current"),
    (ConstantCurrent(current=2.0, duration=10.0), "1 A range"),
    (OpenCircuit(duration=60.0, recording=Recording(dt=-1.0)), "recording.dt"),
    (CyclicVoltammetry(start=0, vertex_1=1, vertex_2=0, end=0, scan_rate=0.0), "scan_rate"),
    (CyclicVoltammetry(start=0, vertex_1=1, vertex_2=0, end=0, scan_rate=1e-3, cycles=0), "cycles"),
    (Impedance(initial_frequency=-1.0, final_frequency=1.0, points_per_decade=5, amplitude=0.01),
     "initial_frequency"),
])
def test_impossible_values_are_refused_naming_the_field(technique: Technique, named: str) -> None:
    with pytest.raises(BiologicParameterError, match=named):
        encode(technique, VMP300)
