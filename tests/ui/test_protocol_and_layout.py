"""Protocol dock (live validation with field paths, the check estimate, refused starts), remembered layout,
and the min/max envelope the live plot draws from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from operando.ui.decimate import Envelope
from operando.ui.workers import wait_idle
from PySide6.QtCore import QSettings


def _validated(qtbot, window) -> None:  # noqa: ANN001
    window.protocol.validate_now()
    qtbot.waitUntil(lambda: wait_idle(100) and window.protocol.verdict.text() != "checking...",
                    timeout=10_000)
    qtbot.wait(50)


def test_valid_protocol_shows_the_check_estimate(qtbot, window, short_protocol: Path) -> None:
    assert window.protocol.open(short_protocol)
    _validated(qtbot, window)
    assert window.protocol.verdict.text() == "valid" and window.protocol.start_button.isEnabled()
    estimate = window.protocol.estimate.toPlainText()
    assert "protocol 'gui-short'" in estimate and "total estimated duration: 3 h 30 min" in estimate


def test_invalid_protocol_names_field_and_line_and_nothing_starts(qtbot, window, short_protocol: Path,
                                                                  tmp_path: Path) -> None:
    window.protocol.open(short_protocol)
    text = window.protocol.editor.toPlainText().replace('current = "C/60"', 'current = "15 parsecs"')
    window.protocol.editor.setPlainText(text)
    _validated(qtbot, window)
    problems = [window.protocol.problems.item(k).text() for k in range(window.protocol.problems.count())]
    assert window.protocol.verdict.text() == "1 problem"
    assert problems[0].startswith("steps[1].current:") and "15 parsecs" in problems[0]
    line = text.splitlines().index('current = "15 parsecs"') + 1
    assert f"TOML line {line}" in problems[0]
    assert not window.protocol.start_button.isEnabled()
    started = []
    window.protocol.start_requested.connect(started.append)
    window.protocol.request_start()
    assert started == [] and window.engine is None and window.pending is None
    assert "the protocol is not valid" in window.messages[-1]
    assert short_protocol.read_text().count("15 parsecs") == 0  # the file on disk is untouched


def test_missing_rig_file_and_existing_output_are_refused(qtbot, window, short_protocol: Path,
                                                          simulated_file: Path, tmp_path: Path) -> None:
    window.protocol.open(short_protocol)
    _validated(qtbot, window)
    started = []
    window.protocol.start_requested.connect(started.append)
    window.protocol.rig.setCurrentText("rig file")
    window.protocol.rig_file.setText(str(tmp_path / "no-such-rig.toml"))
    window.protocol.request_start()
    assert f"rig file {tmp_path / 'no-such-rig.toml'} does not exist" in window.messages[-1]
    window.protocol.rig.setCurrentText("simulator")
    window.protocol.speed.setText("fast please")
    window.protocol.out.setText(str(simulated_file))
    window.protocol.request_start()
    assert "speed: expected a factor such as 3600 or 'max', got 'fast please'" in window.messages[-1]
    assert f"the file {simulated_file} already exists" in window.messages[-1]
    assert started == [] and window.engine is None


def test_opening_bad_files_shows_why_and_keeps_what_is_shown(qtbot, window, simulated_file: Path,
                                                             tmp_path: Path) -> None:
    window.open_file(simulated_file)
    qtbot.waitUntil(lambda: window.run.path == str(simulated_file), timeout=10_000)
    shown = window.run
    window.open_file(tmp_path / "missing.h5")
    assert "no such file" in window.messages[-1]
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not an experiment")
    window.open_file(not_hdf5)
    qtbot.waitUntil(lambda: len(window.messages) == 2, timeout=10_000)
    assert f"cannot open {not_hdf5} as an experiment file" in window.messages[-1]
    assert window.run is shown
    assert not window.protocol.open(tmp_path / "missing.toml")
    assert "cannot open protocol" in window.messages[-1]


def test_dock_layout_is_remembered(qtbot, settings: QSettings) -> None:
    from operando.ui.app import application
    from operando.ui.main_window import MainWindow

    application()
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.show()
    first.docks["drift_dose"].setFloating(True)
    first.docks["events"].hide()
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    second.show()
    assert second.docks["drift_dose"].isFloating()
    assert not second.docks["events"].isVisible() and second.docks["images"].isVisible()
    second.reset_layout()
    assert not second.docks["drift_dose"].isFloating() and second.docks["events"].isVisible()


@pytest.mark.parametrize("length", [0, 63, 64, 1000, 4097])
def test_envelope_keeps_every_blocks_extremes_as_points_arrive(length: int) -> None:
    rng = np.random.default_rng(length)
    x = np.arange(length, dtype=float)
    y = rng.standard_normal(length)
    y[5:70] = np.nan if length > 70 else y[5:70]  # a block with no reading at all must not warn
    envelope = Envelope(block=64)
    for end in (length // 3, length // 2, length):  # arriving in three batches
        envelope.update(x[:end], y[:end])
    xs, ys = envelope.curve(x, y)
    blocks = length // 64
    assert envelope.covered == blocks * 64
    for k in range(blocks):
        block = y[64 * k:64 * (k + 1)]
        expected = (np.nanmin(block), np.nanmax(block)) if np.isfinite(block).any() else (np.nan, np.nan)
        np.testing.assert_array_equal(ys[2 * k:2 * k + 2], expected)
    np.testing.assert_array_equal(ys[2 * blocks:], y[blocks * 64:])  # the tail is drawn raw
    assert len(xs) == 2 * blocks + length - blocks * 64
