"""The engine's connection to the broker: its own thread and wall-clock event loop, so the network never
waits on the experiment's (possibly simulated) clock and the experiment never waits on the network.

It connects with a last will (``status`` = offline, retained), sends the outbox, hands commands to
``on_command`` (which must be thread-safe) and reconnects with exponential backoff when the broker goes
away, sending every retained topic again once it is back. While connected it publishes a ``heartbeat`` every
``heartbeat_interval`` s of wall time: a client that hears none for a few intervals knows the engine is gone
even when no last will can reach it (an embedded broker dies with its engine).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from operando.telemetry.outbox import Outbox
from operando.telemetry.settings import BrokerAddress
from operando.telemetry.topics import Topics

log = logging.getLogger(__name__)

FIRST_BACKOFF, MAX_BACKOFF = 0.2, 5.0  # s of wall time between reconnection attempts
PUBLISH_TIMEOUT = 10.0  # s; a broker slower than this counts as gone
HEARTBEAT_INTERVAL = 2.0  # s of wall time between heartbeats; clients give up after a few missed ones


class MqttLink:
    """Publishes ``outbox`` to ``broker`` under ``topics`` until :meth:`stop`; ``on_command(name, payload,
    retained)`` is called on the link's thread for each message on a command topic, ``retained`` as the
    sender published it (MQTT 5's retain-as-published; a 3.1.1 broker clears the flag on live delivery, and a
    retained command would pass for a fresh one)."""

    def __init__(self, broker: BrokerAddress, topics: Topics, outbox: Outbox, *, online: bytes,
                 offline: bytes, will: bytes, on_command: Callable[[str, bytes, bool], None] | None = None,
                 keepalive: int = 10, heartbeat: Callable[[float], bytes] | None = None,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        self.broker = broker
        self.topics = topics
        self.outbox = outbox
        self.on_command = on_command
        self.keepalive = keepalive
        self._online, self._offline, self._will = online, offline, will
        self._heartbeat, self.heartbeat_interval = heartbeat, heartbeat_interval  # heartbeat(interval) -> body
        self.connected = threading.Event()
        self.connections = 0  # how many times a connection was made (1 + reconnections)
        self.last_error = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._wake_scheduled = False
        self._deadline: float | None = None
        self._attempt: asyncio.Task[None] | None = None

    # engine side (any thread)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name=f"mqtt {self.topics.rig}", daemon=True)
        self._thread.start()
        self._ready.wait()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout`` s of wall time), mark the rig offline, disconnect."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(self._begin_stop, timeout)
        except RuntimeError:  # the loop already ended
            pass
        thread.join(timeout + PUBLISH_TIMEOUT)

    def _wakeup(self) -> None:
        if self._wake_scheduled or self._loop is None:
            return
        self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._woken)
        except RuntimeError:
            pass

    # the link's own thread

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    def _woken(self) -> None:
        self._wake_scheduled = False
        self._wake.set()

    def _begin_stop(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        self._stopping.set()
        self._wake.set()
        loop.call_at(self._deadline, self._give_up)

    def _give_up(self) -> None:
        """The stop deadline passed: a connection attempt or a publish still hanging is abandoned."""
        if self._attempt is not None and not self._attempt.done():
            self._attempt.cancel()

    def _expired(self) -> bool:
        return self._deadline is not None and asyncio.get_running_loop().time() > self._deadline

    def _client(self) -> aiomqtt.Client:
        broker = self.broker
        tls = aiomqtt.TLSParameters(ca_certs=str(broker.ca_file) if broker.ca_file else None) \
            if broker.tls else None
        return aiomqtt.Client(
            broker.host, broker.port, username=broker.username, password=broker.password,
            identifier=f"operando-engine-{self.topics.rig}-{os.getpid()}", keepalive=self.keepalive,
            will=aiomqtt.Will(self.topics.status, self._will, qos=1, retain=True), tls_params=tls,
            tls_insecure=broker.tls_insecure if broker.tls else None, timeout=PUBLISH_TIMEOUT,
            protocol=aiomqtt.ProtocolVersion.V5 if broker.mqtt5 else aiomqtt.ProtocolVersion.V311)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.outbox.wakeup = self._wakeup
        self._ready.set()
        backoff = FIRST_BACKOFF
        try:
            while not (self._stopping.is_set() and (self._expired() or not self.outbox.pending())):
                self._attempt = asyncio.create_task(self._session(), name="mqtt session")
                try:
                    await self._attempt
                    return
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        return  # given up at the stop deadline: the will or the broker's state tells the rest
                    raise
                except aiomqtt.MqttError as exc:
                    if self.connected.is_set() or str(exc) != self.last_error:
                        log.warning("telemetry: broker %s unreachable (%s); retrying", self.broker.url, exc)
                    if self.connected.is_set():
                        backoff = FIRST_BACKOFF  # it was up: try again soon
                    self.last_error = str(exc)
                    self.connected.clear()
                if self._stopping.is_set():
                    if self._expired():
                        return
                    await asyncio.sleep(min(backoff, self._deadline - self._loop.time()))  # type: ignore[operator]
                else:
                    try:  # a stop request ends the wait: one last try to send what is queued
                        await asyncio.wait_for(self._stopping.wait(), backoff)
                    except TimeoutError:
                        pass
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self.connected.clear()
            self.outbox.wakeup = None

    async def _session(self) -> None:
        """One connection: announce, serve until stopped, say goodbye; raises MqttError when it drops."""
        async with self._client() as client:
            await self._connected(client)
            await self._serve(client)
            await client.publish(self.topics.status, self._offline, qos=1, retain=True,
                                 timeout=PUBLISH_TIMEOUT)

    async def _connected(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.status, self._online, qos=1, retain=True, timeout=PUBLISH_TIMEOUT)
        if self.on_command is not None:
            if self.broker.mqtt5:
                await client.subscribe(self.topics.commands, options=SubscribeOptions(qos=1, retainAsPublished=True),
                                       timeout=PUBLISH_TIMEOUT)
            else:
                await client.subscribe(self.topics.commands, qos=1, timeout=PUBLISH_TIMEOUT)
        self.outbox.resend_retained()
        self.connections += 1
        self.connected.set()
        if self.connections > 1:
            log.warning("telemetry: reconnected to %s", self.broker.url)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Send and receive until stopped; raises MqttError as soon as either side sees the link drop."""
        send = asyncio.create_task(self._send(client))
        receive = asyncio.create_task(self._receive(client))
        beat = asyncio.create_task(self._beat(client))
        try:
            await asyncio.wait({send, receive, beat}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (send, receive, beat):
                task.cancel()
            results = await asyncio.gather(send, receive, beat, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result
        if not send.done() or send.cancelled():
            raise aiomqtt.MqttError("the broker closed the connection")

    async def _send(self, client: aiomqtt.Client) -> None:
        """Publish until stopping and the outbox is empty (or the stop deadline passed)."""
        while True:
            if self._expired():
                return
            batch = self.outbox.take()
            if not batch:
                if self._stopping.is_set():
                    return
                self._wake.clear()
                if self.outbox.pending():
                    continue
                await self._wake.wait()
                continue
            for index, message in enumerate(batch):
                try:
                    await client.publish(message.topic, message.body(), qos=message.qos,
                                         retain=message.retain, timeout=PUBLISH_TIMEOUT)
                except BaseException:  # the broker went away (or the link is closing): keep what matters
                    self.outbox.put_back(batch[index:])
                    raise

    async def _beat(self, client: aiomqtt.Client) -> None:
        """A heartbeat now and every interval (wall time) until the session ends; never ends by itself."""
        if self._heartbeat is None:
            await asyncio.Event().wait()
        while True:
            if not self._stopping.is_set():
                await client.publish(self.topics.heartbeat, self._heartbeat(self.heartbeat_interval), qos=0,
                                     retain=False, timeout=PUBLISH_TIMEOUT)
            await asyncio.sleep(self.heartbeat_interval)

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Hand commands over; also how a dropped connection is noticed while nothing is being sent."""
        async for message in client.messages:
            name = self.topics.command_name(str(message.topic))
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if name is not None and self.on_command is not None:
                try:
                    self.on_command(name, payload, bool(message.retain))
                except Exception:  # noqa: BLE001 - a bad command must never take the link down
                    log.exception("telemetry: command %s could not be handed to the engine", name)
