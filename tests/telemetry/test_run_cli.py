"""`operando run PROTOCOL --rig RIG`: headless on a rig file, publishing under the rig's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from operando.cli import main
from operando.service import start_engine
from operando.storage.reader import read_experiment
from tests.telemetry.brokers import Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import SHORT
from tests.telemetry.schemas import validate

RIG = Path(__file__).resolve().parents[2] / "examples" / "rigs" / "simulated-biologic.toml"


@needs_mosquitto
def test_run_on_a_rig_file_publishes_under_the_rigs_name(mosquitto: Mosquitto, tmp_path: Path) -> None:
    listener = Listener(mosquitto.port, "operando/simulated-biologic/#").start()
    out = tmp_path / "run.h5"
    try:
        code = main(["run", str(SHORT), "--rig", str(RIG), "--out", str(out), "--speed", "20000",
                     "--broker", mosquitto.url])
        goodbye = lambda: [m for m in listener.on("/status") if m.json()["status"] == "offline"]  # noqa: E731
        wait_until(goodbye, 10, "the engine's goodbye")  # sent last, after the final state
    finally:
        listener.stop()
    assert code == 0
    final = listener.last_state()
    validate("state", final)
    assert (final["state"], final["file"], final["experiment"]) == ("completed", str(out.resolve()),
                                                                     "telemetry-short")
    record = read_experiment(out)
    assert record.status == "completed" and record.attrs["rig_config"]  # the rig file is in the record


def test_run_refuses_a_missing_rig_file_before_anything_moves(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never.h5"
    assert main(["run", str(SHORT), "--rig", str(tmp_path / "nope.toml"), "--out", str(out)]) == 2
    assert not out.exists()
    assert "no such rig file" in " ".join(capsys.readouterr().err.split())


def test_start_engine_runs_only_the_engine_commands() -> None:
    with pytest.raises(ValueError, match="'operando run' or 'operando simulate'"):
        start_engine(["watch"])
