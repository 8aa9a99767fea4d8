"""Rig files: what a researcher types wrong gets an error naming the table, the key and the value; a plan the
rig's potentiostat cannot run is refused before anything is made; the example rigs load."""

from pathlib import Path

import pytest

from operando.clock import run_simulated
from operando.protocol import load_protocol, resolve
from operando.rigfile import RigError, build, check_plan, installed_drivers, load_rig, loads_rig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "rigs").glob("*.toml"))


def problems(text: str) -> str:
    with pytest.raises(RigError) as raised:
        loads_rig(text, source="rig.toml")
    return str(raised.value)


def test_every_shipped_driver_is_registered() -> None:
    assert {
        "biologic",
        "zeiss",
        "keithley2450",
        "serial_temperature",
        "serial_load_cell",
        "simulated_biologic",
        "simulated_keithley2450",
        "simulated_temperature",
        "simulated_load_cell",
    } <= set(installed_drivers())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_rigs_load(path: Path) -> None:
    spec = load_rig(path)
    assert spec.potentiostat.driver and spec.path == str(path)


def test_a_keithley_rig_reads_its_settings_in_si() -> None:
    spec = loads_rig("""
name = "bench"
poll_interval = "5 s"
[potentiostat]
driver = "keithley2450"
resource = "USB0::0x05E6::0x2450::04512345::INSTR"
sample_interval = "500 ms"
voltage_limit = "4.5 V"
current_limit = "100 uA"
[sensors.stack_pressure]
driver = "serial_load_cell"
port = "/dev/ttyUSB1"
area = "0.785 cm^2"
interval = "1 min"
""")
    settings = spec.potentiostat.settings
    assert (settings.sample_interval, settings.voltage_limit, settings.current_limit) == pytest.approx(
        (0.5, 4.5, 1e-4)
    )
    assert spec.poll_interval == 5.0
    (pressure,) = spec.sensors
    assert pressure.interval == 60.0 and pressure.settings.area == pytest.approx(0.785e-4)
    assert pressure.settings.name == "stack_pressure"


def test_unknown_driver_lists_the_installed_ones() -> None:
    message = problems('[potentiostat]\ndriver = "keithly2450"\nresource = "x"\n')
    assert "rig.toml: potentiostat.driver: no driver named 'keithly2450' is installed" in message
    assert "keithley2450" in message and "biologic" in message


def test_missing_resource_and_wrong_types_are_all_named_at_once() -> None:
    message = problems("""
[potentiostat]
driver = "keithley2450"
sample_interval = 5
four_wire = "maybe"
[sensors.cell_temperature]
driver = "serial_temperature"
interval = "often"
""")
    assert "potentiostat.resource: missing" in message
    assert "potentiostat.sample_interval" in message and "has no unit" in message
    assert "potentiostat.four_wire" in message and "'maybe'" in message
    assert "sensors.cell_temperature.port: missing" in message
    assert "sensors.cell_temperature.interval" in message and "'often'" in message


def test_a_driver_in_the_wrong_role_is_refused() -> None:
    message = problems('[potentiostat]\ndriver = "serial_temperature"\nport = "/dev/ttyUSB0"\n')
    assert "potentiostat.driver: 'serial_temperature' drives a sensor, not a potentiostat" in message


def test_structure_errors() -> None:
    assert "potentiostat: missing: every rig needs a [potentiostat] table" in problems('name = "x"\n')
    assert "microscop: unknown key" in problems(
        '[microscop]\ndriver = "zeiss"\n[potentiostat]\ndriver = "simulated_biologic"\n'
    )
    assert "name: must be 1-32 letters" in problems(
        'name = "my rig!"\n[potentiostat]\ndriver = "simulated_biologic"\n'
    )
    assert "malformed TOML" in problems("[potentiostat\n")
    assert "no such rig file" in str(pytest.raises(RigError, load_rig, ROOT / "nope.toml").value)


def test_a_plan_with_impedance_is_refused_for_a_source_meter_before_anything_is_made() -> None:
    plan = resolve(load_protocol(ROOT / "examples" / "peis.toml"))
    keithley = loads_rig('[potentiostat]\ndriver = "simulated_keithley2450"\n')
    found = check_plan(keithley, plan)
    assert len(found) == 1
    path, message, _ = found[0]
    assert path == "steps[1]" and "'PEIS' (PEIS) needs Impedance" in message
    assert "it runs ConstantCurrent, ConstantVoltage, OpenCircuit" in message
    assert check_plan(loads_rig('[potentiostat]\ndriver = "simulated_biologic"\n'), plan) == []

    async def main() -> None:
        with pytest.raises(RigError, match="steps\\[1\\]: step 'PEIS'"):
            await build(keithley, plan)

    run_simulated(main())


def test_a_driver_refusing_its_settings_at_build_names_the_table_and_releases_the_rest(
    tmp_path: Path,
) -> None:
    spec = loads_rig("""
[potentiostat]
driver = "simulated_keithley2450"
[sensors.cell_temperature]
driver = "simulated_temperature"
[sensors.broken]
driver = "serial_temperature"
port = " "
""")

    async def main() -> None:
        with pytest.raises(
            RigError, match="sensors.broken: driver 'serial_temperature' refused its settings"
        ):
            await build(spec)

    run_simulated(main())
    # The simulated temperature readout made before the failure was released: its pty folder is gone.
    assert not list(tmp_path.glob("operando-tty-*"))


def test_operando_check_with_a_rig_refuses_what_the_rig_cannot_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from operando.cli import main

    peis = str(ROOT / "examples" / "peis.toml")
    assert main(["check", peis, "--rig", str(ROOT / "examples" / "rigs" / "simulated-keithley.toml")]) == 2
    err = capsys.readouterr().err
    assert "not a valid protocol for this rig; nothing was started" in err
    assert "steps[1]: step 'PEIS' (PEIS) needs Impedance" in err
    assert main(["check", peis, "--rig", str(ROOT / "examples" / "rigs" / "simulated-biologic.toml")]) == 0


def test_check_plan_names_sensor_limits_for_sensors_the_rig_lacks() -> None:
    from operando.protocol import loads_protocol

    text = (
        (ROOT / "examples" / "peis.toml")
        .read_text()
        .replace("[[steps]]", '[safety.sensors.cell_temperature]\nmaximum = "45 degC"\n\n[[steps]]', 1)
    )
    plan = resolve(loads_protocol(text))
    spec = loads_rig('[potentiostat]\ndriver = "simulated_biologic"\n')
    assert check_plan(spec, plan) == [
        (
            "safety.sensors.cell_temperature",
            "the rig 'rig' has no sensor of that name (its sensors: none)",
            None,
        )
    ]
    assert "cannot be named after a role" in problems(
        '[potentiostat]\ndriver = "simulated_biologic"\n'
        '[sensors.microscope]\ndriver = "simulated_temperature"\n'
    )
