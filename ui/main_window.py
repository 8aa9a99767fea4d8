"""The main window: rearrangeable docks (layout remembered in QSettings), replay of a file, live view of an
engine. Views redraw on a timer from one RunRecord, never once per message, so a fast engine cannot flood the
GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from .images import ImagesView
from .protocol_editor import ProtocolEditor, StartRequest
from .records import RunRecord
from .replay import load_run
from .workers import submit

REDRAW_MS = 250
LAYOUT_VERSION = 1


class MainWindow(QMainWindow):
    """Docks: Protocol, Live electrochemistry, Images, Drift and dose, Events and instruments, Controls."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("operando", "operando-fibsem")
        self.setWindowTitle("operando")
        self.resize(1500, 950)
        self.run = RunRecord()
        self.engine: Any = None  # an operando.ui.live.EngineLink while attached
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
        if self.engine is not None:
            self.engine.close()  # detach only: the engine runs on without the GUI
            self.engine = None
        self.timer.stop()
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

    def attach(self, broker: str, rig: str, file: str | Path | None = None) -> None:
        from operando.ui.live import EngineLink

        if self.engine is not None:
            self.engine.close()
        self.run = RunRecord(name=rig, status="connecting", path=str(file) if file else None)
        self.redraw(force=True)
        self.set_state("connecting", broker)
        self.where.setText(f"engine {rig} on {broker}")
        self.engine = EngineLink(self, broker, rig)
        self.engine.start()

    def start(self, request: StartRequest) -> None:
        """Start an engine process for the protocol, then attach to it."""
        from operando.ui.live import start_engine

        try:
            started = start_engine(request)
        except (OSError, ValueError) as exc:
            self.show_message(f"Nothing was started: {exc}")
            return
        self.attach(started.broker, started.rig, started.file)

    def send_command(self, name: str, arguments: dict) -> None:
        if self.engine is None:
            self.show_message(f"cannot {name}: no engine attached (this is a replay or nothing runs)")
            return
        self.engine.send(name, arguments)
