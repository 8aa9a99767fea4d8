"""Two simulated rigs on one broker at once, told apart by rig name; `operando watch` shows both."""

from __future__ import annotations

from pathlib import Path

import pytest

from operando.cli import main
from operando.storage.reader import read_experiment
from tests.telemetry.brokers import Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import engine_process, finished, log_of
from tests.telemetry.schemas import validate

pytestmark = needs_mosquitto


def test_two_rigs_share_a_broker(mosquitto: Mosquitto, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    listener = Listener(mosquitto.port, "operando/+/#").start()
    broker = ("--broker", mosquitto.url)
    first, first_out = engine_process(tmp_path, "rig-a", *broker, speed=3000)
    second, second_out = engine_process(tmp_path, "rig-b", *broker, "--seed", "7", speed=3000)
    both = {"operando/rig-a/state", "operando/rig-b/state"}
    try:
        wait_until(lambda: (listener.last_state() or {}).get("state") == "running"
                   and {m.topic for m in listener.on("/state")} >= both, 40, "both rigs running")
        listener.publish("operando/rig-a/commands/note", {"id": "only-a", "user": "al", "text": "for rig a"})
        assert listener.reply("only-a")["ok"]
        assert finished(first) == 0, log_of(first)
        assert finished(second) == 0, log_of(second)
        wait_until(lambda: len([m for m in listener.on("/status") if m.json()["status"] == "offline"]) == 2,
                   10, "both offline")
    finally:
        for process in (first, second):
            if process.running():
                process.process.kill()
        listener.stop()

    def last_state(rig: str) -> dict:
        return [m.json() for m in listener.messages if m.topic == f"operando/{rig}/state"][-1]

    a, b = last_state("rig-a"), last_state("rig-b")
    for state in (a, b):
        validate("state", state)
    assert (a["rig"], a["file"], a["state"]) == ("rig-a", str(first_out.resolve()), "completed")
    assert (b["rig"], b["file"], b["state"]) == ("rig-b", str(second_out.resolve()), "completed")
    assert a["pid"] != b["pid"]
    notes = {rig: [m.json().get("text") for m in listener.messages
                   if m.topic == f"operando/{rig}/events" and m.json()["kind"] == "note"]
             for rig in ("rig-a", "rig-b")}
    assert "for rig a" in notes["rig-a"] and "for rig a" not in notes["rig-b"]
    assert [n["text"] for n in read_experiment(second_out).events_of("note")] == []
    assert read_experiment(first_out).status == read_experiment(second_out).status == "completed"

    capsys.readouterr()
    assert main(["watch", "--once", "1.5", "--broker", mosquitto.url]) == 0  # retained states of both
    screen = capsys.readouterr().out
    assert "rig-a" in screen and "rig-b" in screen and "COMPLETED" in screen
    assert main(["watch", "--once", "0.5", "--broker", mosquitto.url, "--rig", "nobody"]) == 1
    assert "no engine seen" in capsys.readouterr().out
