"""End to end against a real mosquitto: `operando simulate --broker` in its own process, an independent
paho client, every message checked against docs/telemetry.md, retained state for a late joiner, commands
round trip (note, pause -> paused -> resume), the record of who commanded what, and the last will."""

from __future__ import annotations

import os
import signal

import numpy as np

from operando.storage.reader import read_experiment
from tests.telemetry.brokers import Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import engine_process, finished, log_of
from tests.telemetry.schemas import schema_for_topic, validate

pytestmark = needs_mosquitto


def _state_is(listener: Listener, state: str):  # noqa: ANN202
    return lambda: (listener.last_state() or {}).get("state") == state


def test_a_run_publishes_what_the_doc_says_and_obeys_commands(mosquitto: Mosquitto, tmp_path) -> None:  # noqa: ANN001
    listener = Listener(mosquitto.port, "operando/e2e/#").start()
    process, out = engine_process(tmp_path, "e2e", "--broker", mosquitto.url, speed=2500)
    late: Listener | None = None
    try:
        wait_until(lambda: ((listener.last_state() or {}).get("step") or {}).get("index") == 1, 40,
                   "the charge step on operando/e2e/state")
        late = Listener(mosquitto.port, "operando/e2e/#").start()
        wait_until(lambda: len(late.on("/state")) and len(late.on("/status")), 5, "retained state and status")
        joined = {m.topic: m for m in late.messages[:2]}
        assert set(joined) == {"operando/e2e/state", "operando/e2e/status"}  # the first two, both retained
        assert all(m.retain for m in joined.values())
        assert joined["operando/e2e/status"].json()["status"] == "online"
        first_state = joined["operando/e2e/state"].json()
        assert first_state["state"] == "running" and first_state["file"] == str(out.resolve())
        assert first_state["commands"] == {"enabled": True, "authentication": False}

        listener.publish("operando/e2e/commands/note", {"id": "n1", "user": "alice", "text": "beam checked"})
        assert listener.reply("n1")["ok"]
        listener.publish("operando/e2e/commands/pause", {"id": "p1", "user": "alice", "reason": "dewar"})
        assert listener.reply("p1")["ok"]
        wait_until(_state_is(listener, "paused"), 10, "state paused")
        listener.publish("operando/e2e/commands/acquire-now", {"id": "a1", "user": "alice", "region": "x"})
        refused = listener.reply("a1")
        assert not refused["ok"] and refused["error"].startswith("acquire-now: ")  # no such region here
        listener.publish("operando/e2e/commands/resume", {"id": "r1", "user": "alice"})
        assert listener.reply("r1")["ok"]
        wait_until(_state_is(listener, "running"), 10, "state running again")
        listener.publish("operando/e2e/commands/resume", {"id": "r2", "user": "alice"})
        assert not listener.reply("r2")["ok"]  # not paused any more
        assert finished(process) == 0, log_of(process)
        wait_until(lambda: listener.on("/status")[-1].json()["status"] == "offline", 10, "status offline")
    finally:
        if process.running():
            process.process.kill()
        listener.stop()
        if late is not None:
            late.stop()

    for message in listener.messages:  # everything the engine sent is what the doc says
        kind = schema_for_topic(message.topic)
        if kind is not None:
            validate(kind, message.json())
        else:
            assert message.topic.startswith(("operando/e2e/commands/", "operando/e2e/thumbnails/"))
    final = listener.last_state()
    assert final["state"] == "completed" and final["dropped"] == 0
    heartbeats = [m.json() for m in listener.on("/heartbeat")]  # the engine's pulse, for clients' deadlines
    assert heartbeats and {h["interval"] for h in heartbeats} == {2.0} and not any(
        m.retain for m in listener.on("/heartbeat"))
    assert listener.on("/status")[-1].json()["reason"] == "engine stopped"

    record = read_experiment(out)
    assert record.status == "completed"
    # the live stream is the file's points thinned to the first of each second of the timeline (1 s default)
    published = np.concatenate([m.json()["t"] for m in listener.on("/electrochem")])
    recorded = record.electrochem["t"]
    _, first_of_each_second = np.unique(np.floor(recorded), return_index=True)
    assert np.array_equal(published, recorded[first_of_each_second])
    assert len(published) > 0.9 * len(recorded)  # points come every 10-60 s: almost all go out
    notes = record.events_of("note")
    assert {"text": "beam checked", "author": "alice"}.items() <= next(
        n for n in notes if n["text"] == "beam checked").items()
    assert any(n["text"].startswith("remote command pause from alice accepted") and n["author"] == "alice"
               for n in notes)
    assert any("remote command acquire-now from 'alice' refused" in n["text"] for n in notes)
    changes = [(c["old"], c["new"]) for c in record.events_of("state_changed")]
    assert ("running", "paused") in changes and ("paused", "running") in changes
    published_events = [m.json()["kind"] for m in listener.on("/events")]
    assert published_events.count("state_changed") == len(changes)  # nothing lost on the way


def test_the_last_will_marks_a_killed_engine_offline(mosquitto: Mosquitto, tmp_path) -> None:  # noqa: ANN001
    listener = Listener(mosquitto.port, "operando/doomed/status").start()
    process, _ = engine_process(tmp_path, "doomed", "--broker", mosquitto.url, speed=100)
    try:
        wait_until(lambda: listener.on("/status") and listener.on("/status")[-1].json()["status"] == "online",
                   30, "the engine online")
        os.kill(process.pid, signal.SIGKILL)
        process.process.wait(10)
        will = wait_until(lambda: [m for m in listener.on("/status") if m.json()["status"] == "offline"], 10,
                          "the last will")
        assert will[0].json()["reason"] == "connection lost"
        assert will[0].json()["pid"] == process.pid
    finally:
        if process.running():
            process.process.kill()
        listener.stop()
    late = Listener(mosquitto.port, "operando/doomed/status").start()  # a late joiner learns it too
    try:
        retained = wait_until(lambda: late.on("/status"), 5, "retained status")
        assert retained[0].retain and retained[0].json()["status"] == "offline"
    finally:
        late.stop()
