"""Command-line options shared by ``operando run`` and ``operando simulate`` for telemetry and commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from operando.errors import QuantityError
from operando.telemetry.passwords import PasswordFile
from operando.telemetry.settings import (
    PASSWORD_VARIABLE,
    TelemetryConfigError,
    TelemetrySettings,
    parse_broker,
)
from operando.units import parse_quantity


def add_service_arguments(parser: argparse.ArgumentParser, *, default_broker: str) -> None:
    group = parser.add_argument_group("telemetry and remote commands (MQTT, see docs/telemetry.md)")
    group.add_argument("--broker", default=default_broker,
                       help="mqtt[s]://[user@]host[:port] (password in $" + PASSWORD_VARIABLE + "), "
                            "'embedded' (a broker inside this process on 127.0.0.1:1883, or a free port) or "
                            "'none' "
                            f"(default: {default_broker})")
    group.add_argument("--rig-name", default=None,
                       help="the rig's name in the topics operando/<rig>/...; tells rigs on one broker apart")
    group.add_argument("--telemetry-interval", default="1 s",
                       help="experiment time between two published electrochemical points at most "
                            "(default '1 s'; '0 s' publishes every point)")
    group.add_argument("--no-commands", dest="commands", action="store_false",
                       help="publish only; ignore every remote command")
    group.add_argument("--command-users", type=Path, default=None,
                       help="mosquitto password file of the people allowed to send commands "
                            "(made with mosquitto_passwd)")
    group.add_argument("--command-auth", choices=("auto", "required", "off"), default="auto",
                       help="require user and password with every command: auto = when the broker is not on "
                            "loopback (default)")
    group.add_argument("--broker-ca", type=Path, default=None,
                       help="CA certificate of the broker's TLS certificate (implies TLS)")
    group.add_argument("--broker-insecure", action="store_true",
                       help="TLS without checking the broker's host name (test brokers only)")
    group.add_argument("--embedded-port", type=int, default=None,
                       help="port of the embedded broker (default 1883 if free, else any free port)")


def settings_from_args(args: argparse.Namespace, default_rig: str) -> TelemetrySettings | None:
    """The telemetry settings the options give, None with --broker none; raises TelemetryConfigError."""
    broker = parse_broker(args.broker, ca_file=args.broker_ca, tls_insecure=args.broker_insecure)
    if broker == "none":
        return None
    try:
        interval = parse_quantity(args.telemetry_interval, "time", field="--telemetry-interval")
    except QuantityError as exc:
        raise TelemetryConfigError(str(exc)) from None  # the message already names --telemetry-interval
    if args.embedded_port is not None and not 0 < args.embedded_port < 65536:
        raise TelemetryConfigError(f"--embedded-port must be 1-65535, got {args.embedded_port}")
    if args.command_users is not None:
        PasswordFile(args.command_users)  # a broken users file is refused now, before anything moves
    try:
        settings = TelemetrySettings(
            broker=broker, rig=args.rig_name or default_rig, electrochem_interval=interval,
            commands=args.commands, command_users=args.command_users, command_auth=args.command_auth,
            embedded_port=args.embedded_port)
    except TelemetryConfigError:
        raise
    except ValueError as exc:  # the rig name (the only check that is not a TelemetryConfigError)
        raise TelemetryConfigError(f"--rig-name: {exc}") from None
    return settings.checked()
