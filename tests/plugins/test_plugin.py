"""A lab's own driver package (tests/plugins/demo_plugin, the worked example of docs/writing-a-driver.md) is
installed beside operando and its driver is used from a rig file, with no change to operando.

Installing: the package is copied into a fresh folder with the dist-info pip would write (METADATA and the
entry points read from the package's own pyproject), and the folder is put on sys.path, so importlib.metadata
finds it exactly as it finds an installed distribution.
"""

import asyncio
import os
import shutil
import sys
import threading
import tomllib
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from operando.clock import run_simulated
from operando.errors import InstrumentError
from operando.rigfile import RigError, build, installed_drivers, loads_rig

PLUGIN = Path(__file__).with_name("demo_plugin")


def install(target: Path) -> None:
    """Install the plugin into ``target`` as a wheel install would lay it out."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    shutil.copytree(PLUGIN / "operando_arduino_pt100", target / "operando_arduino_pt100")
    dist = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items())
        for group, entries in project["entry-points"].items()
    ]
    (dist / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "site"
    target.mkdir()
    install(target)
    sys.path.insert(0, str(target))
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for module in [m for m in sys.modules if m.startswith("operando_arduino_pt100")]:
            del sys.modules[module]


@pytest.fixture
def arduino() -> Iterator[tuple[str, list[bytes]]]:
    """A pty whose far end answers READ with 24.81 (deg C), as the lab's Arduino does."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    heard: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        pending = b""
        while not stop.is_set():
            try:
                pending += os.read(master, 64)
            except OSError:
                return
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                heard.append(line)
                os.write(master, b"24.81\n" if line == b"READ" else b"?\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield os.ttyname(slave), heard
    stop.set()
    os.close(slave)
    os.close(master)
    thread.join(timeout=2)


RIG = """
name = "bench-with-pt100"
[potentiostat]
driver = "simulated_keithley2450"
[sensors.holder_temperature]
driver = "arduino_pt100"
port = "{port}"
timeout = "0.5 s"
interval = "30 s"
"""


def test_the_plugin_is_not_there_before_it_is_installed() -> None:
    assert "arduino_pt100" not in installed_drivers()
    with pytest.raises(
        RigError, match="no driver named 'arduino_pt100' is installed; installed drivers: .*keithley2450"
    ):
        loads_rig(RIG.format(port="/dev/null"))


def test_an_installed_plugin_driver_is_used_from_a_rig_file(plugin: Path, arduino) -> None:  # noqa: ANN001
    port, heard = arduino
    spec = loads_rig(RIG.format(port=port))
    assert [(s.name, s.driver, s.interval) for s in spec.sensors] == [
        ("holder_temperature", "arduino_pt100", 30.0)
    ]

    async def main() -> None:
        rig = await build(spec)
        sensor = rig.sensors["holder_temperature"]
        assert type(sensor).__module__ == "operando_arduino_pt100"
        assert rig.sensor_intervals == {"holder_temperature": 30.0}
        info = await sensor.connect()
        assert info.model == "Arduino Pt100"
        reading = await sensor.read()
        assert reading.value == pytest.approx(24.81 + 273.15)
        assert (reading.unit, reading.quantity) == ("K", "temperature")
        await sensor.disconnect()
        await rig.close()

    run_simulated(main())
    assert heard == [b"READ"]


def test_the_plugins_settings_are_validated_by_its_own_model(plugin: Path) -> None:
    with pytest.raises(RigError) as raised:
        loads_rig(RIG.format(port="/dev/null").replace('timeout = "0.5 s"', 'timeout = "fast"\nbaud = 9600'))
    message = str(raised.value)
    assert "sensors.holder_temperature.timeout" in message and "'fast'" in message
    assert "sensors.holder_temperature.baud: unknown setting for this driver" in message


def test_a_plugin_that_cannot_reach_its_port_fails_at_connect_with_its_own_error(plugin: Path) -> None:
    async def main() -> None:
        rig = await build(loads_rig(RIG.format(port="/dev/ttyNOPE9")))
        with pytest.raises(InstrumentError, match="cannot open /dev/ttyNOPE9"):
            await rig.sensors["holder_temperature"].connect()
        await rig.close()

    run_simulated(main())
    assert asyncio.iscoroutinefunction(build)
