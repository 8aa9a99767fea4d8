"""Zeiss driver test helpers: a call-recording seam double (bridge framing only) and a bridge runner."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from operando.drivers.zeiss.bridge_server import BridgeServer

TOKEN = "correct horse battery staple"


class RecordingSeam:
    """Records every call and answers from a table: for testing the bridge's framing, not SmartSEM's behaviour
    (the simulator's fake does that)."""

    def __init__(self, grab_bytes: bytes = b"II*\x00fake tiff bytes", get_code: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.grab_bytes = grab_bytes
        self.get_code = get_code
        self.block: threading.Event | None = None  # when set, Get waits on it (a slow call)

    def Initialise(self, machine: str = "") -> int:
        self.calls.append(("Initialise", machine))
        return 0

    def InitialiseRemoting(self) -> int:
        self.calls.append(("InitialiseRemoting",))
        return 0

    def ClosingControl(self) -> int:
        self.calls.append(("ClosingControl",))
        return 0

    def Get(self, name: str, as_string: bool = False) -> tuple[int, float | str]:
        self.calls.append(("Get", name, as_string))
        if self.block is not None:
            self.block.wait(10)
        if name == "AP_UNKNOWN":
            return 1000, 0.0
        return self.get_code, ("2.00 kV" if as_string else 2000.0)

    def Set(self, name: str, value: float | str) -> int:
        self.calls.append(("Set", name, value))
        return 1008 if isinstance(value, float) and value > 30e3 else 0

    def Execute(self, command: str) -> int:
        self.calls.append(("Execute", command))
        return 0

    def GetLimits(self, name: str) -> tuple[int, float, float]:
        self.calls.append(("GetLimits", name))
        return 0, 200.0, 30000.0

    def GetStagePosition(self) -> tuple[int, float, float, float, float, float, float]:
        self.calls.append(("GetStagePosition",))
        return 0, 0.0612, 0.0453, 0.0351, 54.0, 0.0, 0.0

    def MoveStage(self, x: float, y: float, z: float, t: float, r: float, m: float) -> int:
        self.calls.append(("MoveStage", x, y, z, t, r, m))
        return 0

    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int:
        self.calls.append(("Grab", x, y, w, h, reduction, filename))
        with open(filename, "wb") as file:
            file.write(self.grab_bytes)
        return 0


@contextlib.contextmanager
def running_bridge(seam_factory: Callable[[], Any], token: str = TOKEN) -> Iterator[BridgeServer]:
    """Run a BridgeServer on loopback in a background thread (its own wall-clock loop) while in the block."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            server = BridgeServer(seam_factory, token, "127.0.0.1", 0)
            await server.start()
            holder.update(server=server, loop=asyncio.get_running_loop(), stop=asyncio.Event())
            ready.set()
            try:
                await holder["stop"].wait()
            finally:
                await server.close()
        try:
            asyncio.run(main())
        finally:
            ready.set()

    thread = threading.Thread(target=serve, name="test-bridge", daemon=True)
    thread.start()
    assert ready.wait(10), "bridge did not start"
    try:
        yield holder["server"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


class CallLog:
    """Wraps a seam and records (loop time, method, args, result) of every call, then passes it on."""

    def __init__(self, seam: Any, clock: Callable[[], float]) -> None:
        self._seam = seam
        self._clock = clock
        self.calls: list[tuple[float, str, tuple[Any, ...], Any]] = []

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._seam, method)

        def call(*args: Any) -> Any:
            result = target(*args)
            self.calls.append((self._clock(), method, args, result))
            return result
        return call

    def names(self) -> list[str]:
        """Calls as compact strings: 'Execute CMD_FREEZE_ALL', 'Set DP_ZONE 1.0', 'Get DP_FROZEN', 'Grab'."""
        out = []
        for _, method, args, _ in self.calls:
            if method == "Grab":
                out.append("Grab")
            elif method == "Get":
                out.append(f"Get {args[0]}")
            else:
                out.append(" ".join([method, *(str(a) for a in args)]))
        return out
