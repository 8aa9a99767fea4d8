"""Live mode against a real engine process (operando simulate on an embedded MQTT broker): start from the
GUI, points arrive, pause, resume, abort with confirmation; killing the GUI leaves the experiment running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from operando.storage import read_experiment, read_frames


def _start(qtbot, window, protocol: Path, out: Path, speed: str) -> None:  # noqa: ANN001
    window.protocol.open(protocol)
    qtbot.waitUntil(window.protocol.start_button.isEnabled, timeout=10_000)
    window.protocol.speed.setText(speed)
    window.protocol.out.setText(str(out))
    qtbot.mouseClick(window.protocol.start_button, Qt.MouseButton.LeftButton)
    assert window.messages == []


def _stop_engine(window) -> None:  # noqa: ANN001
    if window.started is not None and window.started.process.running():
        window.started.process.process.terminate()
        window.started.process.process.wait(30)


def _frames_seen(window) -> int:  # noqa: ANN001
    region = window.run.regions.get("wide")
    return 0 if region is None else len(region.frames)


def test_start_see_points_and_frames_pause_resume_abort(qtbot, window, imaging_protocol: Path,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "live.h5"
    _start(qtbot, window, imaging_protocol, out, speed="200")
    try:
        qtbot.waitUntil(lambda: window.controls.badge.state == "running" and len(window.run.points) >= 3,
                        timeout=30_000)
        assert window.run.path == str(out.resolve())
        # the simulated microscope images region "wide" every hour and at each step's end (0.5 h): frames
        # arrive in the Images dock, the newest shown, each a dashed marker on E(t). (The frame at t = 0 is
        # usually taken before the GUI has subscribed; a live GUI does not yet fill in the file's history.)
        qtbot.waitUntil(lambda: _frames_seen(window) >= 2 and window.images.shown is not None
                        and window.images.shown.row == _frames_seen(window) - 1, timeout=30_000)
        frame = window.images.shown
        assert frame.region == "wide" and frame.pixels.shape[0] == 2  # SE2 and ESB
        assert frame.pixels.std() > 0  # an image of the specimen, not a blank
        assert window.images.info.text().startswith("wide frame ")
        frame_hours = window.run.regions["wide"].frames["t_mid"] / 3600.0
        assert set(np.round(frame_hours[:2], 2)) <= {0.0, 0.5, 1.0}
        assert window.electrochem.markers[0]._x is not None and len(window.electrochem.markers[0]._x) >= 2
        for markers in window.electrochem.markers:
            np.testing.assert_allclose(markers._x[:2], frame_hours[:2])
        window.controls.pause_button.click()
        qtbot.waitUntil(lambda: window.controls.badge.state == "paused", timeout=15_000)
        assert not window.controls.pause_button.isEnabled() and window.controls.resume_button.isEnabled()
        window.controls.resume_button.click()
        qtbot.waitUntil(lambda: window.controls.badge.state == "running", timeout=15_000)
        seen = len(window.run.points)
        qtbot.waitUntil(lambda: len(window.run.points) > seen, timeout=15_000)  # points keep coming
        window.controls.abort_button.click()
        box = window.controls.confirmation
        assert box is not None and window.controls.badge.state == "running"  # nothing happens before a yes
        box.done(QMessageBox.StandardButton.Abort)
        qtbot.waitUntil(lambda: window.controls.badge.state == "aborted", timeout=20_000)
        window.started.process.process.wait(30)
    finally:
        _stop_engine(window)
    record = read_experiment(out)
    assert record.status == "aborted"
    kinds = [kind for _, kind, _ in record.events]
    states = [payload["new"] for _, kind, payload in record.events if kind == "state_changed"]
    assert states[:4] == ["running", "paused", "running", "finishing"] or "paused" in states
    assert "paused" in states and states[-1] == "aborted" and "note" in kinds
    # the GUI saw the very points the file holds (at least up to the last one it was sent)
    shown = window.run.points["t"]
    assert set(shown.round(6)) <= set(record.electrochem["t"].round(6))
    # and the very frames it holds: the file's frames from the first one the GUI was sent, in order, with the
    # pixels of the one the dock showed
    seen, in_file = window.run.regions["wide"].frames, record.rois["wide"].table
    first = int(np.argmin(np.abs(in_file["t_mid"] - seen["t_mid"][0])))
    np.testing.assert_allclose(seen["t_mid"], in_file["t_mid"][first:first + len(seen)])
    np.testing.assert_array_equal(seen["index"], in_file["index"][first:first + len(seen)])
    np.testing.assert_array_equal(frame.pixels, read_frames(out, "wide", int(seen["index"][frame.row])))


def test_killing_the_gui_mid_run_leaves_the_experiment_to_complete(short_protocol: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "survives.h5"
    script = f"""
import os, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from operando.ui.app import application
from operando.ui.main_window import MainWindow
app = application()
window = MainWindow(QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat))
window.show()
window.protocol.open({str(short_protocol)!r})
def spin(seconds, done):
    end = time.time() + seconds
    while time.time() < end and not done():
        app.processEvents()
        time.sleep(0.02)
spin(10, window.protocol.start_button.isEnabled)
window.protocol.speed.setText("1500")
window.protocol.out.setText({str(out)!r})
window.protocol.request_start()
spin(30, lambda: len(window.run.points) >= 3)
print("engine", window.started.process.pid, len(window.run.points), flush=True)
spin(120, lambda: False)
"""
    gui = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    with gui.stdout:
        line = gui.stdout.readline().split()
    assert line and line[0] == "engine", "the GUI did not start an engine and see its points"
    engine_pid, points_seen = int(line[1]), int(line[2])
    assert points_seen >= 3
    os.kill(gui.pid, signal.SIGKILL)
    gui.wait(10)
    deadline = time.time() + 60
    while time.time() < deadline and read_status(out) == "running":
        time.sleep(0.5)
    try:
        assert read_status(out) == "completed"
    finally:
        try:
            os.kill(engine_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    record = read_experiment(out)
    assert record.electrochem["t"][-1] == pytest.approx(3.5 * 3600, abs=120)  # the whole protocol ran


def read_status(path: Path) -> str:
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as file:
            return str(file["entry"].attrs["status"])
    except OSError:
        return "running"


def test_an_unreachable_broker_shows_a_message_and_changes_nothing(qtbot, window, simulated_file: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from operando.ui import live

    monkeypatch.setattr(live, "CONNECT_WITHIN", 1.0)
    window.open_file(simulated_file)
    qtbot.waitUntil(lambda: window.run.path == str(simulated_file), timeout=10_000)
    before = window.run
    window.attach(f"mqtt://127.0.0.1:{live.free_port()}", "nobody")
    qtbot.waitUntil(lambda: bool(window.messages), timeout=10_000)
    assert "cannot attach to the engine" in window.messages[-1] and "broker" in window.messages[-1]
    assert window.run is before and window.engine is None
    assert window.controls.badge.text() == "REPLAY: completed"
    window.attach("http://fibsem-pc", "rig")
    assert "cannot attach to 'http://fibsem-pc'" in window.messages[-1] and "mqtt://" in window.messages[-1]
    window.attach("mqtt://127.0.0.1:1883", "bad/rig name")
    assert "rig name 'bad/rig name'" in window.messages[-1]
    assert window.run is before
