"""Telemetry over MQTT: topics, payloads, the engine's link to the broker, commands, and a client for GUIs."""

from operando.telemetry.commands import CommandHandler, CommandRefused
from operando.telemetry.outbox import Message, Outbox
from operando.telemetry.settings import BrokerAddress, TelemetryConfigError, TelemetrySettings, parse_broker
from operando.telemetry.topics import COMMANDS, Topics

__all__ = ["COMMANDS", "BrokerAddress", "CommandHandler", "CommandRefused", "Message", "Outbox",
           "TelemetryConfigError", "TelemetrySettings", "Topics", "parse_broker"]
