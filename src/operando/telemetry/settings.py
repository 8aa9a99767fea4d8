"""Where telemetry goes and who may command the engine: validated before the experiment starts.

``broker`` is ``"embedded"`` (an in-process broker on loopback, the default for ``operando run``), ``"none"``
(no telemetry) or ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS). Commands sent through a
broker that is not on loopback must carry a user and password listed in ``command_users`` (a mosquitto
password file), and the engine itself must log in to that broker: otherwise it refuses to start.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from operando.errors import OperandoError
from operando.telemetry.topics import check_name

PASSWORD_VARIABLE = "OPERANDO_MQTT_PASSWORD"  # keeps the broker password off the command line
DEFAULT_PORT, DEFAULT_TLS_PORT = 1883, 8883


class TelemetryConfigError(OperandoError, ValueError):
    """Telemetry settings that cannot work or are unsafe; the experiment is not started."""


@dataclass(frozen=True)
class BrokerAddress:
    """A broker to connect to; ``tls`` with optional ``ca_file`` (else the system's trust store)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    tls_insecure: bool = False  # skip host name checks: only for a test broker with a self-made certificate
    mqtt5: bool = field(default=True, compare=False)  # False: the broker speaks MQTT 3.1.1 only (amqtt)

    @property
    def url(self) -> str:
        """The address without the password, for messages and logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is on this machine's loopback; unknown names count as remote."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def parse_broker(text: str, *, ca_file: str | Path | None = None,
                 tls_insecure: bool = False) -> BrokerAddress | Literal["embedded", "none"]:
    """``--broker`` text to a broker address, ``"embedded"`` or ``"none"``; errors name the value."""
    value = text.strip()
    if value.lower() in ("embedded", "none"):
        return value.lower()  # type: ignore[return-value]
    if "://" not in value:
        value = f"mqtt://{value}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise TelemetryConfigError(f"--broker {text!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise TelemetryConfigError(f"--broker {text!r}: the scheme must be mqtt:// or mqtts:// (TLS), "
                                   f"or give 'embedded' or 'none'")
    if not parts.hostname:
        raise TelemetryConfigError(f"--broker {text!r}: no host name")
    if parts.path not in ("", "/") or parts.query:
        raise TelemetryConfigError(f"--broker {text!r}: only mqtt[s]://[user[:password]@]host[:port] is "
                                   f"understood, not a path or query")
    tls = parts.scheme == "mqtts" or ca_file is not None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username and password is None:
        password = os.environ.get(PASSWORD_VARIABLE)
    ca = Path(ca_file) if ca_file is not None else None
    if ca is not None and not ca.is_file():
        raise TelemetryConfigError(f"--broker-ca {ca}: no such file")
    return BrokerAddress(parts.hostname, port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT), username,
                         password, tls, ca, tls_insecure)


@dataclass(frozen=True)
class TelemetrySettings:
    """Everything the service needs besides the experiment. ``electrochem_interval`` s of experiment time
    between two published points at most; ``command_auth`` "auto" = required when the broker is remote."""

    broker: BrokerAddress | Literal["embedded"]
    rig: str
    electrochem_interval: float = 1.0
    commands: bool = True
    command_users: Path | None = None
    command_auth: Literal["auto", "required", "off"] = "auto"
    embedded_port: int | None = None  # None: 1883 if free, else any free port
    keepalive: int = 10  # s of wall time
    live_queue: int = 1000  # live-stream messages kept while the broker is slow or away (oldest dropped)
    event_queue: int = 5000
    flush_timeout: float = 5.0  # s of wall time to send what is queued once the experiment ended

    def __post_init__(self) -> None:
        check_name("rig", self.rig)
        if not (math.isfinite(self.electrochem_interval) and self.electrochem_interval >= 0):
            raise TelemetryConfigError(f"--telemetry-interval must be zero or positive seconds, got "
                                       f"{self.electrochem_interval!r}")
        if self.command_auth not in ("auto", "required", "off"):
            raise TelemetryConfigError(f"--command-auth must be auto, required or off, "
                                       f"got {self.command_auth!r}")

    @property
    def remote(self) -> bool:
        return self.broker != "embedded" and not self.broker.loopback  # type: ignore[union-attr]

    @property
    def auth_required(self) -> bool:
        """Whether every command must carry a listed user and password."""
        if not self.commands:
            return False
        if self.command_auth == "auto":
            return self.remote
        return self.command_auth == "required"

    def checked(self) -> TelemetrySettings:
        """Refuse settings that would leave a remotely reachable engine open to anyone; returns self."""
        if not self.commands:
            return self
        if self.remote and self.command_auth == "off":
            raise TelemetryConfigError(
                f"remote commands through {self.broker.url} need authentication: --command-auth off is only "  # type: ignore[union-attr]
                f"allowed with a broker on loopback (or pass --no-commands)")
        if self.auth_required:
            if self.command_users is None:
                raise TelemetryConfigError(
                    "remote commands need authentication: give --command-users FILE (made with "
                    "mosquitto_passwd), or pass --no-commands to run without remote commands")
            if self.remote:
                broker: BrokerAddress = self.broker  # type: ignore[assignment]
                if not broker.username or not broker.password:
                    raise TelemetryConfigError(
                        f"the engine must log in to {broker.url} to accept remote commands: give "
                        f"mqtt[s]://USER@host and the password in ${PASSWORD_VARIABLE}, "
                        f"or pass --no-commands")
        return self

    def with_embedded_port(self, port: int) -> TelemetrySettings:
        return replace(self, embedded_port=port)
