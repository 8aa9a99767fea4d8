"""The GUI and the engines it follows: Start stays disabled while its engine runs, an engine that dies is shown
dead within 10 s (whether the GUI started it or only attached to it), and no child is left a zombie."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and zombies are POSIX")


def process_state(pid: int) -> str | None:
    """The kernel's state letter of ``pid`` ('Z' for a zombie), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_start_is_disabled_while_its_engine_runs_and_a_killed_engine_is_shown_dead_and_reaped(
        qtbot, window, short_protocol: Path, tmp_path: Path) -> None:  # noqa: ANN001
    window.protocol.open(short_protocol)
    qtbot.waitUntil(window.protocol.start_button.isEnabled, timeout=10_000)
    window.protocol.speed.setText("60")  # 3.5 simulated hours in about 3.5 min: killed long before the end
    window.protocol.out.setText(str(tmp_path / "killed.h5"))
    qtbot.mouseClick(window.protocol.start_button, Qt.MouseButton.LeftButton)
    engine = window.started.process
    try:
        assert not window.protocol.start_button.isEnabled()  # at once, before the engine even answers
        qtbot.waitUntil(lambda: window.controls.badge.state == "running" and len(window.run.points) >= 2,
                        timeout=60_000)  # a loaded machine can take a while to start Python and the broker
        assert not window.protocol.start_button.isEnabled()
        window.protocol.out.setText(str(tmp_path / "second.h5"))
        window.protocol.request_start()  # a second start (keyboard, script) is refused too
        assert "the engine started here is still running (pid" in window.messages[-1]
        assert len(window.children) == 1 and not (tmp_path / "second.h5").exists()
        os.kill(engine.pid, signal.SIGKILL)
        killed = time.monotonic()
        qtbot.waitUntil(lambda: window.controls.badge.state == "offline", timeout=10_000)
        noticed = time.monotonic() - killed
        kernel_state, children = process_state(engine.pid), list(window.children)  # before anyone else waits
    finally:
        if engine.process.returncode is None:  # the GUI did not reap it: do it here (the test fails below)
            engine.process.kill()
            engine.process.wait(10)
        window.close()  # detach: a history read still on the pool finds nothing to update
    assert noticed < 10.0
    assert window.controls.badge.text() == f"OFFLINE: the engine (pid {engine.pid}) ended: killed by signal 9"
    assert not window.controls.pause_button.isEnabled() and not window.controls.abort_button.isEnabled()
    assert kernel_state is None and children == []  # reaped by the GUI: no zombie ("Z") left
    assert engine.process.returncode == -signal.SIGKILL
    assert window.protocol.start_button.isEnabled()  # the cell is free again


def test_an_attached_engine_that_dies_with_its_embedded_broker_is_shown_offline_within_10_s(
        qtbot, window, short_protocol: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from operando.ui.live import free_port

    port = free_port()
    out = tmp_path / "elsewhere.h5"
    command = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())", "simulate",
               str(short_protocol), "--out", str(out), "--speed", "60", "--broker", "embedded",
               "--embedded-port", str(port), "--rig-name", "bench-7"]
    engine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while window.engine is None and time.monotonic() < deadline:  # the broker takes a moment to listen
            window.messages.clear()
            window.attach(f"mqtt://127.0.0.1:{port}", "bench-7")
            qtbot.waitUntil(lambda: window.engine is not None or bool(window.messages), timeout=15_000)
        qtbot.waitUntil(lambda: window.controls.badge.state == "running" and window._beat_interval == 2.0,
                        timeout=60_000)
        assert window.children == []  # not started here: only the heartbeat can tell
        os.kill(engine.pid, signal.SIGKILL)
        killed = time.monotonic()
        qtbot.waitUntil(lambda: window.controls.badge.state == "offline", timeout=10_000)
        noticed = time.monotonic() - killed
    finally:
        engine.kill()
        engine.wait(10)
        window.close()
    assert 6.0 <= noticed < 10.0  # three missed heartbeats of 2 s, checked every second
    assert window.controls.badge.text().startswith("OFFLINE: no heartbeat from the engine for ")


def test_start_on_a_record_or_instruments_another_engine_holds_is_refused(
        qtbot, window, short_protocol: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from operando import locks
    from operando.rigfile import loads_rig

    monkeypatch.setenv("OPERANDO_LOCK_DIR", str(tmp_path / "instrument-locks"))
    window.protocol.open(short_protocol)
    qtbot.waitUntil(window.protocol.start_button.isEnabled, timeout=10_000)
    out = tmp_path / "held.h5"
    window.protocol.out.setText(str(out))
    with locks.lock_record(out):  # another engine is about to write this record
        window.protocol.request_start()
    assert window.messages[-1].startswith(f"Nothing was started: the record {out} is in use by another engine: "
                                          f"pid {os.getpid()} on host ")
    rig = tmp_path / "cell-b.toml"
    rig.write_text('name = "cell-b"\n[potentiostat]\ndriver = "biologic"\naddress = "10.0.0.7"\nchannel = 4\n')
    window.protocol.rig.setCurrentText("rig file")
    window.protocol.rig_file.setText(str(rig))
    with locks.holding(locks.lock_instruments(loads_rig(rig.read_text()))):
        window.protocol.request_start()
    assert "the potentiostat of rig 'cell-b' (address=10.0.0.7 channel=4) is in use by another engine: pid " \
        f"{os.getpid()}" in window.messages[-1]
    assert window.children == [] and window.started is None and not out.exists()
    assert window.protocol.start_button.isEnabled()
