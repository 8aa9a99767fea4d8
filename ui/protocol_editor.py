"""Protocol dock: open, edit and save a protocol (TOML) with live validation (each error with its field path
and line) and the ``operando check`` estimate; choose the simulator or a rig file; start.

Validation runs on the thread pool a moment after typing stops; only the newest text's answer is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from operando.errors import ProtocolError
from operando.plan import Plan
from operando.protocol import loads_protocol, resolve
from operando.protocol.report import render_plan

from .workers import Latest

SIMULATOR = "simulator"
RIG_FILE = "rig file"
VALIDATE_AFTER_MS = 400


@dataclass(frozen=True)
class CheckResult:
    """A protocol text checked: the plan (None when invalid), its problems, and the check report."""

    plan: Plan | None
    problems: tuple[tuple[str, str, object], ...]
    report: str

    @property
    def valid(self) -> bool:
        return self.plan is not None


def check_text(text: str, source_path: str | None) -> CheckResult:
    """What ``operando check`` says about ``text``: resolved plan and estimate, or every problem."""
    try:
        plan = resolve(loads_protocol(text, source_path=source_path))
    except ProtocolError as exc:
        return CheckResult(None, tuple(exc.problems), "")
    return CheckResult(plan, (), render_plan(plan))


def describe_problem(path: str, message: str, value: object) -> str:
    return f"{path}: {message}" + (f" (got {value!r})" if value is not None else "")


@dataclass(frozen=True)
class StartRequest:
    """What the researcher asked to start: a saved protocol, on the simulator or a rig file."""

    protocol: Path
    rig: str  # SIMULATOR or RIG_FILE
    rig_file: Path | None
    out: Path | None
    speed: float  # simulated seconds per wall second (simulator only); inf = as fast as possible


class ProtocolEditor(QWidget):
    """Editor, problems list, estimate, rig choice and the start button."""

    start_requested = Signal(object)  # StartRequest
    problem = Signal(str)  # bad input the window shows as a message

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.result: CheckResult | None = None
        self.engine_running = ""  # what this window's engine is ("pid 1234 writing x.h5") while it runs
        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setPlaceholderText("open a protocol (TOML) or write one here")
        self.problems = QListWidget()
        self.estimate = QPlainTextEdit()
        self.estimate.setReadOnly(True)
        self.estimate.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.verdict = QLabel("no protocol")
        bold = QFont()
        bold.setBold(True)
        self.verdict.setFont(bold)
        self.open_button = QPushButton("Open...")
        self.save_button = QPushButton("Save")
        self.save_as_button = QPushButton("Save as...")
        self.rig = QComboBox()
        self.rig.addItems([SIMULATOR, RIG_FILE])
        self.rig_file = QLineEdit()
        self.rig_file.setPlaceholderText("path of the rig file (TOML)")
        self.rig_file.setEnabled(False)
        self.browse_rig = QPushButton("...")
        self.browse_rig.setEnabled(False)
        self.speed = QLineEdit("max")
        self.speed.setToolTip("simulator only: simulated seconds per wall second (3600: an hour a second), "
                              "or max")
        self.out = QLineEdit()
        self.out.setPlaceholderText("default: runs/<protocol name>-<UTC time>.h5")
        self.start_button = QPushButton("Start")
        self.start_button.setEnabled(False)
        files = QHBoxLayout()
        for button in (self.open_button, self.save_button, self.save_as_button):
            files.addWidget(button)
        files.addStretch(1)
        files.addWidget(self.verdict)
        rig_row = QHBoxLayout()
        rig_row.addWidget(self.rig)
        rig_row.addWidget(self.rig_file, stretch=1)
        rig_row.addWidget(self.browse_rig)
        form = QFormLayout()
        form.addRow("run on", rig_row)
        form.addRow("speed", self.speed)
        form.addRow("file", self.out)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(QLabel("problems"))
        lower_layout.addWidget(self.problems, stretch=1)
        lower_layout.addWidget(QLabel("plan and estimate (operando check)"))
        lower_layout.addWidget(self.estimate, stretch=2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.editor)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(files)
        layout.addWidget(splitter, stretch=1)
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        self._checker = Latest()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATE_AFTER_MS)
        self._timer.timeout.connect(self.validate_now)
        self.editor.textChanged.connect(self._edited)
        self.open_button.clicked.connect(self._ask_open)
        self.save_button.clicked.connect(lambda: self.save())
        self.save_as_button.clicked.connect(self._ask_save_as)
        self.rig.currentTextChanged.connect(self._rig_changed)
        self.browse_rig.clicked.connect(self._ask_rig)
        self.start_button.clicked.connect(self.request_start)

    # -- files ---------------------------------------------------------------------------------------------
    def open(self, path: str | Path) -> bool:
        """Load a protocol file into the editor; a file that cannot be read changes nothing."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem.emit(f"cannot open protocol {path}: {exc}")
            return False
        self.path = path
        self.editor.setPlainText(text)
        self.editor.document().setModified(False)
        self.validate_now()
        return True

    def save(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path is not None else self.path
        if target is None:
            return self._ask_save_as()
        try:
            target.write_text(self.editor.toPlainText(), encoding="utf-8")
        except OSError as exc:
            self.problem.emit(f"cannot save protocol to {target}: {exc}")
            return False
        self.path = target
        self.editor.document().setModified(False)
        self.validate_now()
        return True

    def _ask_open(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open protocol", "", "Protocols (*.toml);;All files (*)")
        if name:
            self.open(name)

    def _ask_save_as(self) -> bool:
        name, _ = QFileDialog.getSaveFileName(self, "Save protocol", str(self.path or ""),
                                              "Protocols (*.toml)")
        return self.save(name) if name else False

    def _ask_rig(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Rig file", "", "Rig files (*.toml);;All files (*)")
        if name:
            self.rig_file.setText(name)

    def _rig_changed(self, choice: str) -> None:
        on_file = choice == RIG_FILE
        self.rig_file.setEnabled(on_file)
        self.browse_rig.setEnabled(on_file)
        self.speed.setEnabled(not on_file)

    # -- validation ----------------------------------------------------------------------------------------
    def _edited(self) -> None:
        self.start_button.setEnabled(False)
        self.verdict.setText("checking...")
        self._timer.start()

    def validate_now(self) -> None:
        self._timer.stop()
        text, source = self.editor.toPlainText(), str(self.path) if self.path else None
        self._checker.submit(lambda: check_text(text, source), self._checked)

    def _checked(self, result: CheckResult) -> None:
        self.result = result
        self.problems.clear()
        if result.valid:
            self.verdict.setText("valid")
            self.verdict.setStyleSheet("color: #1a7f37")
            self.estimate.setPlainText(result.report)
        else:
            count = len(result.problems)
            self.verdict.setText(f"{count} problem{'s' if count != 1 else ''}")
            self.verdict.setStyleSheet("color: #c62828")
            self.problems.addItems([describe_problem(*problem) for problem in result.problems])
            self.estimate.setPlainText("")
        self._enable_start()

    def set_engine_running(self, what: str) -> None:
        """Start stays disabled while the engine this window started runs (``what`` names it; "" once it
        ended): one window never drives two engines on one cell."""
        self.engine_running = what
        self._enable_start()

    def _enable_start(self) -> None:
        valid = self.result is not None and self.result.valid
        self.start_button.setEnabled(valid and not self.engine_running)
        self.start_button.setToolTip(f"the engine started here is still running ({self.engine_running})"
                                     if self.engine_running else "")

    # -- start ---------------------------------------------------------------------------------------------
    def start_problems(self) -> list[str]:
        """Why a start would be refused now (empty when it may go)."""
        problems = []
        if self.engine_running:
            problems.append(f"the engine started here is still running ({self.engine_running}): wait for it "
                            "to end, or abort it")
        if self.result is None or not self.result.valid:
            problems.append("the protocol is not valid: fix the problems listed under the editor first")
        if self.rig.currentText() == RIG_FILE:
            rig = self.rig_file.text().strip()
            if not rig:
                problems.append("choose a rig file, or run on the simulator")
            elif not Path(rig).is_file():
                problems.append(f"rig file {rig} does not exist")
        else:
            try:
                parse_speed(self.speed.text())
            except ValueError as exc:
                problems.append(str(exc))
        out = self.out.text().strip()
        if out and Path(out).exists():
            problems.append(f"the file {out} already exists; a record is never overwritten")
        return problems

    def request_start(self) -> None:
        problems = self.start_problems()
        if problems:
            self.problem.emit("Nothing was started:\n" + "\n".join(f"- {text}" for text in problems))
            return
        if self.path is None or self.editor.document().isModified():
            if not self.save():
                return
        assert self.path is not None
        rig_file = Path(self.rig_file.text().strip()) if self.rig.currentText() == RIG_FILE else None
        out = Path(self.out.text().strip()) if self.out.text().strip() else None
        self.start_requested.emit(StartRequest(self.path, self.rig.currentText(), rig_file, out,
                                               parse_speed(self.speed.text()) if rig_file is None else 1.0))


def parse_speed(text: str) -> float:
    """'max' or a positive factor of real time; ValueError naming the field otherwise."""
    if text.strip().lower() in ("max", "inf", "fastest", ""):
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed: expected a factor such as 3600 or 'max', got {text!r}") from None
    if not speed > 0 or not math.isfinite(speed):
        raise ValueError(f"speed: must be a positive factor of real time, got {text!r}")
    return speed
