"""Events and instruments dock: the event log, filterable by kind and text, and each instrument's identity
and settings."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

ALL_KINDS = "all kinds"


def summarise(kind: str, payload: dict[str, Any]) -> str:
    """One line a researcher reads: the message or text first, then the other fields."""
    lead = payload.get("message") or payload.get("text") or payload.get("reason") or ""
    if kind == "state_changed":
        lead = f"{payload.get('old')} -> {payload.get('new')}" + (f": {lead}" if lead else "")
    rest = {key: value for key, value in payload.items()
            if key not in ("message", "text", "old", "new", "reason", "thumbnail")}
    details = ", ".join(f"{key}={json.dumps(value)}" for key, value in rest.items())
    return f"{lead}  [{details}]" if lead and details else lead or details


class EventsView(QWidget):
    """A table of (time, kind, summary) rows and an instruments tree."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem(ALL_KINDS)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("filter text, e.g. fault, charge, author")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["time (h)", "kind", "details"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.instruments = QTreeWidget()
        self.instruments.setHeaderLabels(["instrument", "value"])
        filters = QHBoxLayout()
        filters.addWidget(self.kind_filter)
        filters.addWidget(self.text_filter, stretch=1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(filters)
        top_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.instruments)
        splitter.setStretchFactor(0, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._events: list[tuple[float, str, dict[str, Any]]] = []
        self._instruments: dict[str, dict[str, Any]] = {}
        self.kind_filter.currentTextChanged.connect(lambda _: self._apply_filter())
        self.text_filter.textChanged.connect(lambda _: self._apply_filter())

    def show_events(self, events: list[tuple[float, str, dict[str, Any]]]) -> None:
        """Show the record's events; only the new tail is added when the list grew."""
        if len(events) < len(self._events) or events[: len(self._events)] != self._events:
            self.table.setRowCount(0)
            self._events = []
        for t, kind, payload in events[len(self._events):]:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.table.setItem(row, 0, QTableWidgetItem(f"{t / 3600:.4f}"))
            self.table.setItem(row, 1, QTableWidgetItem(kind))
            self.table.setItem(row, 2, QTableWidgetItem(summarise(kind, payload)))
            if self.kind_filter.findText(kind) < 0:
                self.kind_filter.addItem(kind)
            self._events.append((t, kind, payload))
        self._apply_filter()

    def show_instruments(self, instruments: dict[str, dict[str, Any]]) -> None:
        if instruments == self._instruments:
            return
        self._instruments = dict(instruments)
        self.instruments.clear()
        for name, info in instruments.items():
            item = QTreeWidgetItem([name, str(info.get("model", ""))])
            for key, value in info.items():
                if isinstance(value, dict):
                    child = QTreeWidgetItem([key, ""])
                    for sub_key, sub_value in value.items():
                        child.addChild(QTreeWidgetItem([str(sub_key), json.dumps(sub_value)]))
                    item.addChild(child)
                else:
                    item.addChild(QTreeWidgetItem([key, str(value)]))
            self.instruments.addTopLevelItem(item)
            item.setExpanded(True)

    def visible_rows(self) -> list[int]:
        return [row for row in range(self.table.rowCount()) if not self.table.isRowHidden(row)]

    def _apply_filter(self) -> None:
        kind, text = self.kind_filter.currentText(), self.text_filter.text().strip().lower()
        for row in range(self.table.rowCount()):
            row_kind = self.table.item(row, 1).text()
            details = self.table.item(row, 2).text().lower()
            hidden = (kind != ALL_KINDS and row_kind != kind) or (bool(text) and text not in details
                                                                  and text not in row_kind)
            self.table.setRowHidden(row, hidden)
