"""Replay a file the simulated rig imaged (real Zeiss driver over the fake SmartSEM): a click on E(t) shows
the frame nearest the click, the very pixels the file holds, and the cell's state when it was taken."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from operando.ui.workers import wait_idle
from PySide6.QtCore import QPointF, Qt

from operando.storage import read_frames

HOUR = 3600.0


def _settle(qtbot, window) -> None:  # noqa: ANN001
    for _ in range(5):
        wait_idle()
        qtbot.wait(20)


def _click_potential_plot(qtbot, window, hours: float) -> None:  # noqa: ANN001
    plot = window.electrochem.potential
    plot.setXRange(0, 3.5, padding=0)
    qtbot.wait(50)
    view = plot.vb
    scene_point = view.mapViewToScene(QPointF(hours, float(np.mean(view.viewRange()[1]))))
    widget_point = window.electrochem.graphics.mapFromScene(scene_point)
    qtbot.mouseClick(window.electrochem.graphics.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    _settle(qtbot, window)


def test_click_on_a_simulated_run_shows_the_nearest_real_frame_and_its_state(
        qtbot, window, imaging_file: Path) -> None:
    window.open_file(imaging_file)
    qtbot.waitUntil(lambda: window.run.path == str(imaging_file) or bool(window.messages), timeout=10_000)
    assert window.messages == []
    _settle(qtbot, window)
    with h5py.File(imaging_file, "r") as file:
        t_mid = file["entry/rois/wide/t_mid"][:]
        t, potential = file["entry/electrochem/t"][:], file["entry/electrochem/E_we"][:]
    # every hour from t = 0 and at each step's end (0.5 h, 3.5 h): six frames, a dashed marker at each
    np.testing.assert_allclose(t_mid / HOUR, [0, 0.5, 1, 2, 3, 3.5], atol=0.01)
    for markers in window.electrochem.markers:
        np.testing.assert_allclose(markers._x, t_mid / HOUR)

    _click_potential_plot(qtbot, window, 1.9)  # nearest frame: the one at 2 h (row 3), not 1 h
    shown = window.images.shown
    assert shown is not None and (shown.region, shown.row) == ("wide", 3)
    expected = read_frames(imaging_file, "wide", 3)
    assert expected.shape == (2, 384, 512) and expected.std() > 0  # a real image, not a flat hand-made one
    np.testing.assert_array_equal(shown.pixels, expected)
    np.testing.assert_array_equal(window.images.panels[0].image.image, expected[0])
    np.testing.assert_array_equal(window.images.panels[1].image.image, expected[1])
    assert not np.array_equal(expected, read_frames(imaging_file, "wide", 2))  # the frames differ
    # its state: 30 min rest then 1.5 h at C/60 (15 uA): 2.5 % of the capacity; E as the potentiostat read it
    info = window.images.info.text()
    assert "wide frame 3" in info and "t = 2.000 h" in info
    assert "I = 15 uA" in info and "SOC = 2.5 %" in info
    measured = float(np.interp(t_mid[3], t, potential))
    shown_potential = float(info.split("E = ")[1].split(" V")[0])
    assert shown_potential == pytest.approx(measured, abs=2e-3)
    assert window.electrochem.cursors[0].value() == pytest.approx(t_mid[3] / HOUR)
    # 512 px x 42.5 nm = 21.76 um wide: a 2 um scale bar (a round fifth)
    assert shown.field_of_view == pytest.approx((512 * 42.5e-9, 384 * 42.5e-9))
    assert window.images.panels[0].scale_bar.size == pytest.approx(2e-6)

    _click_potential_plot(qtbot, window, 0.7)  # between the 0.5 h step-end frame and the 1 h one: 0.5 h
    assert (window.images.shown.region, window.images.shown.row) == ("wide", 1)
    np.testing.assert_array_equal(window.images.shown.pixels, read_frames(imaging_file, "wide", 1))
    assert "t = 0.500 h" in window.images.info.text() and "SOC = 0.0 %" in window.images.info.text()


def test_a_frame_is_read_from_the_file_by_its_index_when_earlier_frames_were_missed(imaging_file: Path) -> None:
    """A live GUI that subscribed after frames 0 and 1 were taken holds frame 2 as its first row: the dock must
    read file row 2 for it, not row 0."""
    from operando.ui.images import load_frame_image
    from operando.ui.records import RegionRecord, RunRecord

    with h5py.File(imaging_file, "r") as file:
        group = file["entry/rois/wide"]
        rows = [{"t_mid": float(group["t_mid"][k]), "index": k, "pixel_size": 42.5e-9} for k in (2, 3)]
    region = RegionRecord(name="wide", detectors=("SE2", "ESB"), pixel_size=42.5e-9, frame_size=(512, 384))
    for row in rows:
        region.add_frame(row)
    run = RunRecord(name="live", status="running", path=str(imaging_file), regions={"wide": region})
    for row, index in ((0, 2), (1, 3)):
        image = load_frame_image(run, region, row, 1.0, 99.0)
        np.testing.assert_array_equal(image.pixels, read_frames(imaging_file, "wide", index))


def test_the_scale_bar_follows_a_region_with_another_field_of_view(qtbot, window, imaging_file: Path) -> None:
    """Switching from a wide field (21.76 um) to a particle (2.56 um) redraws the bar at 500 nm, not 2 um."""
    window.open_file(imaging_file)
    qtbot.waitUntil(lambda: window.images.shown is not None, timeout=10_000)
    panel = window.images.panels[0]
    assert panel.scale_bar.size == pytest.approx(2e-6)
    pixels = read_frames(imaging_file, "wide", 0)[0]
    panel.show("particle", pixels, (0.0, 65535.0), (512 * 5e-9, 384 * 5e-9))
    assert panel.scale_bar.size == pytest.approx(500e-9)
    assert panel.scale_bar.text.textItem.toPlainText() == "500 nm"
    assert panel.scale_bar.parentItem() is panel.view


def test_frames_read_from_several_worker_threads_at_once_all_arrive(imaging_file: Path) -> None:
    """Changing region and frame together loads two frames on the pool at once; HDF5 refuses two threads in
    one file ("can't insert duplicate key"), so the GUI's reads take turns and every one succeeds."""
    from concurrent.futures import ThreadPoolExecutor

    from operando.ui.replay import load_run, read_frame

    expected = read_frames(imaging_file, "wide")
    rows = [row % len(expected) for row in range(24)]
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(load_run, imaging_file) for _ in range(2)]
        frames = list(pool.map(lambda row: read_frame(imaging_file, "wide", row)[0], rows))
    for row, pixels in zip(rows, frames, strict=True):
        np.testing.assert_array_equal(pixels, expected[row])
    assert all(len(run.result().regions["wide"].frames) == len(expected) for run in runs)
