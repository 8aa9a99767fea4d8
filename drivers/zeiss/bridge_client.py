"""The CZEMApi seam over the SmartSEM bridge: blocking sockets, used from the driver's instrument thread.

A dropped link or a reply that does not come in time raises InstrumentConnectionLost naming the call; the next
call connects again (and authenticates again), so a restarted bridge is picked up without restarting the run.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

from operando.errors import InstrumentConnectionLost, InstrumentError

from .bridge_protocol import LENGTH, MAX_LINE, MAX_PAYLOAD, decode, encode
from .errors import INSTRUMENT


class BridgeRefused(InstrumentError):
    """The bridge refused this client (wrong token) or a request."""


class BridgeClientSeam:
    """CZEMApiSeam whose every call goes to a :class:`BridgeServer` at ``host``:``port``; timeouts in s."""

    def __init__(self, host: str, port: int, token: str, *, timeout: float = 30.0,
                 grab_timeout: float = 300.0, connect_timeout: float = 5.0) -> None:
        if not token or not token.strip():
            raise ValueError("the bridge client needs the bridge's shared token")
        self.host = host
        self.port = int(port)
        self._token = token.strip()
        self.timeout = timeout
        self.grab_timeout = grab_timeout
        self.connect_timeout = connect_timeout
        self._socket: socket.socket | None = None
        self._file: Any = None
        self._ids = itertools.count(1)

    @classmethod
    def from_token_file(cls, host: str, port: int, token_file: str | Path,
                        **options: Any) -> BridgeClientSeam:
        return cls(host, port, Path(token_file).read_text(encoding="utf-8"), **options)

    # -- link ---------------------------------------------------------------------------------------------

    def _lost(self, call: str, why: object) -> InstrumentConnectionLost:
        self.close()
        return InstrumentConnectionLost(f"link to the SmartSEM bridge at {self.host}:{self.port} lost during "
                                        f"{call}: {why}", instrument=INSTRUMENT)

    def _connect(self, call: str) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise self._lost(call, f"cannot connect ({exc})") from None
        sock.settimeout(self.timeout)
        self._socket, self._file = sock, sock.makefile("rb")
        try:
            sock.sendall(encode({"token": self._token}))
            hello = self._read_line(call)
        except InstrumentConnectionLost:
            raise
        if hello.get("ok") is not True:
            self.close()
            raise BridgeRefused(f"the SmartSEM bridge at {self.host}:{self.port} refused the connection: "
                                f"{hello.get('error', 'no reason given')}", instrument=INSTRUMENT)

    def _read_line(self, call: str) -> dict[str, Any]:
        try:
            line = self._file.readline(MAX_LINE + 1)
        except OSError as exc:  # socket.timeout is an OSError
            raise self._lost(call, f"no reply ({exc or 'timed out'})") from None
        if not line:
            raise self._lost(call, "the bridge closed the connection")
        if not line.endswith(b"\n"):
            raise self._lost(call, "reply line too long or cut short")
        try:
            return decode(line)
        except ValueError as exc:
            raise self._lost(call, f"unreadable reply ({exc})") from None

    def _read_payload(self, call: str) -> bytes:
        try:
            (size,) = LENGTH.unpack(self._read_exactly(LENGTH.size, call))
            if size > MAX_PAYLOAD:
                raise self._lost(call, f"payload of {size} bytes announced: framing is corrupt")
            return self._read_exactly(size, call)
        except OSError as exc:
            raise self._lost(call, f"payload interrupted ({exc or 'timed out'})") from None

    def _read_exactly(self, size: int, call: str) -> bytes:
        data = self._file.read(size)
        if data is None or len(data) != size:
            raise self._lost(call, f"payload cut short ({0 if data is None else len(data)} of {size} bytes)")
        return data

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> tuple[dict[str, Any], bytes]:
        call = f"{method}{args!r}"
        if self._socket is None:
            self._connect(call)
        assert self._socket is not None
        request_id = next(self._ids)
        self._socket.settimeout(timeout or self.timeout)
        try:
            self._socket.sendall(encode({"id": request_id, "method": method, "args": list(args)}))
        except OSError as exc:
            raise self._lost(call, f"cannot send ({exc})") from None
        reply = self._read_line(call)
        if reply.get("id") != request_id:
            raise self._lost(call, f"reply to request {reply.get('id')!r} while waiting for {request_id}")
        if "error" in reply:
            raise BridgeRefused(f"the SmartSEM bridge did not run {call}: {reply['error']}",
                                instrument=INSTRUMENT)
        payload = self._read_payload(call) if method == "Grab" else b""
        self._socket.settimeout(self.timeout)
        code = reply.get("code")
        if isinstance(code, bool) or not isinstance(code, int) or not isinstance(reply.get("result"), list):
            raise self._lost(call, f"malformed reply {reply!r}")
        return reply, payload

    def close(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        for closable in (self._file, self._socket):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self._socket = self._file = None

    def _code(self, method: str, *args: Any) -> int:
        return self._call(method, *args)[0]["code"]

    # -- the seam ------------------------------------------------------------------------------------------

    def Initialise(self, machine: str = "") -> int:
        return self._code("Initialise", machine)

    def InitialiseRemoting(self) -> int:
        return self._code("InitialiseRemoting")

    def ClosingControl(self) -> int:
        return self._code("ClosingControl")

    def Get(self, name: str, as_string: bool = False) -> tuple[int, float | str]:
        reply, _ = self._call("Get", name, bool(as_string))
        result = reply["result"]
        return reply["code"], (result[0] if result else 0.0)

    def Set(self, name: str, value: float | str) -> int:
        return self._code("Set", name, value if isinstance(value, str) else float(value))

    def Execute(self, command: str) -> int:
        return self._code("Execute", command)

    def GetLimits(self, name: str) -> tuple[int, float, float]:
        reply, _ = self._call("GetLimits", name)
        low, high = (reply["result"] + [0.0, 0.0])[:2]
        return reply["code"], float(low), float(high)

    def GetStagePosition(self) -> tuple[int, float, float, float, float, float, float]:
        reply, _ = self._call("GetStagePosition")
        values = [float(v) for v in (reply["result"] + [0.0] * 6)[:6]]
        return (reply["code"], *values)  # type: ignore[return-value]

    def MoveStage(self, x: float, y: float, z: float, t: float, r: float, m: float) -> int:
        return self._code("MoveStage", *(float(v) for v in (x, y, z, t, r, m)))

    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int:
        reply, payload = self._call("Grab", int(x), int(y), int(w), int(h), int(reduction),
                                    Path(filename).name, timeout=self.grab_timeout)
        if reply["code"] == 0:
            Path(filename).write_bytes(payload)
        return reply["code"]
