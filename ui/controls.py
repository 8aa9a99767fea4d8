"""Controls dock: the engine's state, always visible, and the allowed commands (pause, resume, abort with a
confirmation, acquire now, add a note). Buttons follow the state: nothing is offered that the engine would
refuse."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

EVERY_REGION = "every region"
STATE_COLOURS = {
    "running": "#1a7f37", "paused": "#b26a00", "suspended": "#b26a00", "finishing": "#1f5fbf",
    "completed": "#1f5fbf", "aborted": "#c62828", "failed": "#c62828", "offline": "#6e6e6e",
    "idle": "#6e6e6e", "replay": "#6e6e6e", "starting": "#1f5fbf", "connecting": "#1f5fbf",
}
# Which commands each state allows (the engine refuses the others with a ValueError).
ALLOWED = {
    "starting": {"abort"},  # the engine connects its instruments: an abort ends it before anything starts
    "running": {"pause", "abort", "acquire-now", "note"},
    "paused": {"resume", "abort", "note"},
    "suspended": {"resume", "abort", "note"},
    "finishing": {"note"},
}


def state_style(state: str) -> str:
    colour = STATE_COLOURS.get(state, "#6e6e6e")
    return (f"QLabel {{ background: {colour}; color: white; font-weight: bold; padding: 4px 10px; "
            "border-radius: 4px }")


class StateBadge(QLabel):
    """The engine's state in colour (running, paused, suspended, offline...)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_state("idle")

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.setText(state.upper() + (f": {detail}" if detail else ""))
        self.setStyleSheet(state_style(state))


class ControlsView(QWidget):
    """Buttons that emit ``command(name, arguments)``; abort asks first."""

    command = Signal(str, dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.badge = StateBadge()
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.abort_button = QPushButton("Abort...")
        self.acquire_button = QPushButton("Acquire now")
        self.region = QComboBox()
        self.region.addItem(EVERY_REGION)
        self.note_text = QLineEdit()
        self.note_text.setPlaceholderText("a note for the record")
        self.author = QLineEdit()
        self.author.setPlaceholderText("your name")
        self.note_button = QPushButton("Add note")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason (pause / abort)")
        self.confirmation: QMessageBox | None = None
        grid = QGridLayout()
        grid.addWidget(self.pause_button, 0, 0)
        grid.addWidget(self.resume_button, 0, 1)
        grid.addWidget(self.abort_button, 0, 2)
        grid.addWidget(self.reason, 1, 0, 1, 3)
        grid.addWidget(self.acquire_button, 2, 0)
        grid.addWidget(self.region, 2, 1, 1, 2)
        note = QHBoxLayout()
        note.addWidget(self.note_text, stretch=1)
        note.addWidget(self.author)
        note.addWidget(self.note_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.badge)
        layout.addLayout(grid)
        layout.addLayout(note)
        layout.addStretch(1)
        self.pause_button.clicked.connect(lambda: self._send("pause", reason=self.reason.text().strip()))
        self.resume_button.clicked.connect(lambda: self._send("resume"))
        self.abort_button.clicked.connect(self.ask_abort)
        self.acquire_button.clicked.connect(self._acquire)
        self.note_button.clicked.connect(self._note)
        self.note_text.returnPressed.connect(self._note)
        self.set_state("idle")

    def set_state(self, state: str, detail: str = "") -> None:
        self.badge.set_state(state, detail)
        allowed = ALLOWED.get(state, set())
        self.pause_button.setEnabled("pause" in allowed)
        self.resume_button.setEnabled("resume" in allowed)
        self.abort_button.setEnabled("abort" in allowed)
        self.acquire_button.setEnabled("acquire-now" in allowed)
        self.note_button.setEnabled("note" in allowed)

    def set_regions(self, names: list[str]) -> None:
        current = [self.region.itemText(k) for k in range(1, self.region.count())]
        if current != names:
            self.region.clear()
            self.region.addItems([EVERY_REGION, *names])

    def ask_abort(self) -> None:
        """Abort only after a yes: the cell goes to its safe state and the run ends as aborted."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Abort the experiment?",
                          "Abort the running experiment? The cell goes to its safe state, the beam is "
                          "blanked and the file is closed with status 'aborted'. This cannot be resumed.",
                          QMessageBox.StandardButton.Abort | QMessageBox.StandardButton.Cancel, self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda answer: self._answered(answer))
        self.confirmation = box
        box.open()

    def _answered(self, answer: int) -> None:
        self.confirmation = None
        if answer == QMessageBox.StandardButton.Abort:
            self._send("abort", reason=self.reason.text().strip() or "aborted by the user")

    def _acquire(self) -> None:
        region = self.region.currentText()
        self._send("acquire-now", region=None if region == EVERY_REGION else region)

    def _note(self) -> None:
        text = self.note_text.text().strip()
        if not text or not self.note_button.isEnabled():
            return
        self._send("note", text=text)
        self.note_text.clear()

    def _send(self, name: str, **arguments: Any) -> None:
        author = self.author.text().strip()
        if author and name != "abort":
            arguments["author"] = author
        self.command.emit(name, {key: value for key, value in arguments.items() if value not in ("",)})
