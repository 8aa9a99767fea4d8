"""Images dock: a frame per detector of one region, with a scale bar, contrast, drift vector and local
displacement overlay, a slider over the region's frames, and the electrochemical state the frame was taken at.

Pixels are read (from the file) or decoded (live thumbnails) and their contrast levels computed on the thread
pool; the GUI thread only hands finished arrays to pyqtgraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .records import RegionRecord, RunRecord
from .replay import read_frame
from .workers import Latest

GRID_CELL = 64  # px: one local displacement vector per 64 x 64 px cell (the drift tracker's grid)
DRIFT_PEN = pg.mkPen((255, 60, 60), width=2)
FIELD_PEN = pg.mkPen((255, 210, 0), width=1)


@dataclass
class FrameImage:
    """What one frame shows: pixels (detector, y, x), their contrast levels, the field of view (m)."""

    region: str
    row: int
    pixels: np.ndarray
    levels: list[tuple[float, float]]
    field_of_view: tuple[float, float]  # (width, height) m
    displacement: np.ndarray | None  # (2, gy, gx) m
    from_thumbnail: bool


def contrast_levels(pixels: np.ndarray, low: float, high: float) -> list[tuple[float, float]]:
    """Per-detector display range from percentiles (a few bright pores must not wash out the electrode)."""
    levels = []
    for image in pixels:
        sample = image[::4, ::4] if image.size > 1_000_000 else image
        lo, hi = np.percentile(sample, [low, high])
        levels.append((float(lo), float(hi) if hi > lo else float(lo) + 1.0))
    return levels


def load_frame_image(run: RunRecord, region: RegionRecord, row: int, low: float, high: float) -> FrameImage:
    """Worker-thread half of showing a frame: the file's pixels when readable, else the live thumbnail."""
    displacement = region.displacement_grids.get(row)
    thumbnail = region.thumbnails.get(row)
    pixels = None
    # a live GUI may have subscribed after the first frames: the file's row is the frame's index, not ours
    index = region.frames["index"][row]
    file_row = int(index) if math.isfinite(index) else row
    if run.path is not None:
        try:
            pixels, from_file = read_frame(run.path, region.name, file_row)
            displacement = from_file if from_file is not None else displacement
        except (OSError, KeyError, IndexError):
            if thumbnail is None:
                raise
    from_thumbnail = pixels is None
    if pixels is None:
        if thumbnail is None:
            raise LookupError(f"no pixels for frame {row} of region {region.name!r}")
        pixels = thumbnail if thumbnail.ndim == 3 else thumbnail[np.newaxis]
    pixel_size = region.frames["pixel_size"][row]
    if math.isnan(pixel_size):
        pixel_size = region.pixel_size
    width, height = region.frame_size if region.frame_size[0] else (pixels.shape[-1], pixels.shape[-2])
    return FrameImage(region.name, row, pixels, contrast_levels(pixels, low, high),
                      (width * pixel_size, height * pixel_size), displacement, from_thumbnail)


def nice_length(length: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^n m) near a fifth of ``length`` m."""
    target = length / 5
    if not target > 0 or not math.isfinite(target):
        return 0.0
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def describe_frame(region: RegionRecord, row: int) -> str:
    """A frame's electrochemical state in a researcher's units: h, V, uA, mAh, %."""
    frames = region.frames

    def value(name: str) -> float:
        return float(frames[name][row])

    parts = [f"{region.name} frame {int(value('index')) if not math.isnan(value('index')) else row}",
             f"t = {value('t_mid') / 3600:.3f} h", f"E = {value('E_we'):.4f} V",
             f"I = {value('I') * 1e6:.3g} uA", f"Q = {value('Q') / 3.6:.4g} mAh"]
    if not math.isnan(value("soc")):
        parts.append(f"SOC = {100 * value('soc'):.1f} %")
    if not math.isnan(value("cycle")):
        parts.append(f"cycle {int(value('cycle'))}, step {int(value('step'))}")
    if row < len(region.triggers) and region.triggers[row]:
        parts.append(f"trigger: {region.triggers[row]}")
    drift_y, drift_x = value("drift_y"), value("drift_x")
    if not math.isnan(drift_x):
        confidence = value("drift_confidence")
        parts.append(f"drift (x, y) = ({drift_x * 1e9:.1f}, {drift_y * 1e9:.1f}) nm"
                     + (f", confidence {confidence:.2f}" if not math.isnan(confidence) else ""))
    return "   ".join(parts)


class DetectorPanel:
    """One detector's image in metres, with scale bar, drift arrow and displacement overlay."""

    def __init__(self, layout: pg.GraphicsLayout, column: int) -> None:
        self.title = layout.addLabel("", row=0, col=column)
        self.view = layout.addViewBox(row=1, col=column, lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.drift = pg.PlotCurveItem(pen=DRIFT_PEN)
        self.field = pg.PlotCurveItem(pen=FIELD_PEN, connect="pairs")
        self.view.addItem(self.field)
        self.view.addItem(self.drift)
        self.scale_bar: pg.ScaleBar | None = None

    def show(self, title: str, pixels: np.ndarray, levels: tuple[float, float],
             field_of_view: tuple[float, float]) -> None:
        self.title.setText(title)
        self.image.setImage(pixels, levels=levels, autoLevels=False)
        width, height = field_of_view
        self.image.setRect(QRectF(0, 0, width, height))
        length = nice_length(width)
        if self.scale_bar is None:
            self.scale_bar = pg.ScaleBar(size=length, suffix="m", brush=pg.mkBrush(255, 255, 255))
            self.scale_bar.setParentItem(self.view)
            self.scale_bar.anchor((1, 1), (1, 1), offset=(-15, -15))
        elif self.scale_bar.size != length:
            # resized in place: pyqtgraph's ScaleBar cannot be unparented (setParentItem(None) raises)
            self.scale_bar.size = length
            self.scale_bar.text.setText(pg.siFormat(length, suffix="m"))
            self.scale_bar.updateBar()
        self.view.setRange(QRectF(0, 0, width, height), padding=0)

    def show_drift(self, drift: tuple[float, float] | None, field_of_view: tuple[float, float],
                   exaggeration: float) -> None:
        """An arrow from the centre along the measured drift (dy, dx) m, ``exaggeration`` times longer."""
        if drift is None or not all(map(math.isfinite, drift)):
            self.drift.setData([], [])
            return
        centre_x, centre_y = field_of_view[0] / 2, field_of_view[1] / 2
        dy, dx = drift
        self.drift.setData([centre_x, centre_x + exaggeration * dx], [centre_y, centre_y + exaggeration * dy])

    def show_field(self, displacement: np.ndarray | None, pixel_pitch: tuple[float, float],
                   exaggeration: float) -> None:
        """A line per grid cell from its centre along its displacement; ``pixel_pitch``: cell size m."""
        if displacement is None:
            self.field.setData([], [])
            return
        _, rows, columns = displacement.shape
        cell_x, cell_y = pixel_pitch
        ys, xs = np.meshgrid((np.arange(rows) + 0.5) * cell_y, (np.arange(columns) + 0.5) * cell_x,
                             indexing="ij")
        x = np.stack([xs, xs + exaggeration * displacement[1]], axis=-1).ravel()
        y = np.stack([ys, ys + exaggeration * displacement[0]], axis=-1).ravel()
        finite = np.isfinite(x) & np.isfinite(y)
        pairs = finite.reshape(-1, 2).all(axis=1).repeat(2)
        self.field.setData(x[pairs], y[pairs], connect="pairs")


class ImagesView(QWidget):
    """Region chooser, frame slider, contrast controls and one panel per detector."""

    frame_shown = Signal(str, int, float)  # region, row, t_mid s
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: RunRecord | None = None
        self.region_box = QComboBox()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.follow = QCheckBox("latest")
        self.follow.setChecked(True)
        self.follow.setToolTip("always show the newest frame as it arrives")
        self.low = self._spin(0.5, "lower contrast percentile")
        self.high = self._spin(99.5, "upper contrast percentile")
        self.exaggeration = QDoubleSpinBox()
        self.exaggeration.setRange(1, 10_000)
        self.exaggeration.setValue(20)
        self.exaggeration.setPrefix("vectors x")
        self.exaggeration.setToolTip("draw the drift vector and local displacements this many times longer")
        self.show_field = QCheckBox("displacement")
        self.show_field.setChecked(True)
        controls = QHBoxLayout()
        for widget in (QLabel("region"), self.region_box, self.slider, self.follow, QLabel("contrast %"),
                       self.low, self.high, self.exaggeration, self.show_field):
            controls.addWidget(widget, stretch=1 if widget is self.slider else 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.info = QLabel("no frame")
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.info)
        self.panels: list[DetectorPanel] = []
        self.shown: FrameImage | None = None
        self._loader = Latest()
        self.region_box.currentTextChanged.connect(lambda _: self._region_changed())
        self.slider.valueChanged.connect(self._slider_moved)
        for control in (self.low, self.high):
            control.valueChanged.connect(lambda _: self._reload())
        self.exaggeration.valueChanged.connect(lambda _: self._draw_vectors())
        self.show_field.toggled.connect(lambda _: self._draw_vectors())

    def _spin(self, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0, 100)
        spin.setDecimals(1)
        spin.setSingleStep(0.5)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # -- what to show ----------------------------------------------------------------------------------------
    def show_run(self, run: RunRecord) -> None:
        """Follow a record: new regions appear, the slider grows, the newest frame shows when following."""
        self.run = run
        names = list(run.regions)
        if [self.region_box.itemText(k) for k in range(self.region_box.count())] != names:
            current = self.region_box.currentText()
            self.region_box.blockSignals(True)
            self.region_box.clear()
            self.region_box.addItems(names)
            if current in names:
                self.region_box.setCurrentText(current)
            self.region_box.blockSignals(False)
        self._update_slider(show_latest=self.follow.isChecked())

    def show_nearest(self, t: float) -> tuple[str, int] | None:
        """Show the frame taken nearest ``t`` s in any region (a click on the E(t) plot)."""
        if self.run is None:
            return None
        found = self.run.nearest_frame(t)
        if found is None:
            self.info.setText(f"no frame has been taken yet (t = {t / 3600:.3f} h)")
            return None
        region, row = found
        self.follow.setChecked(False)
        self.region_box.setCurrentText(region)
        self.show_frame(region, row)
        return found

    def show_frame(self, region: str, row: int) -> None:
        if self.run is None or region not in self.run.regions:
            return
        if self.region_box.currentText() != region:
            self.region_box.setCurrentText(region)
        self.slider.blockSignals(True)
        self.slider.setValue(row)
        self.slider.blockSignals(False)
        run, record = self.run, self.run.regions[region]
        low, high = self.low.value(), self.high.value()
        self.info.setText(describe_frame(record, row) + "   (loading...)")
        self._loader.submit(lambda: load_frame_image(run, record, row, low, high), self._display,
                            lambda exc: self._failed(region, row, exc))

    # -- internals ---------------------------------------------------------------------------------------
    def _region(self) -> RegionRecord | None:
        if self.run is None:
            return None
        return self.run.regions.get(self.region_box.currentText())

    def _update_slider(self, show_latest: bool) -> None:
        region = self._region()
        count = len(region.frames) if region else 0
        self.slider.setEnabled(count > 0)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.blockSignals(False)
        if region is not None and count and (show_latest or self.shown is None):
            latest = count - 1
            if self.shown is None or (self.shown.region, self.shown.row) != (region.name, latest):
                self.show_frame(region.name, latest if show_latest else self.slider.value())

    def _region_changed(self) -> None:
        self.shown = None
        self._update_slider(show_latest=True)

    def _slider_moved(self, row: int) -> None:
        region = self._region()
        if region is not None:
            self.follow.setChecked(row == len(region.frames) - 1)
            self.show_frame(region.name, row)

    def _reload(self) -> None:
        if self.shown is not None:
            self.show_frame(self.shown.region, self.shown.row)

    def _failed(self, region: str, row: int, exc: Exception) -> None:
        message = f"frame {row} of region {region!r} could not be shown: {exc}"
        self.info.setText(message)
        self.failed.emit(message)

    def _display(self, image: FrameImage) -> None:
        if self.run is None or image.region not in self.run.regions:
            return
        record = self.run.regions[image.region]
        while len(self.panels) < len(image.pixels):
            self.panels.append(DetectorPanel(self.graphics.ci, len(self.panels)))
        for column, panel in enumerate(self.panels):
            visible = column < len(image.pixels)
            panel.view.setVisible(visible)
            panel.title.setVisible(visible)
            if visible:
                name = record.detectors[column] if column < len(record.detectors) else f"detector {column}"
                suffix = " (thumbnail)" if image.from_thumbnail else ""
                panel.show(name + suffix, image.pixels[column], image.levels[column], image.field_of_view)
        self.shown = image
        self._draw_vectors()
        self.info.setText(describe_frame(record, image.row))
        self.frame_shown.emit(image.region, image.row, float(record.frames["t_mid"][image.row]))

    def _draw_vectors(self) -> None:
        image = self.shown
        if image is None or self.run is None:
            return
        frames = self.run.regions[image.region].frames
        drift = (float(frames["drift_y"][image.row]), float(frames["drift_x"][image.row]))
        factor = self.exaggeration.value()
        field = image.displacement if self.show_field.isChecked() else None
        width, height = image.field_of_view
        region = self.run.regions[image.region]
        columns = region.frame_size[0] or image.pixels.shape[-1]
        rows = region.frame_size[1] or image.pixels.shape[-2]
        pitch = (GRID_CELL * width / columns, GRID_CELL * height / rows)
        for panel in self.panels[: len(image.pixels)]:
            panel.show_drift(drift, image.field_of_view, factor)
            panel.show_field(field, pitch, factor)
