"""The engine's sensor poller over the real serial drivers and simulated devices, on simulated time: readings
on the timeline, stop and warn limits against the device's known profile, a sensor that stops answering."""

import asyncio
from collections.abc import Iterator

import h5py
import pytest
from operando.drivers.serial_sensors import TemperatureSensor
from operando.simulators.sensors import Profile, SimulatedSerialSensor

from operando.clock import run_simulated
from operando.engine.events import Event, Fault, SafetyTripped
from operando.engine.sensors import SensorLimitCrossed, SensorPoller, SensorRead
from operando.errors import SafetyTrip
from operando.roles.sensor import SensorLimit

HOUR = 3600.0
# 25 degC for 1 h, then +20 K per hour.
RAMP = Profile([(0.0, 298.15), (HOUR, 298.15), (4 * HOUR, 358.15)])


@pytest.fixture
def devices() -> Iterator[list[SimulatedSerialSensor]]:
    made: list[SimulatedSerialSensor] = []
    yield made
    for device in made:
        device.close()


def sensor_on(
    devices: list[SimulatedSerialSensor], profile: Profile = RAMP
) -> tuple[TemperatureSensor, SimulatedSerialSensor]:
    device = SimulatedSerialSensor("temperature", profile, asyncio.get_running_loop().time)
    devices.append(device)
    return TemperatureSensor("cell_temperature", device.port, timeout=0.2), device


async def poll(
    poller: SensorPoller, until: float, offset: float = 0.0
) -> tuple[list[Event], BaseException | None]:
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    loop = asyncio.get_running_loop()
    await poller.connect()
    task = asyncio.create_task(poller.run(publish, lambda: loop.time() - offset, offset))
    done, _ = await asyncio.wait([task], timeout=until)
    error = None
    if done:
        errors = task.exception()
        error = errors.exceptions[0] if isinstance(errors, BaseExceptionGroup) else errors
    else:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await poller.disconnect()
    return events, error


def test_readings_arrive_every_interval_on_the_timeline(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        sensor, _ = sensor_on(devices)
        poller = SensorPoller({"cell_temperature": sensor}, intervals={"cell_temperature": 600.0})
        events, error = await poll(poller, 2 * HOUR + 1, offset=100.0)
        reads = [e for e in events if isinstance(e, SensorRead)]
        assert error is None
        # Loop time 0, 600, ..., 7200 s is timeline time -100, 500, ..., 7100 s (timeline zero at loop 100 s).
        assert [e.t for e in reads] == [600.0 * k - 100.0 for k in range(13)]
        assert reads[-1].value == pytest.approx(318.15)  # 2 h: 1 h into the ramp, 25 + 20 degC
        assert reads[0].table_rows()["path"] == "sensors/cell_temperature"

    run_simulated(main())


def test_a_stop_limit_trips_at_the_first_reading_above_it(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        sensor, _ = sensor_on(devices)
        limit = SensorLimit("cell_temperature", maximum=318.15 + 5, quantity="temperature")  # 50 degC
        poller = SensorPoller(
            {"cell_temperature": sensor}, intervals={"cell_temperature": 300.0}, limits=[limit]
        )
        events, error = await poll(poller, 10 * HOUR)
        assert isinstance(error, SafetyTrip)
        trip = events[-1]
        assert isinstance(trip, SafetyTripped)
        # 50 degC is reached at 1 h + 25/20 h = 2.25 h = 8100 s; with readings every 300 s, the first above
        # it is at 8400 s.
        assert trip.t == 8400.0 and trip.quantity == "sensor:cell_temperature" and trip.limit == 323.15
        assert trip.value == pytest.approx(298.15 + 20 * (8400 - HOUR) / HOUR, abs=1e-3)  # printed to 1 mK
        assert "above its maximum" in trip.message

    run_simulated(main())


def test_a_warn_limit_warns_once_per_excursion(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        # Up 10 K between 1 h and 2 h, back down by 3 h.
        bump = Profile([(0.0, 298.15), (HOUR, 298.15), (2 * HOUR, 308.15), (3 * HOUR, 298.15)])
        sensor, _ = sensor_on(devices, bump)
        limit = SensorLimit("cell_temperature", drift=4.0, action="warn", quantity="temperature")
        poller = SensorPoller(
            {"cell_temperature": sensor}, intervals={"cell_temperature": 600.0}, limits=[limit]
        )
        events, error = await poll(poller, 4 * HOUR)
        assert error is None
        crossed = [e for e in events if isinstance(e, SensorLimitCrossed)]
        # More than 4 K above the first reading from 1.4 h (5040 s) to 2.6 h (9360 s): the first reading out
        # is at 5400 s (+5 K), the first back inside at 9600 s (+3.33 K); 9000 s is still +5 K.
        assert [(e.t, e.back_inside) for e in crossed] == [(5400.0, False), (9600.0, True)]
        assert "drifted" in crossed[0].message

    run_simulated(main())


def test_a_guarded_sensor_that_stops_answering_trips_after_three_tries(devices) -> None:  # noqa: ANN001
    async def main() -> None:
        sensor, device = sensor_on(devices)
        limit = SensorLimit("cell_temperature", maximum=350.0)
        poller = SensorPoller(
            {"cell_temperature": sensor}, intervals={"cell_temperature": 60.0}, limits=[limit]
        )
        asyncio.get_running_loop().call_later(90.0, setattr, device, "silent", True)
        events, error = await poll(poller, HOUR)
        assert isinstance(error, SafetyTrip)
        faults = [e for e in events if isinstance(e, Fault)]
        assert len(faults) == 1 and faults[0].source == "cell_temperature"  # one fault per outage
        # Readings at 0 and 60 s; silent from 90 s: failures at 120, 180, 240 s -> trip at the third.
        assert events[-1].t == 240.0 and "could not be read 3 times" in events[-1].message

    run_simulated(main())


def test_an_unguarded_sensor_that_fails_only_costs_its_readings(devices: list[SimulatedSerialSensor]) -> None:
    async def main() -> None:
        sensor, device = sensor_on(devices)
        poller = SensorPoller({"cell_temperature": sensor}, intervals={"cell_temperature": 60.0})
        loop = asyncio.get_running_loop()
        loop.call_later(90.0, setattr, device, "silent", True)
        loop.call_later(400.0, setattr, device, "silent", False)
        events, error = await poll(poller, 630.0)
        assert error is None
        assert [e.t for e in events if isinstance(e, SensorRead)] == [0.0, 60.0, 420.0, 480.0, 540.0, 600.0]
        assert len([e for e in events if isinstance(e, Fault)]) == 1

    run_simulated(main())


def test_limits_must_name_a_sensor_of_the_rig_measuring_that_quantity(devices) -> None:  # noqa: ANN001
    async def main() -> None:
        sensor, _ = sensor_on(devices)
        with pytest.raises(ValueError, match="names stack_pressure, which the rig does not have"):
            SensorPoller({"cell_temperature": sensor}, limits=[SensorLimit("stack_pressure", maximum=1e6)])
        with pytest.raises(
            ValueError,
            match="gives pressure limits, but the rig's sensor 'cell_temperature' measures temperature",
        ):
            SensorPoller(
                {"cell_temperature": sensor},
                limits=[SensorLimit("cell_temperature", maximum=1e6, quantity="pressure")],
            )

    run_simulated(main())


def test_the_section_creates_one_table_per_sensor(tmp_path, devices) -> None:  # noqa: ANN001
    async def main() -> None:
        sensor, _ = sensor_on(devices)
        poller = SensorPoller(
            {"cell_temperature": sensor},
            intervals={"cell_temperature": 30.0},
            limits=[SensorLimit("cell_temperature", maximum=320.0)],
        )
        with h5py.File(tmp_path / "f.h5", "w") as file:
            poller.section(file.create_group("entry"), None)  # type: ignore[arg-type]
            table = file["entry/sensors/cell_temperature"]
            assert set(table) == {"t", "value"} and table["t"].maxshape == (None,)
            assert table.attrs["unit"] == "K" and table["value"].attrs["units"] == "K"
            assert table.attrs["interval"] == 30.0 and '"maximum": 320.0' in table.attrs["limits"]

    run_simulated(main())
