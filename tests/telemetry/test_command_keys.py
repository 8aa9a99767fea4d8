"""Commands keyed safely, end to end through a real mosquitto and the embedded broker: the reply cache is keyed
by the authenticated author and the id, a refused command never shadows a later authenticated one, an id
reused for another command is refused, and a retained command is refused (never obeyed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from operando.engine import ExperimentState
from operando.storage.reader import read_experiment
from operando.telemetry import BrokerAddress, TelemetrySettings
from operando.telemetry.broker import free_port
from tests.telemetry.brokers import MOSQUITTO_PASSWD, Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import EngineThread

ALICE = {"user": "alice", "password": "alice-pw"}


def _state(listener: Listener) -> str:
    return (listener.last_state() or {}).get("state", "")


@needs_mosquitto
def test_ids_are_keyed_by_the_authenticated_author_and_retained_commands_are_refused(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, users={"engine": "engine-pw", "alice": "alice-pw", "viewer": "viewer-pw"})
    broker.start()
    commanders = tmp_path / "commanders.passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(commanders), "alice", "alice-pw"], check=True)
    viewer = Listener(broker.port, "operando/keys/#", "viewer", "viewer-pw").start()
    # a retained abort waiting on the broker before the engine subscribes: delivered on subscribe, refused
    viewer.publish("operando/keys/commands/abort", {"id": "stale", **ALICE}, retain=True)
    engine = EngineThread(tmp_path / "keys.h5", TelemetrySettings(
        BrokerAddress("127.0.0.1", broker.port, "engine", "engine-pw"), "keys", command_users=commanders,
        command_auth="required"), speed=1000)
    try:
        engine.start()
        stale = viewer.reply("stale", timeout=30)
        assert not stale["ok"] and "retained command" in stale["error"]
        viewer.publish("operando/keys/commands/abort", "", retain=True)  # clear it from the broker
        wait_until(lambda: _state(viewer) == "running", 30, "the engine running")

        # an anonymous abort with id a1 is refused; alice's own a1 later is a different command
        viewer.publish("operando/keys/commands/abort", {"id": "a1"})
        assert "not authenticated" in viewer.reply("a1")["error"]
        viewer.publish("operando/keys/commands/pause", {"id": "p1", **ALICE, "reason": "look"})
        assert viewer.reply("p1")["ok"]
        wait_until(lambda: _state(viewer) == "paused", 10, "state paused")

        # the same id by the same author for another command: refused, not answered with pause's reply
        viewer.messages.clear()
        viewer.publish("operando/keys/commands/resume", {"id": "p1", **ALICE})
        reused = viewer.reply("p1")
        assert reused["command"] == "resume" and not reused["ok"]
        assert "id 'p1' was already used by alice for pause" in reused["error"]

        # a retained command published while the engine listens arrives without the flag on MQTT 3.1.1:
        # the engine subscribes retain-as-published (MQTT 5), so it is seen and refused
        viewer.publish("operando/keys/commands/resume", {"id": "r0", **ALICE}, retain=True)
        retained = viewer.reply("r0")
        assert not retained["ok"] and "retained command" in retained["error"]
        viewer.publish("operando/keys/commands/resume", "", retain=True)
        assert _state(viewer) == "paused"

        viewer.publish("operando/keys/commands/resume", {"id": "r1", **ALICE})
        assert viewer.reply("r1")["ok"]
        wait_until(lambda: _state(viewer) == "running", 10, "state running again")
        viewer.publish("operando/keys/commands/abort", {"id": "a1", **ALICE, "reason": "test over"})
        accepted = viewer.reply("a1")
        assert accepted["ok"], accepted
        result = engine.outcome()
    finally:
        viewer.stop()
        broker.kill()
    assert result.status is ExperimentState.ABORTED and "test over (by alice over MQTT)" in result.reason
    notes = [n["text"] for n in read_experiment(engine.out).events_of("note")]
    assert sum(text.startswith("remote command resume from alice accepted") for text in notes) == 1
    assert sum(text.startswith("remote command pause from alice accepted") for text in notes) == 1


def test_a_retained_command_through_the_embedded_broker_is_refused(tmp_path: Path) -> None:
    port = free_port()
    engine = EngineThread(tmp_path / "embedded.h5",
                          TelemetrySettings("embedded", "held", embedded_port=port), speed=500)
    engine.start()
    assert engine.started_service.wait(30) and engine.error is None
    listener = Listener(port, "operando/held/#").start()
    try:
        wait_until(lambda: _state(listener) == "running", 30, "the engine running")
        listener.publish("operando/held/commands/abort", {"id": "r1"}, retain=True)
        refused = listener.reply("r1")
        assert not refused["ok"] and "retained command" in refused["error"]
        listener.publish("operando/held/commands/abort", {"id": "a1", "reason": "done"})
        assert listener.reply("a1")["ok"]
        result = engine.outcome()
    finally:
        listener.stop()
    assert result.status is ExperimentState.ABORTED and result.reason.startswith("done")
