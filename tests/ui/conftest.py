"""GUI tests run offscreen (no display), with their own settings file and a short simulated run on disk."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402 - Qt must see the platform before it is imported

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from operando.cli import main as operando_main  # noqa: E402

SHORT_PROTOCOL = """
name = "gui-short"

[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"

[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "50 uA"
duration_max = "20 h"

[[steps]]
name = "OCV"
technique = "rest"
duration = "30 min"
record.every = "60 s"

[[steps]]
name = "charge"
technique = "constant_current"
current = "C/60"
until.time = "3 h"
record.every = "60 s"
"""

# The same run imaged by the simulated microscope: one small region (512 x 384 px, so seconds not minutes)
# every hour from t = 0 and at the end of each step: frames at 0, 0.5, 1, 2, 3 and 3.5 h.
IMAGING_SECTION = """
[imaging]
max_probe_current = "2 nA"

[[imaging.regions]]
name = "wide"
stage_position = "current"
pixel_size = "42.5 nm"
frame_size = "512x384"
dwell = "800 ns"
detectors = ["SE2", "ESB"]
accelerating_voltage = "2 kV"
probe_current = "2 nA"
tilt_correction = "-36 deg"
min_interval = "10 min"
settle_time = "1 s"
triggers = [{ every = "1 h" }, { step_end = true }]
"""
IMAGING_PROTOCOL = SHORT_PROTOCOL.replace('name = "gui-short"', 'name = "gui-imaging"') + IMAGING_SECTION


@pytest.fixture(scope="session")
def imaging_protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("protocols") / "imaging.toml"
    path.write_text(IMAGING_PROTOCOL)
    return path


@pytest.fixture(scope="session")
def imaging_file(tmp_path_factory: pytest.TempPathFactory, imaging_protocol: Path) -> Path:
    """A finished ``operando simulate`` file with real frames from the simulated Zeiss rig (region "wide")."""
    out = tmp_path_factory.mktemp("runs") / "imaging.h5"
    assert operando_main(["simulate", str(imaging_protocol), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def short_protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("protocols") / "short.toml"
    path.write_text(SHORT_PROTOCOL)
    return path


@pytest.fixture(scope="session")
def simulated_file(tmp_path_factory: pytest.TempPathFactory, short_protocol: Path) -> Path:
    """A finished file from ``operando simulate``: 30 min rest, then 3 h at C/60 (15 uA), a point a minute."""
    out = tmp_path_factory.mktemp("runs") / "short.h5"
    assert operando_main(["simulate", str(short_protocol), "--out", str(out)]) == 0
    return out


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "operando-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings: QSettings):  # noqa: ANN001 - pytest-qt's fixture
    from operando.ui.app import application
    from operando.ui.main_window import MainWindow

    application()
    main_window = MainWindow(settings=settings)
    qtbot.addWidget(main_window)
    main_window.show()
    yield main_window
    from operando.ui.workers import wait_idle

    wait_idle()
