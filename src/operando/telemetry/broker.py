"""An embedded MQTT broker (amqtt) on loopback, so a fresh install publishes with nothing else running.

It runs on its own thread and wall-clock loop. Bound to 127.0.0.1 only: nobody off this machine can reach
it, which is why commands through it need no password. Port 1883 when free, else any free port.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from concurrent.futures import Future
from typing import Any

from operando.errors import OperandoError
from operando.telemetry.settings import DEFAULT_PORT, BrokerAddress

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


class BrokerStartError(OperandoError):
    """The embedded broker could not start (port taken, amqtt missing or failing)."""


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = HOST) -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class _RetainedCommand(bytes):
    """The payload of a command its sender published retained (the mark travels with it to the delivery)."""


class _RetainAsPublished:
    """A client's protocol handler that delivers a retained command with its retain flag, so the engine can
    refuse it: amqtt speaks MQTT 3.1.1 only, which clears the flag on live delivery."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handler, name)

    async def mqtt_publish(self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool,
                           ack_timeout: int | None = None) -> Any:
        return await self._handler.mqtt_publish(topic, data, qos, retain or isinstance(data, _RetainedCommand),
                                                ack_timeout)


def _broker_class() -> type:
    """amqtt's Broker, closing each client's stream when its session ends (amqtt leaves it to the garbage
    collector, which then warns about an unclosed socket), and keeping a retained command's retain flag."""
    from amqtt.broker import Broker  # imported here: only the embedded broker needs it

    class ClosingBroker(Broker):
        async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                   listener_name: str) -> None:
            try:
                await super().stream_connected(reader, writer, listener_name)
            finally:
                writer.close()

        async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
            message = wait_deliver.result()
            packet = getattr(message, "publish_packet", None)
            if packet is not None and packet.retain_flag and _is_command(message.topic):
                message.data = _RetainedCommand(message.data)
            return await super()._handle_message_delivery(client_session, handler, wait_deliver)

        def _get_handler(self, session: Any) -> Any:
            handler = super()._get_handler(session)
            return None if handler is None else _RetainAsPublished(handler)

    return ClosingBroker


def _is_command(topic: str | None) -> bool:
    parts = (topic or "").split("/")
    return len(parts) == 4 and parts[0] == "operando" and parts[2] == "commands"


class EmbeddedBroker:
    """amqtt bound to loopback; :meth:`start` returns the address clients connect to."""

    def __init__(self, port: int | None = None) -> None:
        self.requested_port = port
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def address(self) -> BrokerAddress:
        if self.port is None:
            raise RuntimeError("the embedded broker is not running")
        return BrokerAddress(HOST, self.port, mqtt5=False)  # amqtt: MQTT 3.1.1 only

    def start(self, timeout: float = 10.0) -> BrokerAddress:
        port = self.requested_port
        if port is None:
            port = DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port()
        elif not port_free(port):
            raise BrokerStartError(f"embedded broker: port {port} on {HOST} is already in use; choose "
                                   f"another or use that broker with --broker mqtt://{HOST}:{port}")
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._thread_main, args=(port, started), name="mqtt broker",
                                        daemon=True)
        self._thread.start()
        try:
            started.result(timeout)
        except Exception as exc:
            raise BrokerStartError(f"embedded broker on {HOST}:{port} did not start: {exc}") from exc
        self.port = port
        log.info("telemetry: embedded broker on mqtt://%s:%d", HOST, port)
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
        self.port = None

    def _thread_main(self, port: int, started: Future[None]) -> None:
        asyncio.run(self._serve(port, started))

    async def _serve(self, port: int, started: Future[None]) -> None:
        try:
            for name in ("amqtt", "transitions"):
                logging.getLogger(name).setLevel(logging.WARNING)
            broker = _broker_class()({
                "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            })
            await broker.start()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            started.set_exception(exc)
            return
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        started.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await broker.shutdown()
