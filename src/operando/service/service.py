"""Wrap a running experiment with telemetry and remote commands (and an embedded broker when none is set).

``async with TelemetryService(experiment, settings) as service: await experiment.run()``. Whatever happens
to the broker or the clients, the experiment runs on: the service only reads the bus (drop-oldest) and
hands commands to the experiment's own controls.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from operando.telemetry.broker import BrokerStartError, EmbeddedBroker
from operando.telemetry.commands import CommandHandler
from operando.telemetry.link import MqttLink
from operando.telemetry.outbox import Message, Outbox
from operando.telemetry.passwords import PasswordFile
from operando.telemetry.payloads import dumps
from operando.telemetry.settings import BrokerAddress, TelemetrySettings
from operando.telemetry.sink import TelemetrySink
from operando.telemetry.topics import Topics

log = logging.getLogger(__name__)


class TelemetryService:
    """Telemetry and commands for ``experiment`` as ``settings`` say; enter before ``experiment.run()``."""

    def __init__(self, experiment: Any, settings: TelemetrySettings) -> None:
        self.settings = settings.checked()
        self.experiment = experiment
        self.topics = Topics(settings.rig)
        self.outbox = Outbox(settings.live_queue, settings.event_queue)
        users = PasswordFile(settings.command_users) if settings.command_users is not None else None
        self.handler = CommandHandler(experiment, users=users, require_auth=settings.auth_required) \
            if settings.commands else None
        commands = {"enabled": settings.commands,
                    "authentication": settings.commands and settings.auth_required}
        self.sink = TelemetrySink(experiment, self.topics, self.outbox,
                                  electrochem_interval=settings.electrochem_interval, commands=commands)
        self.embedded = EmbeddedBroker(settings.embedded_port) if settings.broker == "embedded" else None
        self.address: BrokerAddress | None = None
        self.link: MqttLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink_task: asyncio.Task[None] | None = None
        self._commands: set[asyncio.Task[None]] = set()

    def _status(self, status: str, reason: str) -> bytes:
        return dumps({"status": status, "reason": reason, "rig": self.topics.rig, "pid": os.getpid(),
                      "experiment": self.experiment.plan.name,
                      "file": os.path.abspath(self.experiment.out_path),
                      "utc": datetime.now(UTC).isoformat()})

    async def __aenter__(self) -> TelemetryService:
        self._loop = asyncio.get_running_loop()
        if self.embedded is not None:
            self.address = await asyncio.to_thread(self.embedded.start)
        else:
            self.address = self.settings.broker  # type: ignore[assignment]
        assert self.address is not None
        self.link = MqttLink(
            self.address, self.topics, self.outbox, online=self._status("online", "running"),
            offline=self._status("offline", "engine stopped"),
            will=self._status("offline", "connection lost"),
            on_command=self._on_command if self.handler is not None else None,
            keepalive=self.settings.keepalive)
        self.link.start()
        self.sink.publish_state()
        self._sink_task = self._loop.create_task(self.sink.run(), name="telemetry sink")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._sink_task is not None:
                if getattr(self.experiment.state, "final", False):
                    await self._sink_task  # the bus is closed: the sink ends after the last event
                else:  # the run never started or was torn down: nothing more will come
                    self._sink_task.cancel()
                    await asyncio.gather(self._sink_task, return_exceptions=True)
            if self._commands:
                await asyncio.gather(*self._commands, return_exceptions=True)
            self.sink.publish_state()
        finally:
            if self.link is not None:
                await asyncio.to_thread(self.link.stop, self.settings.flush_timeout)
            if self.embedded is not None:
                await asyncio.to_thread(self.embedded.stop)

    # commands: arrive on the MQTT thread, are obeyed on the experiment's loop, answered through the outbox

    def _on_command(self, name: str, payload: bytes, retained: bool) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._start_command, name, payload, retained)

    def _start_command(self, name: str, payload: bytes, retained: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._command(name, payload, retained))
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _command(self, name: str, payload: bytes, retained: bool) -> None:
        assert self.handler is not None
        reply = await self.handler.handle(name, payload, retained)
        self.outbox.put(Message(self.topics.replies, dumps(reply), "reply", 1))
        self.sink.publish_state()


@asynccontextmanager
async def serving(experiment: Any, settings: TelemetrySettings | None,
                  announce: Callable[[str], None] | None = None) -> AsyncIterator[TelemetryService | None]:
    """``TelemetryService`` for ``experiment``, or nothing when ``settings`` is None; ``announce`` gets one
    line saying where the telemetry goes."""
    if settings is None:
        yield None
        return
    service = TelemetryService(experiment, settings)
    try:
        await service.__aenter__()
    except BrokerStartError as exc:  # the experiment matters more than its live view: run without
        log.error("%s", exc)
        if announce is not None:
            announce(f"telemetry: off: {exc}")
        yield None
        return
    try:
        if announce is not None:
            assert service.address is not None
            auth = "off" if not settings.commands else "with password" if settings.auth_required else "open"
            announce(f"telemetry: {service.address.url} topics operando/{settings.rig}/... "
                     f"(embedded broker: {'yes' if service.embedded else 'no'}; commands: {auth})")
        yield service
    finally:
        await service.__aexit__(None, None, None)
