"""Every SCPI exchange of the Keithley 2450 driver, as (sent, reply) pairs, on simulated time.

Expected values are worked by hand from the replies: which column is E_we and which is I in each source
mode, the trapezoidal charge between readings, which readings become points under the recording rule.
"""

import asyncio

import pytest
from operando.drivers.keithley import (
    ComplianceReached,
    KeithleyConnectionLost,
    KeithleyError,
    KeithleyNotAnswering,
)

from operando.clock import run_simulated
from operando.roles.potentiostat import Point
from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
    Recording,
)
from tests.drivers.keithley.helpers import (
    CONNECT,
    IDN,
    LOST,
    NO_ERROR,
    TIMEOUT,
    current_source,
    expected_protocol,
    reading,
    voltage_source,
)

OFF = [(":OUTP OFF", None), NO_ERROR]
OPTIONS = {"sample_interval": 10.0, "voltage_limit": 4.0, "current_limit": 1e-3}


def test_connect_reads_identity_and_leaves_the_output_off_in_high_impedance() -> None:
    async def main() -> None:
        with expected_protocol([*CONNECT, *OFF], **OPTIONS) as driver:
            info = await driver.connect()
            assert (info.model, info.serial, info.firmware) == ("Keithley 2450", "04512345", "1.7.12b")
            assert info.driver == "operando.drivers.keithley"
            assert info.settings["voltage_limit"] == 4.0
            await driver.disconnect()
            assert driver.protocol.closed

    run_simulated(main())


def test_two_wire_sense_when_asked() -> None:
    pairs = [pair if "RSEN" not in pair[0] else (pair[0].replace("ON", "OFF"), None) for pair in CONNECT]

    async def main() -> None:
        with expected_protocol([*pairs, *OFF], four_wire=False) as driver:
            await driver.connect()
            await driver.disconnect()

    run_simulated(main())


def test_constant_current_until_a_voltage_limit() -> None:
    technique = ConstantCurrent(1e-4, 1000.0, limits=(Limit("E_we", ">", 3.7),), recording=Recording(dt=20.0))
    pairs = [
        *CONNECT,
        *current_source("0.0001", "4"),
        reading(3.5, 1e-4, 0.0),
        reading(3.6, 0.99e-4, 10.0),
        reading(3.71, 1e-4, 20.0),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(25.0)
            readout = await driver.read()
            # Recorded: the first reading, and the one that met the limit (20 s since the last point); the
            # reading at 10 s is neither 20 s after the last point nor past a voltage step rule.
            assert readout.points == (Point(0.0, 3.5, 1e-4), Point(20.0, 3.71, 1e-4))
            assert not readout.running
            # Trapezoid: (1e-4 + 0.99e-4) / 2 x 10 s + (0.99e-4 + 1e-4) / 2 x 10 s = 1.99e-3 C.
            assert driver._run.charge == pytest.approx(1.99e-3, rel=1e-12)
            assert driver._run.reason == "E_we > 3.7 V"
            await driver.disconnect()

    run_simulated(main())


def test_a_hold_reads_current_as_the_measurement_and_voltage_as_the_source() -> None:
    technique = ConstantVoltage(3.68, 100.0, limits=(Limit("abs_I", "<", 2e-5),))
    pairs = [
        *CONNECT,
        *voltage_source("3.68", "0.001"),
        reading(5e-5, 3.68, 0.0),
        reading(1.9e-5, 3.6801, 10.0),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(15.0)
            readout = await driver.read()
            assert readout.points == (Point(0.0, 3.68, 5e-5), Point(10.0, 3.6801, 1.9e-5))
            assert driver._run.charge == pytest.approx(0.5 * (5e-5 + 1.9e-5) * 10.0, rel=1e-12)
            await driver.disconnect()

    run_simulated(main())


def test_open_circuit_is_a_zero_current_source_and_ends_on_time() -> None:
    technique = OpenCircuit(25.0, recording=Recording(dt=10.0))
    # Readings at 0, 10, 20 s, and at 25 s exactly: the sampler wakes at the end of a timed technique.
    pairs = [
        *CONNECT,
        *current_source("0", "4"),
        reading(3.0, 1e-12, 0.0),
        reading(3.0, 0.0, 10.0),
        reading(3.001, 0.0, 20.0),
        reading(3.001, 0.0, 25.0),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(30.0)
            readout = await driver.read()
            assert [p.t_device for p in readout.points] == [0.0, 10.0, 20.0, 25.0]
            assert driver._run.reason == "duration 25 s"
            await driver.disconnect()

    run_simulated(main())


def test_relative_time_counts_from_the_first_reading_of_the_technique() -> None:
    technique = OpenCircuit(10.0, recording=Recording(dt=10.0))
    pairs = [
        *CONNECT,
        *current_source("0", "4"),
        reading(3.0, 0.0, 1234.5),
        reading(3.0, 0.0, 1244.5),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(11.0)
            assert [p.t_device for p in (await driver.read()).points] == [0.0, 10.0]
            await driver.disconnect()

    run_simulated(main())


def test_a_refused_setting_names_the_instruments_error_and_never_turns_the_output_on() -> None:
    refused = current_source("0.0001", "4")[:-3]  # everything up to the first error check
    pairs = [
        *CONNECT,
        *refused,
        (":SYST:ERR:NEXT?", '-222,"Parameter data out of range;1;2024/01/01"'),
        (":SYST:ERR:NEXT?", '-221,"Settings conflict;1;2024/01/01"'),
        NO_ERROR,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            with pytest.raises(KeithleyError) as raised:
                await driver.start(ConstantCurrent(1e-4, 100.0))
            assert raised.value.code == -222
            assert "Parameter data out of range" in str(raised.value)
            assert "ConstantCurrent" in str(raised.value) and "1 more" in str(raised.value)
            await driver.safe_state()
            await driver._close_link()

    run_simulated(main())


def test_an_instrument_that_does_not_answer_is_named_and_nothing_stays_open() -> None:
    async def main() -> None:
        with expected_protocol([("*IDN?", TIMEOUT)]) as driver:
            with pytest.raises(KeithleyNotAnswering, match=r"no answer to '\*IDN\?' within 5 s"):
                await driver.connect()
            assert driver.protocol.closed and driver._thread is None

    run_simulated(main())


def test_another_instrument_at_the_address_is_refused() -> None:
    async def main() -> None:
        with expected_protocol([("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2000,1234567,A02")]) as driver:
            with pytest.raises(KeithleyError, match="MODEL 2000.*not a Keithley 2450"):
                await driver.connect()
            assert driver.protocol.closed

    run_simulated(main())


def test_an_unreadable_reading_stops_the_technique_output_off_and_is_raised_after_the_points() -> None:
    technique = ConstantCurrent(1e-4, 1000.0, recording=Recording(dt=10.0))
    pairs = [
        *CONNECT,
        *current_source("0.0001", "4"),
        reading(3.5, 1e-4, 0.0),
        (':READ? "defbuffer1", READ, SOUR, REL', "3.5E+00,#garbage"),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(15.0)
            first = await driver.read()
            assert first.points == (Point(0.0, 3.5, 1e-4),) and first.running
            with pytest.raises(KeithleyError, match="unreadable reading '3.5E\\+00,#garbage'"):
                await driver.read()
            await driver.disconnect()

    run_simulated(main())


def test_reaching_the_voltage_clamp_is_an_instrument_fault() -> None:
    technique = ConstantCurrent(1e-4, 1000.0, limits=(Limit("E_we", ">", 4.2),))
    # 3.999 V is within 0.1 % of the 4 V clamp: the instrument no longer sources the set current.
    pairs = [
        *CONNECT,
        *current_source("0.0001", "4"),
        reading(3.9, 1e-4, 0.0),
        reading(3.999, 0.7e-4, 10.0),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(15.0)
            readout = await driver.read()
            assert [p.E_we for p in readout.points] == [3.9, 3.999]  # measured, so kept
            with pytest.raises(ComplianceReached, match="voltage_limit 4 V"):
                await driver.read()
            await driver.disconnect()

    run_simulated(main())


def test_a_lost_link_surfaces_as_connection_lost() -> None:
    technique = OpenCircuit(100.0, recording=Recording(dt=10.0))
    pairs = [
        *CONNECT,
        *current_source("0", "4"),
        reading(3.0, 0.0, 0.0),
        (':READ? "defbuffer1", READ, SOUR, REL', LOST),
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(15.0)
            await driver.read()
            with pytest.raises(KeithleyConnectionLost, match="link lost"):
                await driver.read()
            await driver.disconnect()  # the output-off attempt fails on the dead link: logged, not raised

    run_simulated(main())


def test_stop_turns_the_output_off_and_keeps_the_last_points() -> None:
    technique = ConstantCurrent(-1e-4, 1000.0, recording=Recording(dt=10.0))
    pairs = [
        *CONNECT,
        *current_source("-0.0001", "4"),
        reading(3.0, -1e-4, 0.0),
        reading(2.9, -1e-4, 10.0),
        *OFF,
        *OFF,
    ]

    async def main() -> None:
        with expected_protocol(pairs, **OPTIONS) as driver:
            await driver.connect()
            await driver.start(technique)
            await asyncio.sleep(12.0)
            await driver.stop()
            readout = await driver.read()
            assert [p.I for p in readout.points] == [-1e-4, -1e-4] and not readout.running
            await driver.disconnect()

    run_simulated(main())


@pytest.mark.parametrize(
    "technique",
    [
        Impedance(1e5, 0.1, 10, 0.01),
        CyclicVoltammetry(3.0, 4.0, 2.5, 3.0, 1e-4),
    ],
)
def test_techniques_a_source_meter_cannot_run_are_refused_before_anything_is_sent(technique) -> None:  # noqa: ANN001
    async def main() -> None:
        with expected_protocol([*CONNECT, *OFF], **OPTIONS) as driver:
            await driver.connect()
            with pytest.raises(KeithleyError, match=f"cannot run {type(technique).__name__}"):
                await driver.start(technique)
            await driver.disconnect()

    run_simulated(main())


def test_a_set_point_beyond_the_rigs_limits_is_refused_before_anything_is_sent() -> None:
    async def main() -> None:
        with expected_protocol([*CONNECT, *OFF], **OPTIONS) as driver:
            await driver.connect()
            with pytest.raises(KeithleyError, match="beyond the rig's current_limit"):
                await driver.start(ConstantCurrent(2e-3, 10.0))
            with pytest.raises(KeithleyError, match="beyond the rig's voltage_limit"):
                await driver.start(ConstantVoltage(4.5, 10.0))
            await driver.disconnect()

    run_simulated(main())


def test_bad_settings_are_refused_at_construction() -> None:
    from operando.drivers.keithley import Keithley2450

    with pytest.raises(KeithleyError, match="sample_interval must be between"):
        Keithley2450("USB0::0x05E6::0x2450::1::INSTR", sample_interval=0.0)
    with pytest.raises(KeithleyError, match="resource must be a VISA resource name"):
        Keithley2450("  ")
    assert IDN.startswith("KEITHLEY")
