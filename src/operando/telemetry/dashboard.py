"""What ``operando watch`` shows: per rig, its state, last points, frames, dose, drift and events (rich)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from operando.telemetry.client import TelemetryMessage

STATE_COLOURS = {"running": "green", "paused": "yellow", "suspended": "yellow", "finishing": "cyan",
                 "completed": "green", "aborted": "yellow", "failed": "red", "idle": "white"}


def _number(value: Any, unit: str, scale: float = 1.0, digits: int = 4) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "-"
    return f"{value * scale:.{digits}g} {unit}".strip()


def _hours(seconds: Any) -> str:
    return _number(seconds, "h", 1 / 3600.0, 4)


@dataclass
class RigView:
    """The latest of everything one rig published."""

    rig: str
    state: dict[str, Any] = field(default_factory=dict)
    online: bool | None = None
    points: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=8))
    frames: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10))

    def apply(self, message: TelemetryMessage) -> None:
        payload = message.payload
        if message.kind == "state" and isinstance(payload, dict):
            self.state = payload
        elif message.kind == "status" and isinstance(payload, dict):
            self.online = payload.get("status") == "online"
        elif message.kind == "electrochem" and isinstance(payload, dict):
            columns = [name for name in ("t", "E_we", "I", "soc") if name in payload]
            for row in zip(*(payload[name] for name in columns), strict=True):
                self.points.append(dict(zip(columns, row, strict=True)))
        elif message.kind == "frames" and message.region:
            self.frames[message.region] = payload
        elif message.kind == "drift" and message.region:
            self.drift[message.region] = payload
        elif message.kind == "events" and isinstance(payload, dict):
            self.events.append(payload)


class Dashboard:
    """Every rig seen, updated message by message; :meth:`render` draws it."""

    def __init__(self) -> None:
        self.rigs: dict[str, RigView] = {}

    def apply(self, message: TelemetryMessage) -> None:
        self.rigs.setdefault(message.rig, RigView(message.rig)).apply(message)

    def render(self) -> Group | Text:
        if not self.rigs:
            return Text("waiting for an engine to publish ...")
        return Group(*(render_rig(view) for _, view in sorted(self.rigs.items())))


def render_rig(view: RigView) -> Panel:
    state = view.state
    name = str(state.get("state", "unknown"))
    colour = STATE_COLOURS.get(name, "white")
    online = {True: "online", False: "[red]OFFLINE[/]", None: "?"}[view.online]
    step = state.get("step") or {}
    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold {colour}]{name.upper()}[/]", online, f"t {_hours(state.get('t'))}",
                 escape(f"step {step.get('index', '-')}: {step.get('name', '-')} ({step.get('label', '-')})"),
                 f"cycle {state.get('cycle', '-')}")
    upcoming = state.get("next_trigger") or {}
    next_frame = escape(f"next frame {upcoming['region']} at {_hours(upcoming.get('t'))}") if upcoming else ""
    head.add_row(f"E {_number(state.get('E_we'), 'V')}", f"I {_number(state.get('I'), 'A')}",
                 f"SOC {_number(state.get('soc'), '%', 100, 3)}",
                 escape(f"file {state.get('file', '-')}"), next_frame)
    points = Table("t", "E_we", "I", "SOC", title="last points", title_justify="left", expand=False)
    for row in view.points:
        points.add_row(_hours(row.get("t")), _number(row.get("E_we"), "V"), _number(row.get("I"), "A"),
                       _number(row.get("soc"), "%", 100, 3))
    regions = Table("region", "frames", "last frame", "dose e-/nm2", "budget", "drift nm", "confidence",
                    title="imaging", title_justify="left")
    for region, info in sorted((state.get("regions") or {}).items()):
        frame = view.frames.get(region, {})
        drift = view.drift.get(region, {})
        shift = drift.get("shift") or [None, None]
        drift_text = "-" if None in shift else f"{shift[0] * 1e9:+.1f}, {shift[1] * 1e9:+.1f}"
        regions.add_row(escape(region), str(info.get("frames", 0)), _hours(frame.get("t")),
                        _number(info.get("cumulative_dose"), "", 1e-18, 3),
                        _number(info.get("dose_budget"), "", 1e-18, 3), drift_text,
                        _number(drift.get("confidence"), "", 1, 2))
    events = Table("t", "kind", "what", title="events", title_justify="left")
    for event in view.events:
        fields = {key: value for key, value in event.items() if key not in ("t", "kind")}
        what = fields.get("text") or fields.get("reason") or fields.get("message") or fields.get("name") or ""
        if event.get("kind") == "state_changed":
            what = f"{fields.get('old')} -> {fields.get('new')} ({fields.get('reason', '')})"
        author = f" [{fields['author']}]" if fields.get("author") else ""
        events.add_row(_hours(event.get("t")), str(event.get("kind", "")), Text(f"{what}{author}"))
    parts: list[Any] = [head, points]
    if regions.row_count:
        parts.append(regions)
    parts.append(events)
    title = f"[bold]{escape(view.rig)}[/] {escape(str(state.get('experiment', '')))}"
    return Panel(Group(*parts), title=title, border_style=colour)
