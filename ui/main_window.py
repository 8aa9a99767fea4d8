"""The main window: rearrangeable docks (layout remembered in QSettings), replay of a file, live view of an
engine. Views redraw on a timer from one RunRecord, never once per message, so a fast engine cannot flood the
GUI thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from .controls import ControlsView, StateBadge
from .drift_dose import DriftDoseView
from .electrochem import ElectrochemView
from .events import EventsView
from .history import SAME_TIME, merge_history
from .images import ImagesView
from .protocol_editor import ProtocolEditor, StartRequest
from .records import RegionRecord, RunRecord
from .replay import load_run
from .workers import submit

REDRAW_MS = 250
WATCH_MS = 1000  # how often the engines this window started and the followed engine's heartbeat are checked
FINAL_STATES = ("completed", "aborted", "failed")
LAYOUT_VERSION = 1
HISTORY_TRIES = 10  # reads of an engine's file until it overlaps the live stream


class MainWindow(QMainWindow):
    """Docks: Protocol, Live electrochemistry, Images, Drift and dose, Events and instruments, Controls."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("operando", "operando-fibsem")
        self.setWindowTitle("operando")
        self.resize(1500, 950)
        self.run = RunRecord()
        self.engine: Any = None  # the operando.ui.live.EngineLink followed
        self.pending: Any = None  # a link waiting for its broker's answer
        self._pending_record = RunRecord()
        self.history_loaded: str | None = None  # the engine file whose history was merged in (tests read it)
        self._history_asked: tuple[Any, str] | None = None  # (link, file) whose history is being read
        self._live_start: float | None = None  # time of the first point the followed engine sent us
        self.history_complete = False  # the merged file reaches the first live point: no gap between them
        self.started: Any = None  # the engine process this window started, if any
        self.children: list[Any] = []  # engine processes this window started and has not yet reaped
        self._heard: float | None = None  # monotonic time of the followed engine's last message
        self._beat_interval: float | None = None  # s between its heartbeats, once it sent one
        self._silent = False  # shown offline because its heartbeats stopped
        self.messages: list[str] = []  # every message shown, newest last (also for tests)
        self.message_box: QMessageBox | None = None
        self.protocol = ProtocolEditor()
        self.electrochem = ElectrochemView()
        self.images = ImagesView()
        self.drift_dose = DriftDoseView()
        self.events = EventsView()
        self.controls = ControlsView()
        self.setDockNestingEnabled(True)
        self.docks: dict[str, QDockWidget] = {}
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("protocol", "Protocol", self.protocol, left)
        self._dock("controls", "Controls", self.controls, left)
        self._dock("electrochem", "Live electrochemistry", self.electrochem, right)
        self._dock("images", "Images", self.images, right)
        self._dock("drift_dose", "Drift and dose", self.drift_dose, bottom)
        self._dock("events", "Events and instruments", self.events, bottom)
        self.tabifyDockWidget(self.docks["drift_dose"], self.docks["events"])
        self.docks["events"].raise_()
        self.setCentralWidget(QWidget())
        self.centralWidget().hide()
        self.state_badge = StateBadge()
        self.where = QLabel("")
        self.statusBar().addPermanentWidget(self.where, 1)
        self.statusBar().addPermanentWidget(self.state_badge)
        self._menus()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restore_layout()
        self.protocol.problem.connect(self.show_message)
        self.protocol.start_requested.connect(self.start)
        self.controls.command.connect(self.send_command)
        self.electrochem.time_clicked.connect(self.images.show_nearest)
        self.images.frame_shown.connect(lambda _region, _row, t: self.electrochem.set_cursor(t))
        self.images.failed.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        self.watchdog = QTimer(self)
        self.watchdog.setInterval(WATCH_MS)
        self.watchdog.timeout.connect(self.watch_engines)
        self.watchdog.start()
        self.set_state("idle")

    # -- layout ----------------------------------------------------------------------------------------------
    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")  # saveState/restoreState find docks by object name
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("Open experiment file...", QKeySequence.StandardKey.Open, self._ask_open_file),
            ("Open protocol...", None, self.protocol._ask_open),
            ("Attach to engine...", None, self._ask_attach),
            ("Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        autoscale = QAction("Autoscale plots", self)
        autoscale.triggered.connect(self.electrochem.autoscale)
        view.addAction(autoscale)
        reset = QAction("Reset layout", self)
        reset.triggered.connect(self.reset_layout)
        view.addAction(reset)

    def restore_layout(self) -> None:
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.save_layout()
        for link in (self.engine, self.pending):
            if link is not None:
                link.close()  # detach only: the engine runs on without the GUI
        self.engine = self.pending = None
        self.timer.stop()
        self.watchdog.stop()
        super().closeEvent(event)

    # -- messages ------------------------------------------------------------------------------------------
    def show_message(self, text: str, title: str = "operando") -> None:
        """A clear message that does not block the window (the engine keeps publishing meanwhile)."""
        self.messages.append(text)
        self.statusBar().showMessage(text.splitlines()[0], 15_000)
        if self.message_box is not None:
            self.message_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        self.message_box = box
        box.open()

    # -- replay --------------------------------------------------------------------------------------------
    def _ask_open_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open experiment file", "",
                                              "Experiment files (*.h5 *.hdf5)")
        if name:
            self.open_file(name)

    def open_file(self, path: str | Path) -> None:
        """Replay a file (read on the thread pool); an unreadable file shows why and changes nothing."""
        path = Path(path)
        if not path.is_file():
            self.show_message(f"cannot open {path}: no such file")
            return
        self.statusBar().showMessage(f"reading {path}...")
        submit(lambda: load_run(path), self.show_record,
               lambda exc: self.show_message(f"cannot open {path} as an experiment file: {exc}"))

    def show_record(self, run: RunRecord) -> None:
        """Replace what the views show by ``run`` (a file read whole)."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.run = run
        self.setWindowTitle(f"operando - {run.name}" + (f" ({run.path})" if run.path else ""))
        self.where.setText(run.path or "")
        self.set_state("replay", run.status)
        self.events.show_instruments(run.instruments)
        self.controls.set_regions(list(run.regions))
        self.redraw(force=True)
        self.electrochem.autoscale()
        self.statusBar().showMessage(
            f"replaying {run.path}: {len(run.points)} points, "
            f"{sum(len(r.frames) for r in run.regions.values())} frames, status {run.status}", 10_000)

    def redraw(self, force: bool = False) -> None:
        if not (force or self._dirty):
            return
        self._dirty = False
        self.electrochem.show_run(self.run, force=force)
        self.images.show_run(self.run)
        self.drift_dose.show_run(self.run)
        self.events.show_events(self.run.events)

    def mark_changed(self) -> None:
        """New data arrived: views catch up at the next redraw tick."""
        self._dirty = True

    def set_state(self, state: str, detail: str = "") -> None:
        self.state_badge.set_state(state, detail)
        self.controls.set_state(state, detail)

    # -- live ----------------------------------------------------------------------------------------------
    def _ask_attach(self) -> None:
        broker, ok = QInputDialog.getText(self, "Attach to engine", "broker (host[:port]) and rig, e.g. "
                                          "localhost:1883 rig-1")
        if ok and broker.strip():
            parts = broker.split()
            self.attach(parts[0], parts[1] if len(parts) > 1 else "simulated")

    def attach(self, broker: str, rig: str, file: str | Path | None = None,
               regions: dict[str, RegionRecord] | None = None) -> None:
        """Follow the engine of ``rig`` on ``broker``; the views switch to it once the broker answers, so a
        broker that cannot be reached shows a message and changes nothing."""
        from .live import EngineLink

        try:
            link = EngineLink(broker, rig, {name: len(r.detectors) for name, r in (regions or {}).items()})
        except ValueError as exc:
            self.show_message(f"cannot attach to {broker!r}: {exc}")
            return
        if self.pending is not None:
            self.pending.close()
        self.pending = link
        self._pending_record = RunRecord(name=rig, status="connecting", path=str(file) if file else None,
                                         regions=dict(regions or {}))
        # bound methods of this window: Qt queues them to the GUI thread (a lambda would run on the link's)
        link.connection.connect(self._connection)
        link.received.connect(self._received)
        link.replied.connect(self._replied)
        self.statusBar().showMessage(f"connecting to {broker}...")
        link.start()

    def _connection(self, status: str, detail: str) -> None:
        link = self.sender()
        if link is self.pending:
            self.pending = None
            if status != "online":
                link.close()
                self.show_message(f"cannot attach to the engine: {detail}. Nothing was changed.")
                return
            if self.engine is not None:
                self.engine.close()
            self.engine = link
            self.run = self._pending_record
            self._live_start = None
            self._heard, self._beat_interval, self._silent = time.monotonic(), None, False
            self.history_complete = False
            self.where.setText(f"engine {link.rig} on {link.broker}")
            self.set_state("connecting", link.broker)
            self.controls.set_regions(list(self.run.regions))
            self.redraw(force=True)
        elif link is self.engine:
            self.set_state("offline" if status != "online" else self.controls.badge.state, detail)

    def _received(self, message: Any) -> None:
        """Apply one telemetry message to the record; views catch up at the next redraw."""
        if self.sender() is not self.engine:
            return
        run, payload = self.run, message.payload
        kind = message.kind
        self._heard = time.monotonic()
        if self._silent and kind != "status":  # it speaks again (the network came back): show its state
            self._silent = False
            self.set_state(run.status)
        if kind == "heartbeat" and isinstance(payload, dict):
            interval = payload.get("interval")
            if isinstance(interval, int | float) and interval > 0:
                self._beat_interval = float(interval)
            return
        if kind == "state" and isinstance(payload, dict):
            run.name = payload.get("experiment") or run.name
            if payload.get("file") and run.path is None:
                run.path = payload["file"]
            self._load_history()
            for name, info in (payload.get("regions") or {}).items():
                region = run.regions.setdefault(name, RegionRecord(name=name))
                region.dose_budget = info.get("dose_budget") or region.dose_budget
            run.status = str(payload.get("state", run.status))
            self.set_state(shown_state(run.status), str(payload.get("reason") or ""))
            self.controls.set_regions(list(run.regions))
            self.setWindowTitle(f"operando - {run.name} (live)")
        elif kind == "status" and isinstance(payload, dict) and payload.get("status") == "offline":
            reason = str(payload.get("reason") or "")
            if run.status in FINAL_STATES:  # the run ended and its engine with it: keep how it ended
                self.set_state(run.status, reason)
            else:
                self.set_state("offline", reason)
        elif kind == "electrochem" and isinstance(payload, dict):
            if self._live_start is None and payload.get("t"):
                self._live_start = float(payload["t"][0])
            run.points.extend({name: np.asarray([np.nan if v is None else v for v in values], float)
                               for name, values in payload.items() if isinstance(values, list)})
        elif kind == "frames" and isinstance(payload, dict) and message.region:
            region = run.regions.setdefault(message.region, RegionRecord(name=message.region))
            region.detectors = tuple(payload.get("detectors") or region.detectors)
            if payload.get("pixel_size"):
                region.pixel_size = float(payload["pixel_size"])
            self.engine.detectors[message.region] = len(region.detectors)
            region.add_frame({key: value for key, value in payload.items() if value is not None})
        elif kind == "thumbnails" and isinstance(payload, np.ndarray) and message.region in run.regions:
            region = run.regions[message.region]
            if len(region.frames):
                region.thumbnails[len(region.frames) - 1] = payload
        elif kind == "events" and isinstance(payload, dict):
            body = {key: value for key, value in payload.items() if key not in ("kind", "t")}
            run.events.append((float(payload.get("t") or 0.0), str(payload.get("kind")), body))
        else:
            return
        self.mark_changed()

    def _load_history(self, tries: int = 1) -> None:
        """Once the engine's file is known and readable here, read what it wrote before we attached (on the
        pool, SWMR) and merge it in; the live stream keeps appending meanwhile."""
        link, run = self.engine, self.run
        if link is None or run.path is None:  # detached meanwhile (a retry after the window closed)
            return
        if tries == 1 and self._history_asked is not None and self._history_asked[0] is link:
            return
        if tries > 1 and (self.engine is not link or self.run is not run):
            return
        path = Path(run.path)
        if not path.is_file():
            return  # another computer's file: the views keep to the telemetry
        self._history_asked = (link, run.path)

        def merge(history: RunRecord) -> None:
            if self.engine is not link or self.run is not run:
                return  # detached or replaced meanwhile
            history_end = history.points["t"][-1] if len(history.points) else -np.inf
            merge_history(run, history)
            self.history_loaded = str(path)
            self.images.shown = None  # rows moved: show the newest afresh
            self.controls.set_regions(list(run.regions))
            self.events.show_instruments(run.instruments)
            self.redraw(force=True)
            self.statusBar().showMessage(f"history from {path}: {len(run.points)} points, "
                                         f"{sum(len(r.frames) for r in run.regions.values())} frames", 10_000)
            reaches_live = self._live_start is not None and history_end >= self._live_start - SAME_TIME
            self.history_complete = reaches_live
            if not reaches_live and run.status not in FINAL_STATES and tries < HISTORY_TRIES:
                # the file does not reach the first point we were sent yet (its writer flushes in batches):
                # points in between would be missing, so read it again in a moment
                QTimer.singleShot(1000, lambda: self._load_history(tries + 1))

        submit(lambda: load_run(path), merge,
               lambda exc: self.statusBar().showMessage(f"no history from {path}: {exc}", 15_000))

    def _replied(self, name: str, ok: bool, detail: str) -> None:
        if ok:
            self.statusBar().showMessage(f"{name}: {detail}", 10_000)
        else:
            self.show_message(f"The engine did not {name}: {detail}")

    def start(self, request: StartRequest) -> None:
        """Start an engine process for the protocol, then attach to it."""
        from .live import start_engine

        try:
            started = start_engine(request)
        except (OSError, ValueError) as exc:
            self.show_message(f"Nothing was started: {exc}")
            return
        self.started = started
        self.children.append(started)
        self.protocol.set_engine_running(f"pid {started.process.pid} writing {started.file}")
        plan = self.protocol.result.plan if self.protocol.result is not None else None
        self.attach(started.broker, started.rig, started.file, regions_of(plan))

    def watch_engines(self) -> None:
        """Reap the engines this window started that ended (no zombie is left), and show the followed engine
        as offline once its heartbeats stop (it died with its embedded broker, or the network is gone)."""
        from .live import MISSED_HEARTBEATS

        for child in list(self.children):
            code = child.process.process.poll()  # waits for an ended child: the OS forgets it
            if code is None:
                continue
            self.children.remove(child)
            if child is self.started:
                self.protocol.set_engine_running("")
            self._engine_ended(child, code)
        if (self.engine is not None and self._beat_interval is not None and self._heard is not None
                and not self._silent and self.run.status not in FINAL_STATES):
            silent_for = time.monotonic() - self._heard
            if silent_for > MISSED_HEARTBEATS * self._beat_interval:
                self._silent = True
                self.set_state("offline", f"no heartbeat from the engine for {silent_for:.0f} s")

    def _engine_ended(self, child: Any, code: int) -> None:
        """An engine this window started ended with exit status ``code`` (negative: killed by that signal)."""
        if self.engine is None or self.engine.broker != child.broker or self.run.status in FINAL_STATES:
            if code not in (0, 3) and self.run.status not in FINAL_STATES:
                self.show_message(f"The engine for {child.file} stopped (exit status {code}): "
                                  f"{last_line(child.process.log_path)}")
            return
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        self._silent = True
        self.set_state("offline", f"the engine (pid {child.process.pid}) ended: {how}")

    def send_command(self, name: str, arguments: dict) -> None:
        if self.engine is None:
            self.show_message(f"cannot {name}: no engine attached (this is a replay or nothing runs)")
            return
        self.engine.send(name, arguments)


def last_line(path: Path | None) -> str:
    """The last line an engine wrote to its log (why it stopped), or a pointer to the log."""
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()] \
            if path is not None else []
    except OSError:
        lines = []
    return lines[-1].strip() if lines else f"see its log {path}"


def shown_state(engine_state: str) -> str:
    """The state shown for an engine's: an engine still 'idle' is connecting its instruments (STARTING,
    Abort enabled), unlike the GUI's own idle with no engine."""
    return "starting" if engine_state == "idle" else engine_state


def regions_of(plan: Any) -> dict[str, RegionRecord]:
    """Empty region records from a plan's imaging (frame size, pixel size, detectors, budget), if any."""
    regions: dict[str, RegionRecord] = {}
    imaging = getattr(plan, "imaging", None)
    for region in getattr(imaging, "regions", ()):
        regions[region.name] = RegionRecord(name=region.name, detectors=tuple(region.detectors),
                                            pixel_size=region.pixel_size, frame_size=tuple(region.frame_size),
                                            dose_budget=region.dose_budget)
    return regions
