"""Drift and dose dock: per region, measured drift x/y and drift rate against time, and the cumulative
electron dose against its budget. Shown in nm, nm/min, e-/nm^2 and hours; the record is SI."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .records import RegionRecord, RunRecord

HOUR = 3600.0
PER_NM2 = 1e-18  # e-/m^2 -> e-/nm^2
PALETTE = [(20, 70, 160), (200, 90, 20), (40, 140, 60), (150, 40, 150), (120, 120, 20), (20, 140, 150)]


def drift_rate(region: RegionRecord) -> tuple[np.ndarray, np.ndarray]:
    """(t_mid s, |drift| rate m/s) between consecutive frames; a frame's drift is measured since the last."""
    t = region.frames["t_mid"]
    dy, dx = region.frames["drift_y"], region.frames["drift_x"]
    if len(t) < 2:
        return np.empty(0), np.empty(0)
    interval = np.diff(t)
    magnitude = np.hypot(dy[1:], dx[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(interval > 0, magnitude / interval, np.nan)
    return t[1:], rate


class DriftDoseView(QWidget):
    """Three stacked plots sharing the time axis: drift (x solid, y dashed), drift rate, cumulative dose."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.drift = self.graphics.addPlot(row=0, col=0)
        self.rate = self.graphics.addPlot(row=1, col=0)
        self.dose = self.graphics.addPlot(row=2, col=0)
        self.drift.setLabel("left", "drift (nm)")
        self.rate.setLabel("left", "drift rate (nm/min)")
        self.dose.setLabel("left", "dose (e-/nm²)")
        self.dose.setLabel("bottom", "time (h)")
        for plot in (self.rate, self.dose):
            plot.setXLink(self.drift)
        for plot in (self.drift, self.rate, self.dose):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=(5, 5))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._shown: tuple[int, ...] = ()
        self.budget_lines: dict[str, pg.InfiniteLine] = {}

    def show_run(self, run: RunRecord) -> None:
        counts = tuple(len(region.frames) for region in run.regions.values())
        if counts == self._shown:
            return
        self._shown = counts
        for plot in (self.drift, self.rate, self.dose):
            plot.clear()
        self.budget_lines.clear()
        for k, (name, region) in enumerate(run.regions.items()):
            colour = PALETTE[k % len(PALETTE)]
            hours = region.frames["t_mid"] / HOUR
            self.drift.plot(hours, region.frames["drift_x"] * 1e9, pen=pg.mkPen(colour, width=1.5),
                            symbol="o", symbolSize=4, symbolBrush=colour, name=f"{name} x")
            self.drift.plot(hours, region.frames["drift_y"] * 1e9,
                            pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine), name=f"{name} y")
            times, rate = drift_rate(region)
            self.rate.plot(times / HOUR, rate * 1e9 * 60, pen=pg.mkPen(colour, width=1.5), name=name)
            self.dose.plot(hours, region.frames["cumulative_dose"] * PER_NM2, pen=pg.mkPen(colour, width=2),
                           stepMode=None, name=name)
            if region.dose_budget:
                line = pg.InfiniteLine(pos=region.dose_budget * PER_NM2, angle=0,
                                       pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine),
                                       label=f"{name} budget", labelOpts={"position": 0.1, "color": colour})
                self.dose.addItem(line)
                self.budget_lines[name] = line
