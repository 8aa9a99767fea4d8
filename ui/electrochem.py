"""Live electrochemistry dock: E(t) and I(t) with a dashed marker at every frame (the thesis figure); Q(E).

Redraws stay fast at millions of points: zoomed out, the curves are drawn from a min/max envelope kept
incrementally as points arrive (operando.ui.decimate); zoomed in, from the raw points in view; pyqtgraph then
keeps at most a min/max pair per pixel column (peak downsampling) of what is in view (clip to view).
Time is shown in hours; everything handed in or out is SI (s, V, A, C).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .decimate import Envelope
from .records import RunRecord

HOUR = 3600.0
MAH = 3.6  # C
MARKER_PEN = pg.mkPen((130, 130, 130), width=1)
CURSOR_PEN = pg.mkPen((220, 60, 60), width=1.5)
MAX_PARAMETRIC_POINTS = 20_000  # Q(E) is not monotonic in x, so it is thinned by stride instead
RAW_POINTS_PER_PIXEL = 8  # fewer raw points in view than this per pixel column: draw them, not the envelope


def _fast_curve(plot: pg.PlotItem, colour: tuple[int, int, int]) -> pg.PlotDataItem:
    curve = plot.plot(pen=pg.mkPen(colour, width=1))  # wider pens are drawn as segments: several times slower
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    curve.setSkipFiniteCheck(True)
    return curve


class FrameMarkers:
    """Dashed vertical lines at frame times, drawn as short solid segments (Qt's own dashing of hundreds of
    full-height lines costs more than the million-point curve): re-cut whenever the view changes."""

    DASH_PX = 4  # on, then off, in screen pixels

    def __init__(self, plot: pg.PlotItem) -> None:
        self._plot = plot
        self._x = np.empty(0)
        self._curve = pg.PlotCurveItem(pen=MARKER_PEN, connect="pairs", skipFiniteCheck=True)
        plot.addItem(self._curve, ignoreBounds=True)
        plot.vb.sigRangeChanged.connect(lambda *_: self._draw())
        plot.vb.sigResized.connect(lambda *_: self._draw())

    def set_times(self, hours: np.ndarray) -> None:
        self._x = np.asarray(hours, dtype=float)
        self._draw()

    def _draw(self) -> None:
        (left, right), (low, high) = self._plot.vb.viewRange()
        x = self._x[(self._x >= left) & (self._x <= right)]
        pixel_height = self._plot.vb.viewPixelSize()[1]
        if not len(x) or not pixel_height > 0 or not high > low:
            self._curve.setData([], [])
            return
        dash = self.DASH_PX * pixel_height
        starts = np.arange(low, high, 2 * dash)
        ends = np.minimum(starts + dash, high)
        segment_y = np.stack([starts, ends], axis=1).ravel()
        self._curve.setData(np.repeat(x, len(segment_y)), np.tile(segment_y, len(x)), connect="pairs")

    def count(self) -> int:
        return len(self._x)


class ElectrochemView(QWidget):
    """E vs t, I vs t (x linked) and Q vs E; a click on E(t) or I(t) emits ``time_clicked`` (s)."""

    time_clicked = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.potential = self.graphics.addPlot(row=0, col=0)
        self.current = self.graphics.addPlot(row=1, col=0)
        self.charge = self.graphics.addPlot(row=0, col=1, rowspan=2)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 1)
        self.potential.setLabel("left", "E_we", units="V")
        self.current.setLabel("left", "I", units="A")
        self.current.setLabel("bottom", "time (h)")
        self.charge.setLabel("bottom", "E_we", units="V")
        self.charge.setLabel("left", "Q (mAh)")
        self.charge.getAxis("left").enableAutoSIPrefix(False)
        self.current.setXLink(self.potential)
        self.potential_curve = _fast_curve(self.potential, (20, 70, 160))
        self.current_curve = _fast_curve(self.current, (200, 90, 20))
        self._series = {"E_we": self.potential_curve, "I": self.current_curve}
        self._envelopes = {name: Envelope() for name in self._series}
        self._modes: dict[str, str] = {}
        self._hours = np.empty(0)
        self._values: dict[str, np.ndarray] = {}
        self.potential.vb.sigXRangeChanged.connect(lambda *_: self._draw_series())
        self.charge_curve = self.charge.plot(pen=pg.mkPen((40, 140, 60), width=1))
        self.markers = [FrameMarkers(self.potential), FrameMarkers(self.current)]
        self.cursors = []
        for plot in (self.potential, self.current):
            cursor = pg.InfiniteLine(angle=90, pen=CURSOR_PEN, movable=False)
            cursor.hide()
            plot.addItem(cursor, ignoreBounds=True)
            self.cursors.append(cursor)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._shown = (-1, -1)
        self._points: object = None  # the Columns the envelopes summarise

    def show_run(self, run: RunRecord, force: bool = False) -> None:
        """Draw what the record holds; cheap when nothing changed since the last call."""
        frame_count = sum(len(region.frames) for region in run.regions.values())
        if not force and self._shown == (len(run.points), frame_count) and run.points is self._points:
            return
        if run.points is not self._points:  # a new series (another run, or history merged in): start again
            self._points = run.points
            self._envelopes = {name: Envelope() for name in self._series}
        self._shown = (len(run.points), frame_count)
        hours = run.points["t"] / HOUR
        self._hours = hours
        for name, envelope in self._envelopes.items():
            self._values[name] = run.points[name]
            envelope.update(hours, self._values[name])
        self._draw_series(force=True)
        stride = max(1, len(hours) // MAX_PARAMETRIC_POINTS)
        self.charge_curve.setData(run.points["E_we"][::stride], run.points["Q"][::stride] / MAH)
        frame_hours = run.frame_times() / HOUR
        for markers in self.markers:
            markers.set_times(frame_hours)

    def _draw_series(self, force: bool = False) -> None:
        """Envelope or raw points for E(t) and I(t), as the zoom needs; setData only when that changes."""
        hours = self._hours
        if not len(hours):
            for curve in self._series.values():
                curve.setData([], [])
            return
        left, right = self.potential.vb.viewRange()[0]
        in_view = np.searchsorted(hours, right) - np.searchsorted(hours, left)
        columns = max(1.0, self.potential.vb.width())
        mode = "envelope" if in_view > RAW_POINTS_PER_PIXEL * columns else "raw"
        for name, curve in self._series.items():
            if not force and self._modes.get(name) == mode:
                continue
            self._modes[name] = mode
            values = self._values[name]
            if mode == "envelope":
                curve.setData(*self._envelopes[name].curve(hours, values))
            else:
                curve.setData(hours, values)

    def set_cursor(self, t: float | None) -> None:
        """Mark time ``t`` s (the frame shown in the Images dock); None hides the mark."""
        for cursor in self.cursors:
            cursor.setVisible(t is not None)
            if t is not None:
                cursor.setValue(t / HOUR)

    def autoscale(self) -> None:
        for plot in (self.potential, self.current, self.charge):
            plot.enableAutoRange()

    def _clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for plot in (self.potential, self.current):
            if plot.vb.sceneBoundingRect().contains(event.scenePos()):
                hours = plot.vb.mapSceneToView(event.scenePos()).x()
                self.time_clicked.emit(float(hours * HOUR))
                return
