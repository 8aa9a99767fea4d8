"""The SmartSEM bridge server: serves CZEMApi seam calls over TCP to a driver on another PC (asyncio streams).

Runs on the SmartSEM PC, next to the COM control. Binds to loopback unless told otherwise, wants a shared
token first (compared in constant time), passes only allow-listed calls, one at a time, on one thread, and
reports SmartSEM's codes unchanged. A client that vanishes mid-call costs nothing but its own reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

from operando.instrument_thread import InstrumentThread

from .bridge_protocol import LENGTH, MAX_LINE, PROTOCOL_VERSION, decode, encode, validate
from .seam import CZEMApiSeam

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BridgeServer:
    """Serves one seam (made by ``seam_factory`` on the bridge's own thread) to token-holding clients."""

    def __init__(self, seam_factory: Callable[[], CZEMApiSeam], token: str, host: str = "127.0.0.1",
                 port: int = 0, *, hello_timeout: float = 10.0) -> None:
        if not token or not token.strip():
            raise ValueError("the bridge needs a non-empty shared token")
        self._token = token.strip().encode()
        self.host = host
        self.port = port
        self.hello_timeout = hello_timeout
        self._seam_factory = seam_factory
        self._seam: CZEMApiSeam | None = None
        self._thread = InstrumentThread("smartsem-bridge")
        self._lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._grabs = 0
        self.calls = 0  # served seam calls, for tests and the log

    async def start(self) -> tuple[str, int]:
        """Make the seam, listen; returns the bound (host, port)."""
        if not _is_loopback(self.host):
            log.warning("SmartSEM bridge listening on %s, not loopback: anyone with the token on that "
                        "network can drive the microscope", self.host)
        self._seam = await self._thread.call(self._seam_factory)
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_LINE)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        log.info("SmartSEM bridge serving on %s:%d", host, port)
        return host, port

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self._thread.close(wait=False)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            if not await self._authenticate(reader, writer, peer):
                return
            while line := await reader.readline():
                await self._serve_one(line, writer)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("bridge client %s went away: %s", peer, exc)
        except asyncio.LimitOverrunError:
            log.warning("bridge client %s sent a line over %d bytes; closed", peer, MAX_LINE)
        except ValueError as exc:  # StreamReader raises ValueError when a line exceeds the limit
            log.warning("bridge client %s: %s; closed", peer, exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            peer: Any) -> bool:
        try:
            hello = decode(await asyncio.wait_for(reader.readline(), self.hello_timeout))
            offered = hello.get("token")
        except (TimeoutError, ValueError):
            offered = None
        if not isinstance(offered, str) or not hmac.compare_digest(offered.strip().encode(), self._token):
            log.warning("bridge refused %s: missing or wrong token", peer)
            writer.write(encode({"ok": False, "error": "refused: wrong or missing token"}))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return False
        writer.write(encode({"ok": True, "protocol": PROTOCOL_VERSION}))
        await writer.drain()
        log.info("bridge client %s authenticated", peer)
        return True

    async def _serve_one(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        request_id: Any = None
        payload: bytes | None = None
        try:
            request = decode(line)
            request_id = request.get("id")
            method = request.get("method")
            args = validate(method, request.get("args", []))
        except ValueError as exc:  # BadRequest, or not JSON
            reply: dict[str, Any] = {"id": request_id, "error": f"bad request: {exc}"}
        else:
            try:
                async with self._lock:
                    if method == "Grab":
                        code, payload = await self._thread.call(self._grab, *args)
                        result: list[Any] = []
                    else:
                        returned = await self._thread.call(getattr(self._seam, method), *args)
                        code, result = (returned[0], list(returned[1:])) if isinstance(returned, tuple) \
                            else (returned, [])
                    self.calls += 1
                reply = {"id": request_id, "code": int(code), "result": result}
            except Exception as exc:  # noqa: BLE001 - a raising seam (COM error) is reported, the bridge lives
                log.exception("seam call %s failed", method)
                reply = {"id": request_id, "error": f"{type(exc).__name__}: {exc}"}
        writer.write(encode(reply))
        if "code" in reply and payload is not None:
            writer.write(LENGTH.pack(len(payload)))
            writer.write(payload)
        await writer.drain()

    def _grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> tuple[int, bytes]:
        """On the bridge thread: grab into a file of our own (never the client's path) in a temporary folder
        removed with it, return its bytes."""
        self._grabs += 1
        suffix = os.path.splitext(filename)[1].lower()
        with tempfile.TemporaryDirectory(prefix="operando-bridge-") as folder:
            path = os.path.join(folder, f"grab-{self._grabs}{suffix}")
            code = self._seam.Grab(x, y, w, h, reduction, path)  # type: ignore[union-attr]
            if code != 0:
                return code, b""
            with open(path, "rb") as file:
                return code, file.read()
