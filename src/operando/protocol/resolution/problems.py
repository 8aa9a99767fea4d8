"""Every fault found while resolving a protocol, each once under its field path, raised together."""

from __future__ import annotations

from operando.errors import ProtocolError
from operando.protocol.schema.errors import add_lines
from operando.protocol.schema.model import Protocol


class Problems:
    """Collects (field path, message, value); raised as one ProtocolError with the TOML lines of the fields."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.found: list[tuple[str, str, object]] = []

    def __call__(self, path: str, message: str, value: object = None) -> None:
        entry = (path, message, value)
        if entry not in self.found:  # a loop repeats its steps: report each fault once
            self.found.append(entry)

    def raise_any(self) -> None:
        """Raise ProtocolError naming every problem found so far, if there is one."""
        if self.found:
            raise ProtocolError(add_lines(self.found, self.protocol._source_text), self.protocol.source_path)
