"""Live mode: the GUI as a client of an engine process over MQTT (operando.telemetry.client.EngineClient).

The client runs on its own asyncio loop in one background thread; every message (thumbnails already decoded
from PNG there) crosses to the GUI thread as a queued Qt signal, and commands go the other way with
``asyncio.run_coroutine_threadsafe``. The engine is a separate process started detached, so closing or
killing the GUI never touches the experiment.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal

from operando.locks import LockError, claim_new_record, holding, lock_instruments
from operando.rigfile import load_rig
from operando.service import start_engine as start_engine_process
from operando.telemetry.client import CommandFailed, EngineClient, TelemetryMessage

from .protocol_editor import SIMULATOR, StartRequest

CONNECT_WITHIN = 10.0  # s of wall time before the broker is reported unreachable
MISSED_HEARTBEATS = 3  # heartbeats missed in a row before the engine is shown as gone
COMMAND_WITHIN = 15.0  # s for the engine's reply to a command


@dataclass
class StartedEngine:
    """An engine process the GUI started: where it publishes and which file it writes."""

    broker: str
    rig: str
    file: Path
    process: Any  # operando.service.EngineProcess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def engine_arguments(request: StartRequest, port: int, rig: str, out: Path) -> list[str]:
    """The ``operando simulate`` / ``operando run`` command line for ``request`` on an embedded broker."""
    if request.rig == SIMULATOR:
        speed = "max" if request.speed == float("inf") else f"{request.speed:g}"
        arguments = ["simulate", str(request.protocol), "--speed", speed]
    else:
        arguments = ["run", str(request.protocol), "--rig", str(request.rig_file)]
    return [*arguments, "--out", str(out), "--broker", "embedded", "--embedded-port", str(port),
            "--rig-name", rig]


def start_engine(request: StartRequest, rig: str = "gui") -> StartedEngine:
    """Start the engine detached (its own session, output to a log beside the file); raises ValueError or
    OSError when it cannot be started."""
    if request.rig != SIMULATOR and (request.rig_file is None or not request.rig_file.is_file()):
        raise ValueError(f"rig file {request.rig_file} does not exist")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = request.out or Path("runs") / f"{request.protocol.stem}-{stamp}.h5"
    try:  # refused here, with the other engine named, rather than by the engine after it started
        if request.rig_file is not None and request.rig != SIMULATOR:
            with holding(lock_instruments(load_rig(request.rig_file))):
                pass
        out, record = claim_new_record(out, numbered=request.out is None)
        record.release()  # the engine takes it again at once; a race is refused there, and shown
    except LockError as exc:
        raise ValueError(str(exc).removeprefix("--out ")) from None
    out = out.resolve()
    port = free_port()
    process = start_engine_process(engine_arguments(request, port, rig, out),
                                   log_path=out.with_suffix(".log"))
    return StartedEngine(f"mqtt://127.0.0.1:{port}", rig, out, process)


def decode_thumbnail(png: bytes, detectors: int) -> np.ndarray:
    """PNG bytes (detectors side by side) -> (detector, y, x) uint8."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    detectors = max(1, detectors)
    width = image.shape[1] // detectors
    return np.stack([image[:, k * width:(k + 1) * width] for k in range(detectors)])


class EngineLink(QObject):
    """One engine followed on one broker; ``received`` carries TelemetryMessages to the GUI thread."""

    received = Signal(object)  # TelemetryMessage (thumbnail payloads decoded to arrays)
    connection = Signal(str, str)  # "online" / "offline", detail
    replied = Signal(str, bool, str)  # command, ok, detail

    def __init__(self, broker: str, rig: str, detectors: dict[str, int] | None = None) -> None:
        super().__init__()
        self.broker, self.rig = broker, rig
        self.client = EngineClient(broker, rig)  # validates the address and the rig name now
        self.detectors = dict(detectors or {})  # region -> detector count, to split thumbnails
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"engine link {rig}", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def close(self) -> None:
        """Stop following (the engine goes on)."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(5)

    def send(self, name: str, arguments: dict[str, Any]) -> None:
        """Send a command; the answer comes back on ``replied``."""
        if self._loop is None or self._loop.is_closed():
            self.replied.emit(name, False, "not connected to the engine")
            return
        fields = {key: value for key, value in arguments.items() if value is not None}
        author = fields.pop("author", None)
        if author:
            fields["user"] = author
        asyncio.run_coroutine_threadsafe(self._command(name, fields), self._loop)

    async def _command(self, name: str, fields: dict[str, Any]) -> None:
        try:
            reply = await self.client.command(name, within=COMMAND_WITHIN, **fields)
        except CommandFailed as exc:
            self.replied.emit(name, False, str(exc))
        except (TimeoutError, ValueError, OSError) as exc:
            self.replied.emit(name, False, str(exc))
        else:
            self.replied.emit(name, True, str(reply.get("detail") or reply.get("state") or "accepted"))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._follow())
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            loop.close()

    async def _follow(self) -> None:
        async with self.client as client:
            messages = client.stream()
            try:
                await client.wait_connected(CONNECT_WITHIN)
            except TimeoutError as exc:
                self.connection.emit("offline", f"broker unreachable: {exc}")
            else:
                self.connection.emit("online", self.broker)
            async for message in messages:
                if message.kind == "thumbnails" and isinstance(message.payload, bytes | bytearray):
                    try:
                        count = self.detectors.get(message.region, 1)
                        pixels = decode_thumbnail(bytes(message.payload), count)
                    except (OSError, ValueError):
                        continue
                    message = TelemetryMessage(message.rig, message.kind, message.region, pixels,
                                               message.retained)
                self.received.emit(message)
