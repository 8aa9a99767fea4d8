"""Simulated serial sensors on a pseudo-terminal: the driver opens a real tty, the device answers behind it.

A thread serves the pty's master side: it reads command lines and answers with checksummed reply lines
(docs/drivers/sensors.md) whose value follows a piecewise-linear profile of the loop's time, plus seeded
noise. The port is a stable symlink, so a test can unplug the device (the pty closes; the driver's next
exchange fails as with a pulled USB adapter) and plug it back (a new pty behind the same path). Faults:
garbled lines, silence, probe errors. Ground truth: ``value_at(t)``, ``commands``.
"""

from __future__ import annotations

import bisect
import os
import random
import select
import tempfile
import threading
import tty
from collections.abc import Callable, Sequence
from pathlib import Path

from operando.drivers.serial_sensors import frame

CELSIUS_ZERO = 273.15


class Profile:
    """A quantity along time: piecewise linear through (t s, value SI) points, constant beyond them."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        if not points:
            raise ValueError("a profile needs at least one (time, value) point")
        ordered = sorted((float(t), float(v)) for t, v in points)
        times = [t for t, _ in ordered]
        if len(set(times)) != len(times):
            raise ValueError(f"profile times must differ, got {times}")
        self.times = times
        self.values = [v for _, v in ordered]

    def __call__(self, t: float) -> float:
        times, values = self.times, self.values
        if t <= times[0]:
            return values[0]
        if t >= times[-1]:
            return values[-1]
        k = bisect.bisect_right(times, t)
        t0, t1, v0, v1 = times[k - 1], times[k], values[k - 1], values[k]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


class SimulatedSerialSensor:
    """One device: ``kind`` "temperature" (answers ``T?`` in deg C) or "load_cell" (``F?`` in N).

    ``profile`` gives the true value in SI (K, or N for the load cell) at loop time t; ``noise`` its standard
    deviation; ``clock`` the loop's time (read from the serving thread while the driver's call holds it).
    """

    def __init__(self, kind: str, profile: Profile, clock: Callable[[], float], *, noise: float = 0.0,
                 seed: int = 0, serial: str = "SN0001", folder: str | Path | None = None) -> None:
        if kind not in ("temperature", "load_cell"):
            raise ValueError(f"kind must be 'temperature' or 'load_cell', got {kind!r}")
        self.kind = kind
        self.profile = profile
        self.clock = clock
        self.noise = noise
        self.model = "OT-1" if kind == "temperature" else "LC-2"
        self.serial = serial
        self.commands: list[bytes] = []
        self.silent = False
        self.probe_fault: str | None = None
        self._garble = 0
        self._random = random.Random(seed)
        self._own_folder = folder is None
        self._folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="operando-tty-"))
        self.port = str(self._folder / f"tty{self.model.replace('-', '')}-{serial}")
        self._master: int | None = None
        self._slave: int | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.plug_in()

    # -- ground truth and faults -----------------------------------------------------------------------------

    def value_at(self, t: float) -> float:
        """The true value (K or N) at loop time ``t``."""
        return self.profile(t)

    def garble_next(self, count: int = 1) -> None:
        self._garble = count

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug_in(self) -> None:
        """A fresh pty behind the stable port path, served by a new thread."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self._master, self._slave = master, slave
        link = Path(self.port)
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(slave))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(master, self._stop),
                                        name=f"simulated-{self.model}", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """The cable is pulled: the pty and the port path go away."""
        if self._master is None:
            return
        assert self._stop is not None and self._thread is not None
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        Path(self.port).unlink(missing_ok=True)

    def close(self) -> None:
        self.unplug()
        if self._own_folder:
            try:
                self._folder.rmdir()
            except OSError:
                pass

    # -- the device ------------------------------------------------------------------------------------------

    def _serve(self, master: int, stop: threading.Event) -> None:
        pending = b""
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 256)
            except OSError:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                reply = self._answer(line.strip())
                if reply:
                    try:
                        os.write(master, reply)
                    except OSError:
                        return

    def _answer(self, command: bytes) -> bytes:
        self.commands.append(command)
        if self.silent:
            return b""
        if command == b"ID?":
            reply = frame("ID", self.model, self.serial, "FW1.3")
        elif command == (b"T?" if self.kind == "temperature" else b"F?"):
            tag, unit = ("T", "C") if self.kind == "temperature" else ("F", "N")
            if self.probe_fault:
                reply = frame(tag, "ERR", self.probe_fault)
            else:
                value = self.profile(self.clock()) + self._random.gauss(0.0, self.noise) if self.noise else \
                    self.profile(self.clock())
                shown = value - CELSIUS_ZERO if self.kind == "temperature" else value
                reply = frame(tag, f"{shown:+09.3f}", unit)
        else:
            reply = frame("ERR", "UNKNOWN")
        if self._garble:
            self._garble -= 1
            return reply[:3] + b"\xfe#" + reply[6:]
        return reply
