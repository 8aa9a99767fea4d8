"""Issue 8: a temperature limit in the protocol stops a simulated run safely when the simulated sensor exceeds
it. The whole chain runs: protocol ``[safety.sensors]`` -> plan -> rig file (simulated Keithley, simulated
temperature readout on a pty) -> engine -> file. Times are checked against the sensor's known profile."""

from pathlib import Path

import h5py
import pytest

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState
from operando.engine.sensors import SensorRead
from operando.protocol import loads_protocol, resolve
from operando.rigfile import build, loads_rig
from operando.storage import read_experiment

HOUR = 3600.0
PROTOCOL = """
name = "warm-charge"
[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"
[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "50 uA"
duration_max = "100 h"
[safety.sensors.cell_temperature]
maximum = "45 degC"
[safety.sensors.stack_pressure]
drift = "5 kPa"
action = "warn"
[[steps]]
name = "charge"
technique = "constant_current"
current = "C/60"
until.voltage = "4.3 V vs Li"
until.time = "80 h"
record.every = "60 s"
"""
# The holder warms from 25 degC at 10 h to 60 degC at 12 h: 45 degC is crossed at 10 h + 2 h x 20/35.
RIG = """
name = "warming"
poll_interval = "60 s"
[potentiostat]
driver = "simulated_keithley2450"
sample_interval = "30 s"
[sensors.cell_temperature]
driver = "simulated_temperature"
interval = "5 min"
profile = [["0 h", "25 degC"], ["10 h", "25 degC"], ["12 h", "60 degC"]]
[sensors.stack_pressure]
driver = "simulated_load_cell"
interval = "10 min"
area = "0.785 cm^2"
profile = [["0 h", "15 kPa"], ["4 h", "15 kPa"], ["6 h", "25 kPa"]]
"""


def test_a_temperature_limit_stops_the_run_safely(tmp_path: Path) -> None:
    plan = resolve(loads_protocol(PROTOCOL))
    out = tmp_path / "warm.h5"

    async def main():  # noqa: ANN202
        rig = await build(loads_rig(RIG), plan)
        experiment = Experiment(
            plan,
            rig.potentiostat,
            out,
            poll_interval=rig.poll_interval,
            rig_config=rig.config,
            sensors=rig.sensors,
            sensor_intervals=rig.sensor_intervals,
        )
        watcher = experiment.bus.subscribe("test", maxsize=100_000)
        result = await experiment.run()
        await rig.close()
        return result, rig, watcher.drain_nowait()

    result, rig, events = run_simulated(main())
    assert result.status is ExperimentState.ABORTED
    assert "cell_temperature 318.5" in result.reason and "above its maximum 318.15" in result.reason
    crossing = 10 * HOUR + 2 * HOUR * 20 / 35
    # Readings every 5 min from the start: the first above 45 degC is the 5-minute mark after the crossing.
    first_above = (crossing // 300 + 1) * 300
    assert result.duration == pytest.approx(first_above, abs=1.0)
    # Left safe: output off, the cell no longer charging.
    instrument = rig.context.shared["keithley2450"]
    assert not instrument.output_on
    kinds = [event.kind for event in events]
    assert kinds.count("safety_tripped") == 1
    reads = [e for e in events if isinstance(e, SensorRead) and e.sensor == "cell_temperature"]
    assert reads[-1].t == pytest.approx(first_above) and reads[-1].value > 318.15 > reads[-2].value
    # The stack pressure drifted 5 kPa from its first reading at 5 h: one warning, the run went on.
    warnings = [e for e in events if e.kind == "sensor_limit"]
    assert (
        len(warnings) == 1
        and warnings[0].sensor == "stack_pressure"
        and 5 * HOUR < warnings[0].t <= 5.2 * HOUR
    )

    record = read_experiment(out)
    assert record.status == "aborted"
    with h5py.File(out) as file:
        temperature = file["entry/sensors/cell_temperature"]
        assert temperature.attrs["unit"] == "K"
        assert len(temperature["t"]) == len(reads)
        assert temperature["value"][-1] == pytest.approx(reads[-1].value)
        assert len(file["entry/sensors/stack_pressure/t"]) > 60
        assert set(file["entry/instruments"]) == {"potentiostat", "cell_temperature", "stack_pressure"}
