"""Errors of the Keithley 2450 driver: each names the resource, the exchange and the instrument's code."""

from __future__ import annotations

from operando.errors import InstrumentConnectionLost, InstrumentError

INSTRUMENT = "Keithley 2450"


class KeithleyError(InstrumentError):
    """The instrument refused a command (its error queue) or answered something unreadable."""

    def __init__(self, message: str, *, code: int | None = None, name: str = "") -> None:
        super().__init__(message, instrument=INSTRUMENT, code=code, name=name)


class KeithleyNotAnswering(KeithleyError):
    """No reply within the timeout: switched off, wrong interface settings, or an unknown query."""


class KeithleyConnectionLost(InstrumentConnectionLost):
    """The VISA session dropped (cable, LAN, USB unplugged)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, instrument=INSTRUMENT)


class ComplianceReached(KeithleyError):
    """The instrument clamped at its voltage or current limit: the cell is no longer under the set control."""
