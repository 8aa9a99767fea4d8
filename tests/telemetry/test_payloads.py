"""Events to JSON and PNG, topic names, the downsampler: checked against values worked out by hand."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from operando.engine.events import ExperimentState, Note, StateChanged
from operando.telemetry.client import parse_topic
from operando.telemetry.downsample import Downsampler
from operando.telemetry.payloads import dumps, event_payload, json_value, png
from operando.telemetry.topics import Topics, check_name
from tests.telemetry.schemas import validate


@dataclass(frozen=True)
class FakeFrame:
    """Shaped like the engine's FrameAcquired (contract 2): arrays must stay out of the JSON."""

    t: float
    region: str
    thumbnail: np.ndarray
    drift: tuple[float, float] | None
    soc: float
    kind: ClassVar[str] = "frame_acquired"


def test_topics_of_one_rig() -> None:
    topics = Topics("lab-1")
    assert topics.state == "operando/lab-1/state"
    assert topics.frames("particle") == "operando/lab-1/frames/particle"
    assert topics.commands == "operando/lab-1/commands/+"
    assert topics.command_name("operando/lab-1/commands/pause") == "pause"
    assert topics.command_name("operando/lab-2/commands/pause") is None
    assert topics.command_name("operando/lab-1/commands/pause/x") is None
    assert parse_topic("operando/lab-1/thumbnails/wide") == ("lab-1", "thumbnails", "wide")
    assert parse_topic("operando/lab-1/state") == ("lab-1", "state", None)
    assert parse_topic("operando/lab-1/commands/pause") is None


@pytest.mark.parametrize("name", ["", "a/b", "a+b", "#", "rig one", "-lead", "x" * 65])
def test_names_that_cannot_be_a_topic_level_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be an MQTT topic level"):
        check_name("rig", name)


def test_json_values_never_hold_nan_or_numpy() -> None:
    assert json_value(float("nan")) is None
    assert json_value(np.float32(1.5)) == 1.5 and type(json_value(np.float32(1.5))) is float
    assert json_value(np.int64(7)) == 7 and type(json_value(np.int64(7))) is int
    assert json_value((1.0, math.inf)) == [1.0, None]
    assert json_value(ExperimentState.RUNNING) == "running"
    assert json.loads(dumps({"x": json_value(np.array([1, 2]))})) == {"x": None}


def test_events_become_kind_t_and_fields() -> None:
    change = StateChanged(12.5, ExperimentState.RUNNING, ExperimentState.FINISHING, "all steps done")
    assert event_payload(change) == {"kind": "state_changed", "t": 12.5, "old": "running", "new": "finishing",
                                     "reason": "all steps done"}
    validate("events", event_payload(change))
    note = event_payload(Note(3.0, "dewar refilled", "alice"))
    assert note == {"kind": "note", "t": 3.0, "text": "dewar refilled", "author": "alice"}
    validate("events", note)


def test_a_frame_event_leaves_its_arrays_out() -> None:
    frame = FakeFrame(10.0, "wide", np.zeros((4, 4), np.uint8), (1e-9, -2e-9), float("nan"))
    assert event_payload(frame) == {"kind": "frame_acquired", "t": 10.0, "region": "wide",
                                    "drift": [1e-9, -2e-9], "soc": None}


def test_thumbnail_png_keeps_the_pixels_and_puts_detectors_side_by_side() -> None:
    rng = np.random.default_rng(3)
    two_detectors = rng.integers(0, 256, size=(2, 12, 16), dtype=np.uint8)
    data = png(two_detectors)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == (12, 32)
    assert np.array_equal(decoded[:, :16], two_detectors[0])
    assert np.array_equal(decoded[:, 16:], two_detectors[1])
    with pytest.raises(ValueError, match="uint8"):
        png(np.zeros((4, 4), np.uint16))


def test_downsampler_keeps_the_first_point_of_each_new_second() -> None:
    sampler = Downsampler(1.0)
    # bins: 0, 0, 1, 1, 3 -> first of bin 0, first of bin 1, first of bin 3
    assert sampler.select(np.array([0.1, 0.5, 1.0, 1.9, 3.2])).tolist() == [0, 2, 4]
    # the next batch continues: bin 3 was already sent; bins 3, 4, 4, 6
    assert sampler.select(np.array([3.7, 4.0, 4.5, 6.0])).tolist() == [1, 3]
    assert sampler.select(np.array([])).tolist() == []
    every = Downsampler(0.0)
    assert every.select(np.array([0.0, 0.0, 0.1])).tolist() == [0, 1, 2]
    minute = Downsampler(60.0)
    times = np.arange(0.0, 600.0, 1.0)  # ten minutes of 1 Hz points -> ten points, at 0, 60, ... 540 s
    assert times[minute.select(times)].tolist() == [60.0 * k for k in range(10)]
    with pytest.raises(ValueError, match="interval"):
        Downsampler(-1.0)
