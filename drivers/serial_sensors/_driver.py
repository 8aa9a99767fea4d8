"""Serial cell sensors as the Sensor role: a temperature readout and a stack-pressure load cell (pyserial).

Each reading is one exchange (command, one checksummed reply line) on the sensor's InstrumentThread. A garbled
line is retried after the input is flushed; no reply within ``timeout`` s, a probe fault or a line still
garbled after the retries raise :class:`SensorError`; a port that vanishes (USB adapter unplugged) raises
:class:`SensorConnectionLost` and the next read opens it again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import serial
from operando.drivers.serial_sensors._errors import SensorConnectionLost, SensorError, SensorNotAnswering
from operando.drivers.serial_sensors._protocol import (
    TERMINATOR,
    LineError,
    ProbeFault,
    parse_identity,
    parse_reading,
    unframe,
)

from operando.instrument_thread import InstrumentThread
from operando.roles.instrument import InstrumentInfo
from operando.roles.sensor import SensorReading

log = logging.getLogger(__name__)

try:
    from termios import error as _TermiosError
except ImportError:  # Windows
    class _TermiosError(Exception):  # type: ignore[no-redef]
        """Never raised off POSIX."""

# What a vanished port raises: pyserial's own error, the OS's, or termios's (flushing a dead pty).
PORT_ERRORS = (serial.SerialException, OSError, _TermiosError)

DRIVER_NAME = "operando.drivers.serial_sensors"
CELSIUS_ZERO = 273.15  # K


def _ports_present() -> str:
    try:
        from serial.tools.list_ports import comports

        ports = [port.device for port in comports()]
    except Exception:  # noqa: BLE001 - the listing only helps the message
        return ""
    return f"; serial ports present: {', '.join(ports) if ports else 'none'}"


class SerialSensor:
    """One sensor on a serial port (a device path or a pyserial URL). Subclasses say what it reads."""

    quantity = ""
    unit = ""
    command = b""
    tag = ""
    device_unit = ""
    model_prefix = ""

    def __init__(self, name: str, port: str, *, baudrate: int = 9600, timeout: float = 0.5, retries: int = 2,
                 open_port: Callable[..., Any] | None = None) -> None:
        if not isinstance(port, str) or not port.strip():
            raise SensorError(f"port must be a device path such as '/dev/ttyUSB0' or "
                              f"'COM3', got {port!r}", instrument=f"sensor {name}")
        if not (isinstance(timeout, int | float) and 0 < timeout <= 60):
            raise SensorError(f"timeout must be 0..60 s, got {timeout!r}", instrument=f"sensor {name}")
        if not (isinstance(retries, int) and 0 <= retries <= 10):
            raise SensorError(f"retries must be 0..10, got {retries!r}", instrument=f"sensor {name}")
        self.name = name
        self.label = f"sensor {name}"  # how errors name it
        self.port = port.strip()
        self.baudrate = baudrate
        self.timeout = float(timeout)
        self.retries = retries
        self.info: InstrumentInfo | None = None
        self._open_port = open_port or serial.serial_for_url
        self._serial: Any = None
        self._thread: InstrumentThread | None = None

    # -- on the instrument thread ------------------------------------------------------------------------

    def _open(self) -> None:
        if self._serial is not None:
            return
        try:
            self._serial = self._open_port(self.port, baudrate=self.baudrate, timeout=self.timeout,
                                           write_timeout=self.timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            if "No such file" in str(exc):
                raise SensorConnectionLost(f"serial port {self.port!r} does not exist (is the sensor's USB "
                                           f"adapter plugged in?){_ports_present()}",
                                           instrument=self.label) from None
            raise SensorError(f"cannot open serial port {self.port!r}: {exc}",
                              instrument=self.label) from None

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception as exc:  # noqa: BLE001 - a vanished port may refuse to close; it is gone anyway
                log.debug("%s: close failed: %s", self.name, exc)

    def _exchange(self, command: bytes) -> list[str]:
        """Send ``command``, return the reply's fields; retries garbled lines, reopens a closed port."""
        self._open()
        garbled: list[bytes] = []
        for _ in range(self.retries + 1):
            try:
                self._serial.reset_input_buffer()
                self._serial.write(command)
                line = self._serial.read_until(TERMINATOR)
            except PORT_ERRORS as exc:
                self._close()
                raise SensorConnectionLost(f"port {self.port!r} lost during "
                                           f"{command!r}: {exc}", instrument=self.label) from None
            if not line.endswith(TERMINATOR):
                if line:
                    garbled.append(line)
                    continue  # a partial line: the rest may have been lost on the wire
                raise SensorNotAnswering(f"no reply to {command!r} on {self.port} "
                                         f"within {self.timeout:g} s (unplugged, switched off, or wrong baud "
                                         f"rate {self.baudrate}?)", instrument=self.label)
            try:
                return unframe(line)
            except LineError:
                garbled.append(line)
        raise SensorError(f"unparsable reply to {command!r} on {self.port} "
                          f"{len(garbled)} time(s); last {garbled[-1]!r} (electrical noise, or another "
                          "device on this port?)", instrument=self.label, name="garbled line")

    # -- Sensor role ---------------------------------------------------------------------------------------

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._thread is None:
            raise SensorError("not connected: call connect() first",
                              instrument=self.label)
        return await self._thread.call(function, *args)

    async def connect(self) -> InstrumentInfo:
        """Open the port and check the device is the expected kind; nothing is left open on failure."""
        if self._thread is not None:
            raise SensorError("already connected", instrument=self.label)
        self._thread = InstrumentThread(f"sensor-{self.name}")
        try:
            fields = await self._call(self._exchange, b"ID?\n")
            try:
                identity = parse_identity(fields)
            except LineError as exc:
                raise SensorError(f"on {self.port}: {exc}",
                                  instrument=self.label) from None
            if not identity.model.startswith(self.model_prefix):
                raise SensorError(f"the device on {self.port} is a {identity.model!r}, not a "
                                  f"{self.model_prefix}* {self.quantity} device: wrong port?",
                                  instrument=self.label)
        except BaseException:
            await self._shut()
            raise
        self.info = InstrumentInfo(model=identity.model, serial=identity.serial, firmware=identity.firmware,
                                   driver=DRIVER_NAME, settings=self.settings())
        return self.info

    def settings(self) -> dict[str, Any]:
        return {"port": self.port, "baudrate": self.baudrate, "timeout": self.timeout,
                "retries": self.retries, "quantity": self.quantity, "unit": self.unit}

    async def read(self) -> SensorReading:
        """One reading now, in SI; the time is the loop's, halfway through the exchange."""
        loop = asyncio.get_running_loop()
        before = loop.time()
        fields = await self._call(self._exchange, self.command)
        t = 0.5 * (before + loop.time())
        try:
            value = parse_reading(fields, self.tag, self.device_unit)
        except ProbeFault as fault:
            raise SensorError(f"the probe reports a fault: {fault.code}",
                              instrument=self.label, name=fault.code) from None
        except LineError as exc:
            raise SensorError(f"on {self.port}: {exc}", instrument=self.label,
                              name="unexpected reply") from None
        return SensorReading(t, self.to_si(value), self.unit, self.quantity)

    def to_si(self, value: float) -> float:
        return value

    async def disconnect(self) -> None:
        await self._shut()

    async def _shut(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            await thread.call(self._close)
        finally:
            thread.close(wait=True)


class TemperatureSensor(SerialSensor):
    """A temperature readout (thermocouple or RTD on the holder): ``T?`` in degrees Celsius, kept in K."""

    quantity = "temperature"
    unit = "K"
    command = b"T?\n"
    tag = "T"
    device_unit = "C"
    model_prefix = "OT-"

    def to_si(self, value: float) -> float:
        return value + CELSIUS_ZERO


class LoadCellSensor(SerialSensor):
    """The stack-pressure load cell: ``F?`` in newtons over the pellet ``area`` m^2, kept as pressure (Pa)."""

    quantity = "pressure"
    unit = "Pa"
    command = b"F?\n"
    tag = "F"
    device_unit = "N"
    model_prefix = "LC-"

    def __init__(self, name: str, port: str, *, area: float, **options: Any) -> None:
        if not (isinstance(area, int | float) and math.isfinite(area) and area > 0):
            raise SensorError(f"area must be a positive area in m^2, got {area!r}",
                              instrument=f"sensor {name}")
        super().__init__(name, port, **options)
        self.area = float(area)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "area": self.area}

    def to_si(self, value: float) -> float:
        return value / self.area
