"""Errors of the serial sensors: each names the sensor, its port and what went wrong on the line."""

from __future__ import annotations

from operando.errors import InstrumentConnectionLost, InstrumentError


class SensorError(InstrumentError):
    """The sensor answered wrongly (garbled or unexpected line), not at all, or reports a probe fault."""


class SensorNotAnswering(SensorError):
    """No complete reply within the timeout."""


class SensorConnectionLost(InstrumentConnectionLost):
    """The port went away (USB adapter unplugged); the next read tries to open it again."""
