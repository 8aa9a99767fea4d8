"""Expected-protocol testing for the SCPI driver (PyMeasure style): a list of (sent, reply) pairs the driver
must produce in order, each consumed exactly once; a message out of order, or a pair never used, fails."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from operando.drivers.keithley import READ_QUERY, Keithley2450
from pyvisa import constants
from pyvisa.errors import VisaIOError

NO_ERROR = (":SYST:ERR:NEXT?", '0,"No error;0;0 0"')
IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.12b"
CONNECT = [
    ("*IDN?", IDN),
    ("*CLS", None),
    (":OUTP OFF", None),
    (":OUTP:CURR:SMOD HIMP", None),
    (":OUTP:VOLT:SMOD HIMP", None),
    (":SENS:VOLT:RSEN ON", None),
    (":SENS:CURR:RSEN ON", None),
    NO_ERROR,
]
TIMEOUT = object()  # a reply that never comes: the VISA read times out
LOST = object()  # the link drops on this message


def reading(measured: float, source: float, relative: float) -> tuple[str, str]:
    return READ_QUERY, f"{measured:.9e},{source:.9e},{relative:.9e}"


def current_source(current: str, vlim: str, nplc: str = "1") -> list[tuple[str, object]]:
    """What start() sends for a current source (constant current, or 0 A for open circuit)."""
    return [
        (":OUTP OFF", None),
        (":SOUR:FUNC CURR", None),
        (":SOUR:CURR:RANG:AUTO ON", None),
        (f":SOUR:CURR:VLIM {vlim}", None),
        (":SOUR:CURR:READ:BACK ON", None),
        (':SENS:FUNC "VOLT"', None),
        (":SENS:VOLT:RANG:AUTO ON", None),
        (f":SENS:VOLT:NPLC {nplc}", None),
        (f":SOUR:CURR {current}", None),
        (':TRAC:CLE "defbuffer1"', None),
        NO_ERROR,
        (":OUTP ON", None),
        NO_ERROR,
    ]


def voltage_source(voltage: str, ilim: str, nplc: str = "1") -> list[tuple[str, object]]:
    return [
        (":OUTP OFF", None),
        (":SOUR:FUNC VOLT", None),
        (":SOUR:VOLT:RANG:AUTO ON", None),
        (f":SOUR:VOLT:ILIM {ilim}", None),
        (":SOUR:VOLT:READ:BACK ON", None),
        (':SENS:FUNC "CURR"', None),
        (":SENS:CURR:RANG:AUTO ON", None),
        (f":SENS:CURR:NPLC {nplc}", None),
        (f":SOUR:VOLT {voltage}", None),
        (':TRAC:CLE "defbuffer1"', None),
        NO_ERROR,
        (":OUTP ON", None),
        NO_ERROR,
    ]


class ProtocolResource:
    """A pyvisa-like session that replays the expected exchanges."""

    def __init__(self, pairs: Sequence[tuple[str, object]]) -> None:
        self.pairs: deque[tuple[str, object]] = deque(pairs)
        self.replies: deque[object] = deque()
        self.timeout = 2000
        self.closed = False
        self.unexpected: list[str] = []

    def write(self, message: str) -> int:
        if self.closed:
            raise VisaIOError(constants.StatusCode.error_invalid_object)
        if not self.pairs:
            self.unexpected.append(message)
            raise AssertionError(f"unexpected message {message!r}: every expected exchange was used")
        sent, reply = self.pairs.popleft()
        if message != sent:
            self.unexpected.append(message)
            raise AssertionError(f"expected {sent!r}, the driver sent {message!r}")
        if reply is LOST:
            raise VisaIOError(constants.StatusCode.error_connection_lost)
        if reply is not None:
            self.replies.append(reply)
        return len(message)

    def read(self) -> str:
        if not self.replies:
            raise AssertionError("the driver read a reply to a message that has none")
        reply = self.replies.popleft()
        if reply is TIMEOUT:
            raise VisaIOError(constants.StatusCode.error_timeout)
        return str(reply)

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def close(self) -> None:
        self.closed = True


class ProtocolManager:
    def __init__(self, resource: ProtocolResource) -> None:
        self.resource = resource
        self.opened: list[tuple[str, dict[str, Any]]] = []

    def open_resource(self, name: str, **kwargs: Any) -> ProtocolResource:
        self.opened.append((name, kwargs))
        return self.resource

    def list_resources(self) -> tuple[str, ...]:
        return ("USB0::0x05E6::0x2450::04512345::INSTR",)


@contextmanager
def expected_protocol(pairs: Sequence[tuple[str, object]], **options: Any) -> Iterator[Keithley2450]:
    """A Keithley2450 driver whose VISA session must see exactly ``pairs``; checked when the block ends."""
    resource = ProtocolResource(pairs)
    manager = ProtocolManager(resource)
    driver = Keithley2450(
        "USB0::0x05E6::0x2450::04512345::INSTR", resource_manager=lambda: manager, **options
    )
    driver.protocol = resource  # type: ignore[attr-defined]
    yield driver
    assert not resource.unexpected, f"unexpected messages: {resource.unexpected}"
    assert not resource.pairs, f"expected exchanges never sent: {list(resource.pairs)}"
    assert not resource.replies, f"replies never read: {list(resource.replies)}"
