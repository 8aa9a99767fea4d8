"""Authentication, a broker that dies mid-run, and the embedded broker with the GUI's client."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from operando.cli import main
from operando.engine import ExperimentState
from operando.storage.reader import read_experiment
from operando.telemetry import BrokerAddress, TelemetrySettings
from operando.telemetry.broker import free_port
from operando.telemetry.client import CommandFailed, EngineClient
from tests.telemetry.brokers import MOSQUITTO_PASSWD, Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import SHORT, EngineThread

pytestmark = needs_mosquitto


def test_an_engine_open_to_remote_commands_without_credentials_does_not_start(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "never.h5"
    # 192.0.2.1 (TEST-NET-1) is not loopback; the check refuses before any connection is tried
    code = main(["simulate", str(SHORT), "--out", str(out), "--broker", "mqtt://192.0.2.1:1883"])
    assert code == 2 and not out.exists()
    message = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert message.startswith("operando simulate: remote commands need authentication: "
                              "give --command-users FILE")


def test_commands_without_credentials_are_refused_and_logged(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, users={"engine": "engine-pw", "alice": "alice-pw", "viewer": "viewer-pw"})
    broker.start()
    commanders = tmp_path / "commanders.passwd"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(commanders), "alice", "alice-pw"], check=True)
    engine = EngineThread(tmp_path / "auth.h5", TelemetrySettings(
        BrokerAddress("127.0.0.1", broker.port, "engine", "engine-pw"), "auth", command_users=commanders,
        command_auth="required"), speed=1000)
    anonymous = Listener(broker.port).start()
    viewer = Listener(broker.port, "operando/auth/#", "viewer", "viewer-pw").start()
    try:
        assert anonymous.connect_result.is_failure  # the broker itself refuses strangers
        engine.start()
        wait_until(lambda: (viewer.last_state() or {}).get("state") == "running", 30, "the engine running")
        assert viewer.last_state()["commands"] == {"enabled": True, "authentication": True}
        viewer.publish("operando/auth/commands/pause", {"id": "v1", "user": "viewer"})
        refused = viewer.reply("v1")
        assert not refused["ok"] and "not authenticated" in refused["error"]
        viewer.publish("operando/auth/commands/pause", {"id": "v2", "user": "alice", "password": "guess"})
        assert "wrong user or password for 'alice'" in viewer.reply("v2")["error"]
        assert viewer.last_state()["state"] == "running"
        viewer.publish("operando/auth/commands/abort",
                       {"id": "a1", "user": "alice", "password": "alice-pw", "reason": "test over"})
        assert viewer.reply("a1")["ok"]
        result = engine.outcome()
    finally:
        anonymous.stop()
        viewer.stop()
        broker.kill()
    assert result.status is ExperimentState.ABORTED and "test over (by alice over MQTT)" in result.reason
    notes = read_experiment(engine.out).events_of("note")
    assert any("remote command pause from 'viewer' refused: pause: not authenticated" in n["text"]
               and n["author"] == "operando" for n in notes)
    assert any(n["text"].startswith("remote command abort from alice accepted") and n["author"] == "alice"
               for n in notes)


def test_a_broker_killed_mid_run_costs_no_data_and_the_engine_comes_back(fresh_mosquitto: Mosquitto,
                                                                         tmp_path: Path) -> None:
    engine = EngineThread(tmp_path / "outage.h5", TelemetrySettings(
        BrokerAddress("127.0.0.1", fresh_mosquitto.port), "outage"), speed=1500)
    listener = Listener(fresh_mosquitto.port, "operando/outage/#").start()
    engine.start()
    try:
        wait_until(lambda: len(listener.on("/electrochem")) > 3, 30, "points flowing")
        fresh_mosquitto.kill()
        listener.stop()
        wait_until(lambda: not engine.service.link.connected.is_set(), 10, "the engine to notice")
        time.sleep(1.0)  # the run goes on without a broker
        fresh_mosquitto.start()
        wait_until(lambda: engine.service.link.connections >= 2, 15, "the engine to reconnect")
        after = Listener(fresh_mosquitto.port, "operando/outage/#").start()
        wait_until(lambda: after.on("/state"), 15, "the state again")
        # a new broker (no persistence) knew nothing: a late joiner's retained state was republished
        late = Listener(fresh_mosquitto.port, "operando/outage/state").start()
        state = wait_until(lambda: late.on("/state"), 5, "retained state republished")[0]
        late.stop()
        assert state.retain and state.json()["rig"] == "outage"
        result = engine.outcome()
        wait_until(lambda: (after.last_state() or {}).get("state") == "completed", 10, "the final state")
        after.stop()
    finally:
        fresh_mosquitto.kill()
    assert result.status is ExperimentState.COMPLETED
    assert engine.service.link.connections >= 2
    record = read_experiment(engine.out)
    assert record.status == "completed" and len(record.electrochem["t"]) == result.points
    # the file has no hole where the broker was away: points every 10 s at rest, every 60 s after
    assert np.max(np.diff(record.electrochem["t"])) < 61.0
    assert record.electrochem["t"][-1] > 3 * 3600  # 2 h charge + 1 h discharge + 10 min rest


def test_embedded_broker_and_the_client_api(tmp_path: Path) -> None:
    port = free_port()
    engine = EngineThread(tmp_path / "embedded.h5",
                          TelemetrySettings("embedded", "bench", embedded_port=port), speed=500)
    engine.start()
    assert engine.started_service.wait(30) and engine.error is None
    assert engine.service.address == BrokerAddress("127.0.0.1", port)

    async def use_it() -> list[str]:
        seen = []
        async with EngineClient(f"mqtt://127.0.0.1:{port}", "bench", user="alice") as client:
            states = client.stream("state")
            await client.wait_connected()

            async def until(state: str) -> None:
                async for message in states:
                    seen.append(message.payload["state"])
                    if message.payload["state"] == state:
                        return
            await asyncio.wait_for(until("running"), 20)
            assert (await client.command("note", text="from the GUI"))["detail"] == "noted"
            with pytest.raises(CommandFailed, match="resume"):
                await client.command("resume")
            await client.command("pause", reason="look closer")
            await asyncio.wait_for(until("paused"), 20)
            await client.command("resume")
            await asyncio.wait_for(until("running"), 20)
            with pytest.raises(TimeoutError, match="no reply from rig 'ghost'"):
                await client.command("note", rig="ghost", text="anyone?", within=0.5)
            await client.command("abort", reason="done")
        return seen

    seen = asyncio.run(use_it())
    result = engine.outcome()
    assert result.status is ExperimentState.ABORTED
    assert "paused" in seen
    notes = read_experiment(engine.out).events_of("note")
    assert {"from the GUI"} <= {n["text"] for n in notes if n["author"] == "alice"}
