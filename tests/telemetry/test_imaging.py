"""Frames, thumbnails and drift on MQTT from a run that images, and a broker that never answers."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
from PIL import Image

from operando.engine import ExperimentState
from operando.storage.reader import read_experiment
from operando.telemetry import BrokerAddress, TelemetrySettings
from tests.telemetry.brokers import Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import IMAGING, EngineThread
from tests.telemetry.schemas import schema_for_topic, validate

ELEMENTARY_CHARGE = 1.602176634e-19  # C


@needs_mosquitto
def test_frames_thumbnails_and_drift_reach_subscribers(mosquitto: Mosquitto, tmp_path: Path) -> None:
    listener = Listener(mosquitto.port, "operando/imaging/#").start()
    engine = EngineThread(tmp_path / "imaging.h5", TelemetrySettings(
        BrokerAddress("127.0.0.1", mosquitto.port), "imaging"), speed=2500, protocol=IMAGING)
    engine.start()
    try:
        first = wait_until(lambda: listener.on("/frames/particle"), 30, "the first frame")[0].json()
        # min_interval is 5 min: ask 400 s after the first frame so the request is not skipped
        wait_until(lambda: listener.last_state()["t"] > first["t_end"] + 400, 10, "400 s more")
        listener.publish("operando/imaging/commands/acquire-now",
                         {"id": "now", "user": "bo", "region": "particle"})
        assert listener.reply("now")["ok"]
        result = engine.outcome()
        wait_until(lambda: (listener.last_state() or {}).get("state") == "completed", 10, "the final state")
    finally:
        listener.stop()
    assert result.status is ExperimentState.COMPLETED
    for message in listener.messages:
        kind = schema_for_topic(message.topic)
        if kind is not None:
            validate(kind, message.json())
    frames = [m.json() for m in listener.on("/frames/particle")]
    # every 40 min over 3.2 h (4 or 5 frames: whether t = 0 fires is the scheduler's business), one on request
    manual = [f for f in frames if not f["trigger"].startswith("every")]  # the engine's label: "on request"
    assert len(manual) == 1 and manual[0]["t_start"] > first["t_end"] + 300  # after min_interval
    assert len(frames) >= 4 and [f["index"] for f in frames] == list(range(len(frames)))
    # 1 nA x 100 ns per 40 nm pixel: 6.242e2 electrons on 1.6e-15 m^2 = 3.901e17 electrons/m^2 a frame
    frame_dose = 1e-9 * 100e-9 / ELEMENTARY_CHARGE / (40e-9) ** 2
    assert np.allclose([f["frame_dose"] for f in frames], frame_dose, rtol=1e-9)
    region = listener.last_state()["regions"]["particle"]
    count = len(frames)
    states = [m.json() for m in listener.on("/state")]
    early = [s for s in states if s["state"] == "running" and s["t"] < 2300]
    assert early and all(s["next_trigger"] == {"region": "particle", "trigger": "every 2400 s", "t": 2400.0}
                         for s in early)  # every 40 min from the start
    assert region["frames"] == count and np.isclose(region["cumulative_dose"], count * frame_dose, rtol=1e-9)
    assert np.isclose(region["dose_budget"], 200e18, rtol=1e-12)  # 200 e-/nm^2
    drifts = [m.json() for m in listener.on("/drift/particle")]
    assert len(drifts) == count and all(d["valid"] for d in drifts)
    thumbnails = listener.on("/thumbnails/particle")
    assert thumbnails and all(m.payload[:8] == b"\x89PNG\r\n\x1a\n" for m in thumbnails)
    picture = np.asarray(Image.open(io.BytesIO(thumbnails[-1].payload)))
    assert picture.dtype == np.uint8 and picture.std() > 0
    assert max(picture.shape) <= 2 * 256  # two detectors side by side, each at most 256 px on its long side
    record = read_experiment(engine.out)
    assert any("remote command acquire-now from bo accepted (particle)" == n["text"]
               for n in record.events_of("note"))


def test_a_broker_that_never_answers_changes_nothing_in_the_record(tmp_path: Path) -> None:
    silent = socket.socket()  # accepts connections, never says a word: the worst broker there is
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        stuck = EngineThread(tmp_path / "stuck.h5", TelemetrySettings(
            BrokerAddress("127.0.0.1", silent.getsockname()[1]), "stuck", live_queue=5, event_queue=5,
            flush_timeout=0.5),
            speed=float("inf"))
        stuck.start()
        with_telemetry = stuck.outcome()
    finally:
        silent.close()
    alone = EngineThread(tmp_path / "alone.h5", None, speed=float("inf"))
    alone.start()
    without = alone.outcome()
    assert with_telemetry.status is without.status is ExperimentState.COMPLETED
    assert with_telemetry.points == without.points == len(read_experiment(alone.out).electrochem["t"])
    recorded = read_experiment(stuck.out).electrochem
    assert np.array_equal(recorded["E_we"], read_experiment(alone.out).electrochem["E_we"])
    assert stuck.service.outbox.dropped > 0  # the live stream gave way, the experiment did not
    assert not stuck.service.link.connected.is_set()
