"""The serial sensor drivers against simulated devices on a real pseudo-terminal, on simulated time.

Expected values: the checksum worked by hand, the device's profile (ground truth), degrees Celsius to kelvin,
newtons over the pellet area to pascals.
"""

import asyncio
import time
from collections.abc import Iterator

import pytest
from operando.drivers.serial_sensors import (
    LoadCellSensor,
    SensorConnectionLost,
    SensorError,
    SensorNotAnswering,
    TemperatureSensor,
    checksum,
    frame,
    unframe,
)
from operando.drivers.serial_sensors._protocol import LineError, ProbeFault, parse_reading
from operando.simulators.sensors import Profile, SimulatedSerialSensor

from operando.clock import run_simulated

HOUR = 3600.0


def test_checksum_is_the_xor_of_the_body() -> None:
    # "T,+025.310,C" is 54 2C 2B 30 32 35 2E 33 31 30 2C 43 in hex; XOR step by step:
    # 54^2C=78, ^2B=53, ^30=63, ^32=51, ^35=64, ^2E=4A, ^33=79, ^31=48, ^30=78, ^2C=54, ^43=17.
    assert checksum(b"T,+025.310,C") == "17"
    assert frame("T", "+025.310", "C") == b"T,+025.310,C*17\r\n"
    assert unframe(b"T,+025.310,C*17\r\n") == ["T", "+025.310", "C"]


@pytest.mark.parametrize(
    "line", [b"T,+025.310,C*18\r\n", b"T,+025.310,C\r\n", b"T,+0\xfe5.310,C*17\r\n", b""]
)
def test_damaged_lines_are_refused(line: bytes) -> None:
    with pytest.raises(LineError):
        unframe(line)


def test_readings_and_faults_parse() -> None:
    assert parse_reading(["F", "+0123.45", "N"], "F", "N") == 123.45
    with pytest.raises(ProbeFault):
        parse_reading(["T", "ERR", "OPEN"], "T", "C")
    for fields in (["T", "25", "K"], ["T", "nan", "C"], ["F", "1,2", "N"], ["T", "1"]):
        with pytest.raises(LineError):
            parse_reading(fields, fields[0], "C" if fields[0] == "T" else "N")


@pytest.fixture
def devices() -> Iterator[list[SimulatedSerialSensor]]:
    made: list[SimulatedSerialSensor] = []
    yield made
    for device in made:
        device.close()


def temperature_device(devices: list[SimulatedSerialSensor], **options: float) -> SimulatedSerialSensor:
    loop = asyncio.get_running_loop()
    # 25 degC for 1 h, then a ramp to 70 degC at 3 h.
    device = SimulatedSerialSensor(
        "temperature", Profile([(0, 298.15), (HOUR, 298.15), (3 * HOUR, 343.15)]), loop.time, **options
    )
    devices.append(device)
    return device


def test_temperature_follows_the_device_in_kelvin(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        device = temperature_device(devices)
        sensor = TemperatureSensor("cell_temperature", device.port, timeout=0.3)
        info = await sensor.connect()
        assert (info.model, info.serial, info.firmware) == ("OT-1", "SN0001", "FW1.3")
        values = []
        for _ in range(4):
            reading = await sensor.read()
            values.append((reading.t, reading.value))
            await asyncio.sleep(HOUR)
        # The device prints 3 decimals of degC: 25.000, 25.000, 47.500 (half-way up the ramp), 70.000.
        assert values == [
            (0.0, pytest.approx(298.15)),
            (HOUR, pytest.approx(298.15)),
            (2 * HOUR, pytest.approx(320.65)),
            (3 * HOUR, pytest.approx(343.15)),
        ]
        assert (reading.unit, reading.quantity) == ("K", "temperature")
        await sensor.disconnect()

    run_simulated(main())


def test_load_cell_gives_stack_pressure_from_force_over_area(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        device = SimulatedSerialSensor("load_cell", Profile([(0, 1178.1)]), loop.time)  # N
        devices.append(device)
        sensor = LoadCellSensor("stack_pressure", device.port, area=0.785e-4, timeout=0.3)
        await sensor.connect()
        reading = await sensor.read()
        # 1178.1 N on 0.785 cm^2 = 15.008 MPa.
        assert reading.value == pytest.approx(1178.1 / 0.785e-4)
        assert (reading.unit, reading.quantity) == ("Pa", "pressure")
        await sensor.disconnect()

    run_simulated(main())


def test_a_garbled_line_is_retried_and_a_persistently_garbled_one_named(devices) -> None:  # noqa: ANN001
    async def main() -> None:
        device = temperature_device(devices)
        sensor = TemperatureSensor("cell_temperature", device.port, timeout=0.3, retries=2)
        await sensor.connect()
        device.garble_next(2)
        assert (await sensor.read()).value == pytest.approx(298.15)  # third try is clean
        device.garble_next(3)
        with pytest.raises(SensorError, match="unparsable reply to b'T\\?\\\\n' .* 3 time\\(s\\)"):
            await sensor.read()
        assert (await sensor.read()).value == pytest.approx(298.15)  # and it reads again afterwards
        await sensor.disconnect()

    run_simulated(main())


def test_a_silent_device_times_out(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        device = temperature_device(devices)
        sensor = TemperatureSensor("cell_temperature", device.port, timeout=0.2)
        await sensor.connect()
        device.silent = True
        started = time.monotonic()
        with pytest.raises(SensorNotAnswering, match="no reply to b'T\\?\\\\n' .* within 0.2 s"):
            await sensor.read()
        assert time.monotonic() - started < 2.0
        await sensor.disconnect()

    run_simulated(main())


def test_a_probe_fault_is_an_error_naming_it(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        device = temperature_device(devices)
        sensor = TemperatureSensor("cell_temperature", device.port, timeout=0.3)
        await sensor.connect()
        device.probe_fault = "OPEN"
        with pytest.raises(SensorError, match="sensor cell_temperature: the probe reports a fault: OPEN"):
            await sensor.read()
        await sensor.disconnect()

    run_simulated(main())


def test_unplugging_is_reported_and_the_sensor_reads_again_once_plugged_back(devices) -> None:  # noqa: ANN001
    async def main() -> None:
        device = temperature_device(devices)
        sensor = TemperatureSensor("cell_temperature", device.port, timeout=0.3)
        await sensor.connect()
        await sensor.read()
        device.unplug()
        with pytest.raises(SensorConnectionLost, match="lost during"):
            await sensor.read()
        with pytest.raises(SensorConnectionLost, match="does not exist .*plugged in"):
            await sensor.read()
        device.plug_in()
        assert (await sensor.read()).value == pytest.approx(298.15)
        await sensor.disconnect()

    run_simulated(main())


def test_an_absent_port_fails_connect_and_leaves_nothing_open() -> None:
    async def main() -> None:
        sensor = TemperatureSensor("cell_temperature", "/dev/ttyUSB_absent_7", timeout=0.2)
        with pytest.raises(SensorConnectionLost, match="serial port '/dev/ttyUSB_absent_7' does not exist"):
            await sensor.connect()
        assert sensor._thread is None and sensor._serial is None

    run_simulated(main())


def test_the_wrong_kind_of_device_is_refused(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        device = temperature_device(devices)
        sensor = LoadCellSensor("stack_pressure", device.port, area=1e-4, timeout=0.3)
        with pytest.raises(SensorError, match="is a 'OT-1', not a LC-\\* pressure device: wrong port"):
            await sensor.connect()
        assert sensor._thread is None

    run_simulated(main())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(SensorError, match="area must be a positive area"):
        LoadCellSensor("p", "/dev/ttyUSB0", area=0.0)
    with pytest.raises(SensorError, match="timeout must be"):
        TemperatureSensor("t", "/dev/ttyUSB0", timeout=-1)
