"""A VISA-like resource manager over simulated instruments: what the driver's pyvisa calls meet in tests.

Same calls as pyvisa (``open_resource``, ``list_resources``, ``write``, ``query``, ``close``, ``timeout`` in
ms) and the same failures as pyvisa raises them: an unknown resource name, a read that times out, a lost
connection, a closed session, each a ``pyvisa.errors.VisaIOError`` / ``InvalidSession`` with VISA's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from operando.simulators.keithley._instrument import LinkDown, NoReply, SimulatedKeithley2450
from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError
from pyvisa.rname import parse_resource_name


class SimulatedResource:
    """One open session to a simulated instrument."""

    def __init__(self, name: str, instrument: SimulatedKeithley2450, *, timeout: float = 2000,
                 read_termination: str = "\n", write_termination: str = "\n") -> None:
        self.resource_name = name
        self.instrument = instrument
        self.timeout = timeout  # ms, as pyvisa has it
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.closed = False

    def _check(self) -> None:
        if self.closed:
            raise InvalidSession()

    def write(self, message: str) -> int:
        self._check()
        try:
            self.instrument.handle(message)
        except LinkDown:
            raise VisaIOError(constants.StatusCode.error_connection_lost) from None
        return len(message) + len(self.write_termination)

    def read(self) -> str:
        self._check()
        try:
            return self.instrument.take_reply()
        except NoReply:
            raise VisaIOError(constants.StatusCode.error_timeout) from None
        except LinkDown:
            raise VisaIOError(constants.StatusCode.error_connection_lost) from None

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def close(self) -> None:
        self.closed = True


class SimulatedResourceManager:
    """``resources``: VISA resource name -> simulated instrument; ``sessions``: what was opened."""

    def __init__(self, resources: Mapping[str, SimulatedKeithley2450]) -> None:
        self.resources = dict(resources)
        self.sessions: list[SimulatedResource] = []
        self.closed = False

    def list_resources(self, query: str = "?*::INSTR") -> tuple[str, ...]:
        return tuple(self.resources)

    def open_resource(self, resource_name: str, **kwargs: Any) -> SimulatedResource:
        parse_resource_name(resource_name)  # a malformed name raises InvalidResourceName, as pyvisa does
        instrument = self.resources.get(resource_name)
        if instrument is None:
            raise VisaIOError(constants.StatusCode.error_resource_not_found)
        if not instrument.linked:
            raise VisaIOError(constants.StatusCode.error_resource_not_found)
        session = SimulatedResource(resource_name, instrument, **kwargs)
        self.sessions.append(session)
        return session

    def close(self) -> None:
        self.closed = True
