"""A per-frame column is declared once, on the frame record, and reaches the file, the GUI and telemetry.

A test-only record adds a made-up metric (the image's mean absolute horizontal gradient over its mean, of the
first detector); a test-only imaging step fills it. The expectation is worked out here from the pixels the
file holds, and the file's column, the GUI reader's records (read from the file and built from the live
message) and the telemetry frames message must all carry it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import pytest

from operando.engine.acquisition import TakenFrame
from operando.engine.imaging import Imaging
from operando.plan import RegionOfInterest, Trigger
from operando.storage import FrameRecord, column, read_experiment, read_frames
from operando.techniques import ConstantCurrent, OpenCircuit, Recording
from operando.telemetry.outbox import Outbox
from operando.telemetry.sink import TelemetrySink
from operando.telemetry.topics import Topics
from tests.engine.imaging_rig import region, run_imaging, with_imaging
from tests.engine.plans import plan, step
from tests.telemetry.schemas import validate

pytest.importorskip("PySide6")


@dataclass(frozen=True, kw_only=True, eq=False)
class SharpFrame(FrameRecord):
    """The frame record with one column more."""

    sharpness: float = column("f8", "1", "mean absolute horizontal gradient over the mean, first detector",
                              default=math.nan)


def sharpness(image: np.ndarray) -> float:
    pixels = image.astype(np.float64)
    return float(np.abs(np.diff(pixels, axis=1)).mean() / pixels.mean())


class SharpImaging(Imaging):
    """The engine's imaging step, measuring the made-up metric on every frame."""

    record_type = SharpFrame

    async def measure(self, region: RegionOfInterest, taken: TakenFrame) -> Mapping[str, Any]:
        return {"sharpness": sharpness(taken.images[0])}


@pytest.fixture(scope="module")
def sharp_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """1.5 h with a frame every 30 min, the telemetry sink reading the bus in process."""
    rec = Recording(dt=60.0)
    base = plan(step(0, "rest", "OCV", OpenCircuit(duration=1800.0, recording=rec)),
                step(1, "charge", "CP", ConstantCurrent(15e-6, 3600.0, (), rec)))
    sinks: list[TelemetrySink] = []

    async def listen(experiment, fake) -> None:  # noqa: ANN001
        sinks.append(TelemetrySink(experiment, Topics("test"), Outbox(event_size=100_000), queue=1_000_000))

    run = run_imaging(with_imaging(base, region("wide", Trigger("every", interval=1800.0))),
                      tmp_path_factory.mktemp("column") / "sharp.h5", during=listen, imaging_step=SharpImaging)
    [sink] = sinks
    for event in sink.subscription.drain_nowait():
        sink.handle(event)
    messages = [json.loads(m.body()) for m in sink.outbox.take(1_000_000) if "/frames/" in m.topic]
    return run.result.path, messages


def test_the_column_is_in_the_file(sharp_run) -> None:  # noqa: ANN001
    path, _ = sharp_run
    with h5py.File(path, "r") as file:
        dataset = file["entry/rois/wide/sharpness"]
        assert dataset.attrs["units"] == "1" and "horizontal gradient" in dataset.attrs["description"]
        values = dataset[:]
    pixels = read_frames(path, "wide")
    assert len(values) == len(pixels) >= 3
    expected = [sharpness(frame[0]) for frame in pixels]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert np.all(values > 0)
    assert read_experiment(path).rois["wide"].table["sharpness"].tolist() == values.tolist()


def test_the_column_is_in_the_gui_records(sharp_run) -> None:  # noqa: ANN001
    from operando.ui.records import RegionRecord
    from operando.ui.replay import load_run

    path, messages = sharp_run
    expected = [sharpness(frame[0]) for frame in read_frames(path, "wide")]
    from_file = load_run(path).regions["wide"].frames
    np.testing.assert_allclose(from_file["sharpness"], expected, rtol=1e-12)
    live = RegionRecord(name="wide")
    for message in messages:
        live.add_frame({key: value for key, value in message.items() if value is not None})  # as the window does
    np.testing.assert_allclose(live.frames["sharpness"], expected, rtol=1e-12)


def test_the_column_is_in_the_telemetry_frame_message(sharp_run) -> None:  # noqa: ANN001
    path, messages = sharp_run
    expected = [sharpness(frame[0]) for frame in read_frames(path, "wide")]
    assert [message["index"] for message in messages] == list(range(len(expected)))
    np.testing.assert_allclose([message["settings"]["sharpness"] for message in messages], expected, rtol=1e-12)
    for message in messages:
        validate("frames", message)
