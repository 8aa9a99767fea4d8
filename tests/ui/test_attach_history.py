"""Attaching to an engine that already runs: the GUI reads what the engine wrote before the attach from its file
and merges it with the live stream, so E(t) starts at t = 0 and the t = 0 frame is in the Images dock."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from operando.storage import read_experiment, read_frames


def _written(out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Point times and frame mid-scan times of region "wide" the engine has written so far (SWMR read)."""
    if not out.is_file():
        return np.empty(0), np.empty(0)
    try:
        record = read_experiment(out)
    except (OSError, KeyError):
        return np.empty(0), np.empty(0)
    region = record.rois.get("wide")
    return record.electrochem["t"].copy(), np.empty(0) if region is None else region.table["t_mid"].copy()


def test_attaching_to_a_running_engine_shows_the_points_and_frames_from_before(qtbot, window,
                                                                                 imaging_protocol: Path,
                                                                                 tmp_path: Path) -> None:
    from operando.ui.live import start_engine
    from operando.ui.protocol_editor import SIMULATOR, StartRequest

    out = tmp_path / "attach.h5"
    # 200 simulated s per wall second: a point every 0.3 s, the first frame at 0.5 h (the end of the rest step,
    # 9 s in; at a finite speed the engine takes no frame at t = 0, although at "max" it does)
    started = start_engine(StartRequest(imaging_protocol, SIMULATOR, None, out, 200.0))
    try:
        deadline = time.time() + 60
        times, frames = _written(out)
        while time.time() < deadline and not (len(times) >= 5 and len(frames) >= 1):
            time.sleep(0.3)
            times, frames = _written(out)
        assert len(times) >= 5 and len(frames) >= 1, "the engine wrote no points or no frame"

        window.attach(started.broker, started.rig)
        qtbot.waitUntil(lambda: window.history_loaded == str(out.resolve()), timeout=30_000)
        shown = window.run.points["t"]
        # everything written before the attach is on E(t), once, in time order
        assert set(times.round(6)) <= set(shown.round(6))
        assert shown[0] == pytest.approx(times[0]) and np.all(np.diff(shown) > 0)
        assert window.electrochem._hours[0] == pytest.approx(times[0] / 3600)
        assert len(window.electrochem._hours) == len(shown)
        # and the live stream keeps appending after the history
        last = shown[-1]
        qtbot.waitUntil(lambda: window.run.points["t"][-1] > last + 120, timeout=30_000)
        assert np.all(np.diff(window.run.points["t"]) > 0)

        # the first frame (taken before the attach) is in the Images dock, with the file's pixels
        wide = window.run.regions["wide"]
        assert wide.frames["index"][0] == 0 and wide.frames["t_mid"][0] == pytest.approx(frames[0])
        assert window.images.show_nearest(frames[0] - 600) == ("wide", 0)
        qtbot.waitUntil(lambda: window.images.shown is not None and window.images.shown.row == 0,
                        timeout=15_000)
        assert window.images.shown.region == "wide" and not window.images.shown.from_thumbnail

        # the file is read again until it reaches the first point sent live: no gap between history and live
        qtbot.waitUntil(lambda: window.history_complete, timeout=15_000)
        window.engine.send("abort", {"reason": "test over"})
        qtbot.waitUntil(lambda: not started.process.running(), timeout=30_000)
    finally:
        if started.process.running():
            started.process.process.terminate()
            started.process.process.wait(30)
    record = read_experiment(out)
    assert record.status == "aborted"
    # the GUI holds the file's points from the start (none twice, none invented) and its frames by index
    np.testing.assert_allclose(window.run.points["t"], record.electrochem["t"][:len(window.run.points)])
    in_file = record.rois["wide"].table
    indices = window.run.regions["wide"].frames["index"]
    np.testing.assert_array_equal(indices, np.arange(len(indices)))
    np.testing.assert_allclose(window.run.regions["wide"].frames["t_mid"], in_file["t_mid"][:len(indices)])
    np.testing.assert_array_equal(window.images.shown.pixels, read_frames(out, "wide", 0))


def test_history_and_live_overlap_merge_without_duplicates() -> None:
    from operando.ui.history import merge_history
    from operando.ui.records import RegionRecord, RunRecord

    history, live = RunRecord(), RunRecord()
    history.points.extend({"t": [0.0, 60.0, 120.0, 180.0], "E_we": [3.0, 3.1, 3.2, 3.3]})
    live.points.extend({"t": [180.0 + 1e-9, 240.0, 300.0], "E_we": [3.3, 3.4, 3.5]})  # 180 s sent and written
    history.regions["wide"] = RegionRecord("wide")
    for index, t in enumerate((1.0, 1801.0)):
        history.regions["wide"].add_frame({"index": index, "t_mid": t, "trigger": "every 3600 s"})
    live.regions["wide"] = RegionRecord("wide")
    for index, t in ((1, 1801.0), (2, 3601.0)):
        live.regions["wide"].add_frame({"index": index, "t_mid": t, "trigger": "every 3600 s"})
    live.regions["wide"].thumbnails[1] = np.ones((1, 2, 2), np.uint8)  # the thumbnail of frame 2
    merge_history(live, history)
    np.testing.assert_array_equal(live.points["t"], [0, 60, 120, 180, 240, 300])
    np.testing.assert_array_equal(live.points["E_we"], [3.0, 3.1, 3.2, 3.3, 3.4, 3.5])
    wide = live.regions["wide"]
    np.testing.assert_array_equal(wide.frames["index"], [0, 1, 2])
    np.testing.assert_array_equal(wide.frames["t_mid"], [1, 1801, 3601])
    assert list(wide.thumbnails) == [2] and len(wide.triggers) == 3
