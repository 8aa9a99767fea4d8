"""A client of running engines, for the GUI, ``operando watch`` and scripts: live streams and commands.

    async with EngineClient("mqtt://127.0.0.1:1883", rig="lab-1") as client:
        async for state in client.stream("state"):
            ...
        reply = await client.command("pause", reason="refill the dewar")

It reconnects by itself (wall-clock backoff); each stream keeps at most ``maxsize`` messages and drops the
oldest, so a slow view never backs up the broker. ``rig="+"`` follows every rig on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiomqtt

from operando.telemetry.link import FIRST_BACKOFF, MAX_BACKOFF
from operando.telemetry.settings import BrokerAddress, parse_broker
from operando.telemetry.topics import COMMANDS, PREFIX, Topics, check_name

log = logging.getLogger(__name__)
KINDS = ("state", "status", "heartbeat", "electrochem", "impedance", "frames", "thumbnails", "drift", "events",
         "replies")
PER_REGION = ("frames", "thumbnails", "drift")


class CommandFailed(Exception):
    """The engine refused or could not obey a command; ``reply`` is its answer."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply.get("error") or "refused")
        self.reply = reply


@dataclass(frozen=True)
class TelemetryMessage:
    """One message: which ``rig``, ``kind`` (a KINDS entry), ``region`` for per-region kinds, ``payload``
    (parsed JSON, or PNG bytes for thumbnails), ``retained`` when the broker kept it for late joiners."""

    rig: str
    kind: str
    region: str | None
    payload: Any
    retained: bool = False


def parse_topic(topic: str) -> tuple[str, str, str | None] | None:
    """(rig, kind, region) of an operando topic, None for anything else (commands included)."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != PREFIX or parts[2] not in KINDS:
        return None
    if parts[2] in PER_REGION:
        return (parts[1], parts[2], parts[3]) if len(parts) == 4 else None
    return (parts[1], parts[2], None) if len(parts) == 3 else None


class EngineClient:
    """Follows rig ``rig`` (or every rig with "+") on ``broker`` (URL text or a BrokerAddress)."""

    def __init__(self, broker: str | BrokerAddress = "mqtt://127.0.0.1:1883", rig: str = "+", *,
                 user: str | None = None, password: str | None = None, maxsize: int = 1000) -> None:
        if rig != "+":
            check_name("rig", rig)
        address = parse_broker(broker) if isinstance(broker, str) else broker
        if not isinstance(address, BrokerAddress):
            raise ValueError(f"EngineClient needs a broker address, got {broker!r}")
        self.broker = address
        self.rig = rig
        self.user = user or os.environ.get("USER") or "anonymous"
        self.password = password
        self.maxsize = maxsize
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._streams: list[tuple[frozenset[str], asyncio.Queue[TelemetryMessage]]] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EngineClient:
        self._task = asyncio.create_task(self._run(), name="engine client")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, queue in list(self._streams):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)  # type: ignore[arg-type]  # ends the stream

    async def wait_connected(self, within: float = 10.0) -> None:
        """Wait for the broker (``within`` s of wall time at most)."""
        try:
            await asyncio.wait_for(self.connected.wait(), within)
        except TimeoutError:
            raise TimeoutError(f"no connection to the broker {self.broker.url} within {within} s") from None

    def stream(self, *kinds: str) -> AsyncIterator[TelemetryMessage]:
        """Messages of the given kinds (all when none given), from now on (retained ones arrive first
        when the stream is opened before connecting). Register streams before awaiting anything."""
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown telemetry kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        queue: asyncio.Queue[TelemetryMessage] = asyncio.Queue(self.maxsize)
        entry = (frozenset(kinds or KINDS), queue)
        self._streams.append(entry)
        return self._iterate(entry)

    async def _iterate(self, entry: tuple[frozenset[str], asyncio.Queue[TelemetryMessage]]) \
            -> AsyncIterator[TelemetryMessage]:
        try:
            while (message := await entry[1].get()) is not None:
                yield message
        finally:
            if entry in self._streams:
                self._streams.remove(entry)

    async def command(self, name: str, *, rig: str | None = None, within: float = 10.0,
                      **fields: Any) -> dict[str, Any]:
        """Send command ``name`` with ``fields`` and return the engine's reply; raises CommandFailed when
        refused, TimeoutError when no engine answers ``within`` s of wall time."""
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}; allowed: {', '.join(COMMANDS)}")
        target = rig or self.rig
        topics = Topics(target)  # '+' is refused here: a command goes to one rig
        await self.wait_connected(within)
        request = uuid.uuid4().hex
        body: dict[str, Any] = {"id": request, "user": self.user, **fields}
        if self.password is not None:
            body["password"] = self.password
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        try:
            assert self._client is not None
            await self._client.publish(topics.command(name), json.dumps(body), qos=1)
            reply = await asyncio.wait_for(future, within)
        except TimeoutError:
            raise TimeoutError(f"no reply from rig {target!r} to {name} within {within} s: is its engine "
                               f"running and connected to {self.broker.url}?") from None
        finally:
            self._pending.pop(request, None)
        if not reply.get("ok"):
            raise CommandFailed(reply)
        return reply

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            try:
                async with self._connect() as client:
                    self._client = client
                    await client.subscribe(f"{PREFIX}/{self.rig}/#", qos=1)
                    self.connected.set()
                    backoff = FIRST_BACKOFF
                    async for message in client.messages:
                        self._dispatch(str(message.topic), message.payload, bool(message.retain))
            except aiomqtt.MqttError as exc:
                log.info("telemetry client: %s: %s; retrying", self.broker.url, exc)
            finally:
                self.connected.clear()
                self._client = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _connect(self) -> aiomqtt.Client:
        broker = self.broker
        tls = aiomqtt.TLSParameters(ca_certs=str(broker.ca_file) if broker.ca_file else None) \
            if broker.tls else None
        return aiomqtt.Client(broker.host, broker.port, username=broker.username, password=broker.password,
                              identifier=f"operando-client-{uuid.uuid4().hex[:12]}", tls_params=tls,
                              tls_insecure=broker.tls_insecure if broker.tls else None, keepalive=10)

    def _dispatch(self, topic: str, raw: Any, retained: bool) -> None:
        where = parse_topic(topic)
        if where is None:
            return
        rig, kind, region = where
        if kind == "thumbnails":
            payload: Any = bytes(raw) if isinstance(raw, bytes | bytearray) else raw
        else:
            try:
                payload = json.loads(raw)
            except (TypeError, ValueError):
                log.warning("telemetry client: %s is not JSON; ignored", topic)
                return
        if kind == "replies" and isinstance(payload, dict):
            future = self._pending.get(str(payload.get("id")))
            if future is not None and not future.done():
                future.set_result(payload)
        message = TelemetryMessage(rig, kind, region, payload, retained)
        for kinds, queue in self._streams:
            if kind in kinds:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(message)
