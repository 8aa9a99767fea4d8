"""How fast the GUI's Live electrochemistry dock redraws a 3-day run of 1 million points, offscreen.

Ours: operando.ui's ElectrochemView (E(t) and I(t), linked, a dashed marker at each of 400 frames, Q(E)),
which draws only the points in view (clip to view) and at most a min/max pair per pixel column (peak
downsampling). Peer, measured in the same run on the same machine: the same two plots in plain pyqtgraph,
``setData`` of every point with no downsampling and no clipping (what a live plot does by default).

Two scenarios, each a series of redraws painted to completion (``repaint()``, offscreen):
- "zoom and pan": the x range changes every redraw (the researcher zooms into a step, pans along);
- "live": 1000 new points arrive before every redraw and the whole series is set again.
Target: >= 20 redraws per second for ours in both. Run: python benchmarks/bench_gui_plot.py
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time  # noqa: E402 - Qt must see the platform first

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from operando.ui.app import application  # noqa: E402
from operando.ui.electrochem import ElectrochemView  # noqa: E402
from operando.ui.records import RegionRecord, RunRecord  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

POINTS = 1_000_000
FRAMES = 400
DURATION = 67 * 3600.0  # s: the thesis run
TARGET = 20.0  # redraws per second
SECONDS_PER_CASE = 2.5
LIVE_BATCH = 1000


def thesis_like(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A charge (E rising at +15 uA), a hold (I decaying), a discharge (E falling at -15 uA), with noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, DURATION, n)
    hours = t / 3600
    charge, hold = hours < 36, (hours >= 36) & (hours < 40)
    potential = np.where(charge, 3.0 + 0.02 * hours, np.where(hold, 3.68, 3.6 - 0.02 * (hours - 40)))
    current = np.where(charge, 15e-6, np.where(hold, 15e-6 * np.exp(-(hours - 36) / 2.5), -15e-6))
    potential = potential + 2e-4 * rng.standard_normal(n)
    current = current + 5e-8 * rng.standard_normal(n)
    charge_passed = np.concatenate([[0.0], np.cumsum((current[1:] + current[:-1]) / 2 * np.diff(t))])
    return {"t": t, "E_we": potential, "I": current, "Q": charge_passed}


def record_of(columns: dict[str, np.ndarray], frames: int) -> RunRecord:
    run = RunRecord(name="benchmark")
    run.points.extend(columns)
    region = RegionRecord(name="cathode")
    region.frames.extend({"t_mid": np.linspace(0.0, columns["t"][-1], frames)})
    run.regions["cathode"] = region
    return run


class PlainPeer:
    """Plain pyqtgraph: two linked plots, every point set and drawn."""

    def __init__(self) -> None:
        self.graphics = pg.GraphicsLayoutWidget()
        self.potential = self.graphics.addPlot(row=0, col=0)
        self.current = self.graphics.addPlot(row=1, col=0)
        self.current.setXLink(self.potential)
        self.potential_curve = self.potential.plot(pen=pg.mkPen((20, 70, 160), width=1.5))
        self.current_curve = self.current.plot(pen=pg.mkPen((200, 90, 20), width=1.5))

    def set(self, columns: dict[str, np.ndarray]) -> None:
        hours = columns["t"] / 3600
        self.potential_curve.setData(hours, columns["E_we"])
        self.current_curve.setData(hours, columns["I"])


def redraws_per_second(widget, step) -> float:  # noqa: ANN001 - any QWidget, any callable
    """Redraws painted to completion per wall second (after one warm-up), over SECONDS_PER_CASE."""
    app = application()
    step(0)
    widget.repaint()
    app.processEvents()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS_PER_CASE:
        count += 1
        step(count)
        widget.repaint()
        app.processEvents()
    return count / (time.perf_counter() - started)


def zoom_and_pan(plot: pg.PlotItem):  # noqa: ANN201
    total = DURATION / 3600

    def step(k: int) -> None:
        width = total * (0.3 + 0.7 * ((k % 20) / 19))  # zoom in and out between 30 % and all of the run
        start = (total - width) * ((k % 7) / 6)
        plot.setXRange(start, start + width, padding=0)

    return step


def measure_ours(full: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> tuple[float, float]:
    view = ElectrochemView()
    view.resize(1400, 700)
    view.show()
    view.show_run(record_of(full, FRAMES))
    zoom = redraws_per_second(view, zoom_and_pan(view.potential))
    view.potential.enableAutoRange()
    live_run = record_of(base, FRAMES)
    view.show_run(live_run)

    def live(_k: int) -> None:
        start = len(live_run.points)
        live_run.points.extend({key: values[start:start + LIVE_BATCH] for key, values in full.items()})
        view.show_run(live_run)

    rate = redraws_per_second(view, live)
    view.close()
    return zoom, rate


def measure_peer(full: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> tuple[float, float]:
    peer = PlainPeer()
    peer.graphics.resize(1400, 700)
    peer.graphics.show()
    peer.set(full)
    zoom = redraws_per_second(peer.graphics, zoom_and_pan(peer.potential))
    peer.potential.enableAutoRange()
    length = [len(base["t"])]

    def live(_k: int) -> None:
        length[0] = min(length[0] + LIVE_BATCH, POINTS)
        peer.set({key: values[: length[0]] for key, values in full.items()})

    rate = redraws_per_second(peer.graphics, live)
    peer.graphics.close()
    return zoom, rate


def main() -> None:
    application()
    full = thesis_like(POINTS)
    base = {name: values[: POINTS - 400 * LIVE_BATCH] for name, values in full.items()}
    results = [("ours (ElectrochemView)", *measure_ours(full, base)),
               ("plain pyqtgraph setData", *measure_peer(full, base))]
    table = Table(title=f"Redraws per second, {POINTS:,} points, {FRAMES} frame markers, 1400 x 700 px, "
                        "offscreen")
    table.add_column("plot")
    table.add_column("zoom and pan /s", justify="right")
    table.add_column("live (+1000 points) /s", justify="right")
    for name, zoom, live_rate in results:
        table.add_row(name, f"{zoom:.1f}", f"{live_rate:.1f}")
    console = Console()
    console.print(table)
    (_, our_zoom, our_live), (_, peer_zoom, peer_live) = results
    verdict = "meets" if min(our_zoom, our_live) >= TARGET else "MISSES"
    console.print(f"verdict: ours {verdict} the {TARGET:.0f} redraws/s target "
                  f"(zoom and pan {our_zoom:.0f}/s, live {our_live:.0f}/s); "
                  f"{our_zoom / peer_zoom:.1f}x and {our_live / peer_live:.1f}x the plain pyqtgraph peer")


if __name__ == "__main__":
    main()
