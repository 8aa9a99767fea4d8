"""Errors a researcher sees: each names what was wrong and, where it applies, where and with what value."""

from __future__ import annotations


class OperandoError(Exception):
    """Base of every error operando raises on purpose."""


class QuantityError(OperandoError, ValueError):
    """A quantity string could not be read, or has the wrong dimension ("15 V" where a current is due)."""


class ProtocolError(OperandoError, ValueError):
    """A protocol is invalid. ``problems`` lists (field path, message, bad value); ``source`` the file."""

    def __init__(self, problems: list[tuple[str, str, object]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = [f"{where}{path}: {message} (got {value!r})" if value is not None else f"{where}{path}: {message}"
                 for path, message, value in problems]
        super().__init__("\n".join(lines))


class InstrumentError(OperandoError):
    """An instrument refused or failed a call; ``code`` and ``name`` are the vendor's own."""

    def __init__(self, message: str, *, instrument: str = "", code: int | None = None, name: str = "") -> None:
        self.instrument = instrument
        self.code = code
        self.name = name
        detail = f" [{name or 'code'} {code}]" if code is not None else ""
        prefix = f"{instrument}: " if instrument else ""
        super().__init__(f"{prefix}{message}{detail}")


class InstrumentConnectionLost(InstrumentError):
    """The link to an instrument dropped (cable, network, vendor server gone)."""


class SafetyTrip(OperandoError):
    """A safety limit of the protocol was crossed; the run goes to its safe state."""
