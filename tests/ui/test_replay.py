"""Replay a finished file: points, frame markers, a click on E(t) shows the nearest frame and its state."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from operando.ui.workers import wait_idle

from .regions import DETECTORS, FRAME_HOURS, PIXEL_SIZE, add_regions, frame_value


@pytest.fixture
def file_with_regions(simulated_file: Path, tmp_path: Path) -> Path:
    return add_regions(simulated_file, tmp_path / "with_regions.h5")


def _settle(qtbot, window) -> None:  # noqa: ANN001
    for _ in range(5):
        wait_idle()
        qtbot.wait(20)


def _open(qtbot, window, path: Path) -> None:  # noqa: ANN001
    window.open_file(path)
    qtbot.waitUntil(lambda: window.run.path == str(path) or bool(window.messages), timeout=10_000)
    assert window.messages == []
    _settle(qtbot, window)


def test_replay_shows_every_point_of_the_file(qtbot, window, simulated_file: Path) -> None:
    _open(qtbot, window, simulated_file)
    with h5py.File(simulated_file, "r") as file:
        t, potential = file["entry/electrochem/t"][:], file["entry/electrochem/E_we"][:]
    x, y = window.electrochem.potential_curve.getOriginalDataset()
    np.testing.assert_allclose(x, t / 3600.0)
    np.testing.assert_array_equal(y, potential)
    # 3 h at C/60 with a point a minute, after a 30 min rest: about 210 points, 3.5 h of timeline
    assert 200 <= len(t) <= 260 and t[-1] == pytest.approx(3.5 * 3600, abs=120)
    assert window.state_badge.text() == "REPLAY: completed"
    assert window.messages == []


def test_frame_markers_and_click_on_the_potential_plot_show_the_nearest_frame(
        qtbot, window, file_with_regions: Path) -> None:
    _open(qtbot, window, file_with_regions)
    hours = sorted((*FRAME_HOURS, 1.5))
    for markers in window.electrochem.markers:
        np.testing.assert_allclose(markers._x, hours)
    view = window.electrochem.potential.vb
    # a click at 1.9 h: nearest frame is cathode's third (2.0 h), not the anode's (1.5 h)
    window.electrochem.potential.setXRange(0, 3.5, padding=0)
    qtbot.wait(50)
    y_middle = float(np.mean(view.viewRange()[1]))
    scene_point = view.mapViewToScene(__import__("PySide6.QtCore").QtCore.QPointF(1.9, y_middle))
    widget_point = window.electrochem.graphics.mapFromScene(scene_point)
    from PySide6.QtCore import Qt

    qtbot.mouseClick(window.electrochem.graphics.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    _settle(qtbot, window)
    shown = window.images.shown
    assert (shown.region, shown.row) == ("cathode", 2)
    for detector in range(len(DETECTORS)):
        assert shown.pixels[detector].min() == frame_value(0, 2, detector)
    assert window.images.panels[0].image.image.min() == frame_value(0, 2, 0)
    with h5py.File(file_with_regions, "r") as file:
        expected_potential = file["entry/rois/cathode/E_we"][2]
    assert f"E = {expected_potential:.4f} V" in window.images.info.text()
    assert "t = 2.000 h" in window.images.info.text()
    assert window.electrochem.cursors[0].value() == pytest.approx(2.0)
    # field of view in metres: 128 px x 10 nm; scale bar a round fifth of it (200 nm)
    assert shown.field_of_view == pytest.approx((128 * PIXEL_SIZE, 96 * PIXEL_SIZE))
    assert window.images.panels[0].scale_bar.size == pytest.approx(200e-9)


def test_slider_walks_the_frames_and_drift_dose_plots_follow(qtbot, window, file_with_regions: Path) -> None:
    _open(qtbot, window, file_with_regions)
    images = window.images
    images.region_box.setCurrentText("cathode")
    _settle(qtbot, window)
    assert images.shown.row == len(FRAME_HOURS) - 1  # the latest frame first
    images.slider.setValue(1)
    _settle(qtbot, window)
    assert images.shown.row == 1 and images.shown.pixels[1].min() == frame_value(0, 1, 1)
    assert "drift (x, y) = (-1.0, 2.0) nm" in images.info.text()
    # drift arrow: from the centre along (dx, dy) = (-1, 2) nm, 20 times longer
    x, y = images.panels[0].drift.getData()
    assert x[1] - x[0] == pytest.approx(-20e-9) and y[1] - y[0] == pytest.approx(40e-9)
    # the displacement overlay: one line per 64 px cell (1 x 2 cells), 5 nm in x, 20 times longer
    fx, fy = images.panels[0].field.getData()
    assert len(fx) == 4 and fx[1] - fx[0] == pytest.approx(100e-9)
    # cumulative dose in e-/nm^2: 3, 6, 9, 12 for the cathode; its budget line at 30
    curves = window.drift_dose.dose.listDataItems()
    cathode = next(c for c in curves if c.name() == "cathode")
    np.testing.assert_allclose(cathode.getData()[1], [3, 6, 9, 12])
    assert window.drift_dose.budget_lines["cathode"].value() == pytest.approx(30)


def test_events_filter_by_kind_and_text(qtbot, window, simulated_file: Path) -> None:
    _open(qtbot, window, simulated_file)
    events = window.events
    kinds = [events.table.item(row, 1).text() for row in range(events.table.rowCount())]
    assert kinds.count("step_started") == 2 and "state_changed" in kinds
    events.kind_filter.setCurrentText("step_started")
    assert [events.table.item(row, 1).text() for row in events.visible_rows()] == ["step_started"] * 2
    events.text_filter.setText("charge")
    assert len(events.visible_rows()) == 1
    assert events.instruments.topLevelItemCount() >= 1
