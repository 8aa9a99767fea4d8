"""The SCPI link: one VISA session, blocking writes and queries, VISA failures turned into clear errors.

Only ever called from the driver's instrument thread. The seam is a pyvisa message-based resource (``write``,
``query``, ``close``, ``timeout``), from a real ``pyvisa.ResourceManager`` (any backend: NI/Keysight VISA,
pyvisa-py, pyvisa-sim) or from the simulator's VISA-like resource manager.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from operando.drivers.keithley._errors import KeithleyConnectionLost, KeithleyError, KeithleyNotAnswering
from pyvisa import constants
from pyvisa.errors import InvalidSession, VisaIOError

log = logging.getLogger(__name__)

_LOST = {constants.StatusCode.error_connection_lost, constants.StatusCode.error_invalid_object,
         constants.StatusCode.error_closing_failed, constants.StatusCode.error_io}
_NOT_FOUND = {constants.StatusCode.error_resource_not_found, constants.StatusCode.error_invalid_resource_name,
              constants.StatusCode.error_library_not_found}


class Resource(Protocol):
    """The part of a pyvisa MessageBasedResource the driver uses."""

    timeout: Any

    def write(self, message: str) -> Any: ...

    def query(self, message: str) -> str: ...

    def close(self) -> None: ...


class ResourceManager(Protocol):
    def open_resource(self, resource_name: str, **kwargs: Any) -> Resource: ...


def parse_error(reply: str) -> tuple[int, str]:
    """``-113,"Undefined header;1;2024/05/10 10:11:12.123"`` -> (-113, "Undefined header")."""
    code_text, _, message = reply.strip().partition(",")
    try:
        code = int(code_text)
    except ValueError:
        raise KeithleyError(f"unreadable error-queue entry {reply!r}") from None
    return code, message.strip().strip('"').split(";")[0].strip()


class ScpiLink:
    """A VISA session to one instrument; ``resource_manager`` makes the pyvisa resource manager."""

    def __init__(self, resource_name: str, resource_manager: Callable[[], ResourceManager], *,
                 timeout: float) -> None:
        self.resource_name = resource_name
        self._manager_factory = resource_manager
        self.timeout = timeout
        self._manager: ResourceManager | None = None
        self._resource: Resource | None = None
        self.sent = 0

    @property
    def is_open(self) -> bool:
        return self._resource is not None

    def open(self) -> None:
        """Open the VISA session; an absent or misspelt resource gives an error naming it."""
        if self._resource is not None:
            return
        try:
            self._manager = self._manager_factory()
        except (OSError, ValueError, VisaIOError) as exc:
            raise KeithleyError(f"cannot load the VISA library for {self.resource_name!r}: {exc}") from exc
        try:
            self._resource = self._manager.open_resource(
                self.resource_name, read_termination="\n", write_termination="\n",
                timeout=round(self.timeout * 1000))
        except VisaIOError as exc:
            if exc.error_code in _NOT_FOUND:
                raise KeithleyError(
                    f"no instrument at VISA resource {self.resource_name!r} ({exc.abbreviation}): check the "
                    f"address in the rig file and that the instrument is on and cabled{self._listing()}",
                    code=exc.error_code, name=exc.abbreviation) from None
            raise KeithleyConnectionLost(f"cannot open {self.resource_name!r}: {exc}") from None
        except ValueError as exc:  # pyvisa's InvalidResourceName and unknown interface types
            raise KeithleyError(f"{self.resource_name!r} is not a VISA resource name (e.g. "
                                "'USB0::0x05E6::0x2450::04512345::INSTR' or "
                                f"'TCPIP0::192.168.0.7::inst0::INSTR'): {exc}") from None

    def _listing(self) -> str:
        lister = getattr(self._manager, "list_resources", None)
        if lister is None:
            return ""
        try:
            found = lister()
        except Exception:  # noqa: BLE001 - the listing only helps the message
            return ""
        return f"; resources present: {', '.join(found) if found else 'none'}"

    def _resource_or_fail(self) -> Resource:
        if self._resource is None:
            raise KeithleyConnectionLost(f"{self.resource_name}: not connected")
        return self._resource

    def _failed(self, exc: Exception, message: str) -> Exception:
        if isinstance(exc, InvalidSession) or (isinstance(exc, VisaIOError) and exc.error_code in _LOST):
            self.close()
            return KeithleyConnectionLost(f"{self.resource_name}: link lost during {message!r}: {exc}")
        if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            return KeithleyNotAnswering(
                f"{self.resource_name}: no answer to {message!r} within {self.timeout:g} s (instrument off, "
                "wrong interface settings, or a query it does not know)", code=exc.error_code,
                name=exc.abbreviation)
        return KeithleyError(f"{self.resource_name}: {message!r} failed: {exc}")

    def write(self, message: str) -> None:
        resource = self._resource_or_fail()
        try:
            resource.write(message)
        except (VisaIOError, InvalidSession, OSError) as exc:
            raise self._failed(exc, message) from None
        self.sent += 1

    def query(self, message: str) -> str:
        resource = self._resource_or_fail()
        try:
            reply = resource.query(message)
        except (VisaIOError, InvalidSession, OSError) as exc:
            raise self._failed(exc, message) from None
        self.sent += 1
        return reply.strip()

    def check_errors(self, context: str) -> None:
        """Drain the error queue (:SYST:ERR:NEXT?); raise the first error, naming what was sent before."""
        errors: list[tuple[int, str]] = []
        for _ in range(32):  # the queue is finite; never loop forever on a confused instrument
            code, message = parse_error(self.query(":SYST:ERR:NEXT?"))
            if code == 0:
                break
            errors.append((code, message))
        if errors:
            code, message = errors[0]
            more = f" (and {len(errors) - 1} more: {errors[1:]})" if len(errors) > 1 else ""
            raise KeithleyError(f"{self.resource_name}: the instrument refused {context}: {message}{more}",
                                code=code, name=message)

    def send(self, commands: Sequence[str], context: str) -> None:
        """Write ``commands`` in order, then check the error queue once."""
        for command in commands:
            self.write(command)
        self.check_errors(context)

    def close(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            try:
                resource.close()
            except Exception as exc:  # noqa: BLE001 - closing a dead session may fail; it is gone either way
                log.debug("%s: close failed: %s", self.resource_name, exc)
        manager, self._manager = self._manager, None
        closer = getattr(manager, "close", None)
        if closer is not None:
            try:
                closer()
            except Exception as exc:  # noqa: BLE001
                log.debug("%s: closing the resource manager failed: %s", self.resource_name, exc)
