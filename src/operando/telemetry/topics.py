"""MQTT topic names of one rig: everything lives under ``operando/<rig>/`` so several rigs share a broker."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "operando"
COMMANDS = ("pause", "resume", "abort", "acquire-now", "note")  # the allow-list, nothing else is obeyed
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(kind: str, name: str) -> str:
    """A rig or region name usable as one topic level (no '/', '+', '#', spaces); raises ValueError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} cannot be an MQTT topic level: use 1-64 letters, digits, "
                         f"'_', '.' or '-', starting with a letter or digit")
    return name


@dataclass(frozen=True)
class Topics:
    """Topic names for rig ``rig`` (see docs/telemetry.md for what each carries)."""

    rig: str

    def __post_init__(self) -> None:
        check_name("rig", self.rig)

    @property
    def root(self) -> str:
        return f"{PREFIX}/{self.rig}"

    @property
    def state(self) -> str:
        return f"{self.root}/state"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def heartbeat(self) -> str:
        return f"{self.root}/heartbeat"

    @property
    def electrochem(self) -> str:
        return f"{self.root}/electrochem"

    @property
    def impedance(self) -> str:
        return f"{self.root}/impedance"

    @property
    def events(self) -> str:
        return f"{self.root}/events"

    @property
    def replies(self) -> str:
        return f"{self.root}/replies"

    @property
    def commands(self) -> str:
        """Filter matching every command topic of this rig."""
        return f"{self.root}/commands/+"

    def command(self, name: str) -> str:
        return f"{self.root}/commands/{name}"

    def frames(self, region: str) -> str:
        return f"{self.root}/frames/{region}"

    def thumbnails(self, region: str) -> str:
        return f"{self.root}/thumbnails/{region}"

    def drift(self, region: str) -> str:
        return f"{self.root}/drift/{region}"

    def command_name(self, topic: str) -> str | None:
        """The command named by ``topic`` if it is one of this rig's command topics, else None."""
        head = f"{self.root}/commands/"
        return topic[len(head):] if topic.startswith(head) and "/" not in topic[len(head):] else None
