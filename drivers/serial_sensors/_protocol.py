"""The sensors' ASCII line protocol (docs/drivers/sensors.md): commands, checksummed replies, parsing.

A command is ASCII ending in LF (``T?\\n``). A reply is ``<fields separated by commas>*<checksum>`` ending
in CR LF, the checksum two upper-case hex digits of the XOR of every byte before the ``*`` (as NMEA 0183).
Readings: ``T,+025.31,C*hh`` (temperature readout, degrees Celsius), ``F,+0123.45,N*hh`` (load-cell
amplifier, newtons); a probe fault is ``T,ERR,OPEN*hh`` / ``F,ERR,OVER*hh``. Identity: ``ID,<model>,<serial>,
<firmware>*hh``. Pure functions: the driver and the simulated sensors share nothing else.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TERMINATOR = b"\r\n"
_LINE = re.compile(rb"^([\x20-\x29\x2b-\x7e]+)\*([0-9A-F]{2})$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class LineError(ValueError):
    """A line that is not a valid reply: no checksum, wrong checksum, unexpected fields or values."""


def checksum(body: bytes) -> str:
    """Two hex digits: the XOR of every byte of ``body``."""
    value = 0
    for byte in body:
        value ^= byte
    return f"{value:02X}"


def frame(*fields: str) -> bytes:
    """A reply line as a device sends it: fields, checksum, CR LF."""
    body = ",".join(fields).encode("ascii")
    return body + b"*" + checksum(body).encode("ascii") + TERMINATOR


def unframe(line: bytes) -> list[str]:
    """The fields of one reply line (CR LF already stripped or not); LineError if it is not intact."""
    stripped = line.rstrip(b"\r\n")
    match = _LINE.match(stripped)
    if match is None:
        raise LineError(f"not a '<fields>*<checksum>' line: {line!r}")
    body, given = match.groups()
    expected = checksum(body)
    if given.decode() != expected:
        raise LineError(f"checksum {given.decode()} does not match {expected} in {line!r}")
    return body.decode("ascii").split(",")


@dataclass(frozen=True)
class Identity:
    model: str
    serial: str
    firmware: str


def parse_identity(fields: list[str]) -> Identity:
    if len(fields) != 4 or fields[0] != "ID":
        raise LineError(f"expected 'ID,<model>,<serial>,<firmware>', got {','.join(fields)!r}")
    return Identity(*fields[1:])


class ProbeFault(Exception):
    """The device answered but reports its probe faulty (``ERR,OPEN``, ``ERR,OVER``)."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


def parse_reading(fields: list[str], tag: str, unit: str) -> float:
    """The number of a ``<tag>,<value>,<unit>`` reply, in the device's unit; ProbeFault for ``ERR``."""
    if len(fields) != 3 or fields[0] != tag:
        raise LineError(f"expected '{tag},<value>,{unit}', got {','.join(fields)!r}")
    if fields[1] == "ERR":
        raise ProbeFault(fields[2])
    if fields[2] != unit:
        raise LineError(f"expected a value in {unit}, got unit {fields[2]!r}")
    if not _NUMBER.match(fields[1]):
        raise LineError(f"{fields[1]!r} is not a number")
    value = float(fields[1])
    if not math.isfinite(value):
        raise LineError(f"{fields[1]!r} is not a finite number")
    return value
