"""A Pt100 read by a lab-built Arduino: send ``READ``, get ``24.81`` (degrees Celsius) back, one line each.

The worked example of docs/writing-a-driver.md: a Sensor role implementation, its blocking serial calls on
an InstrumentThread, clear errors, a settings model, and the ``Driver`` object the entry point names.
"""

from __future__ import annotations

import asyncio
from typing import Any

import serial
from pydantic import BaseModel, ConfigDict, Field

from operando.errors import InstrumentError
from operando.instrument_thread import InstrumentThread
from operando.rigfile import Driver, RigContext
from operando.roles import InstrumentInfo, SensorReading
from operando.units import quantity_type


class ArduinoPt100:
    """The Sensor role: ``connect``, ``read`` (kelvin), ``disconnect``; ``name``, ``quantity``, ``unit``."""

    quantity = "temperature"
    unit = "K"

    def __init__(self, name: str, port: str, timeout: float) -> None:
        self.name = name
        self.port = port
        self.timeout = timeout
        self._serial: Any = None
        self._thread: InstrumentThread | None = None

    def _exchange(self) -> float:
        # Runs on the instrument thread: pyserial blocks.
        self._serial.reset_input_buffer()
        self._serial.write(b"READ\n")
        line = self._serial.readline()
        if not line.endswith(b"\n"):
            raise InstrumentError(f"no reply within {self.timeout} s on {self.port}", instrument=self.name)
        try:
            return float(line) + 273.15
        except ValueError:
            raise InstrumentError(f"unreadable reply {line!r}", instrument=self.name) from None

    async def connect(self) -> InstrumentInfo:
        self._thread = InstrumentThread(f"pt100-{self.name}")
        try:
            self._serial = await self._thread.call(serial.serial_for_url, self.port, timeout=self.timeout)
        except (serial.SerialException, OSError) as exc:
            self._thread.close()
            self._thread = None
            raise InstrumentError(f"cannot open {self.port}: {exc}", instrument=self.name) from None
        return InstrumentInfo(model="Arduino Pt100", serial="", firmware="", driver=__name__,
                              settings={"port": self.port})

    async def read(self) -> SensorReading:
        if self._thread is None:
            raise InstrumentError("not connected", instrument=self.name)
        loop = asyncio.get_running_loop()
        value = await self._thread.call(self._exchange)
        return SensorReading(loop.time(), value, self.unit, self.quantity)

    async def disconnect(self) -> None:
        if self._thread is not None:
            await self._thread.call(self._serial.close)
            self._thread.close()
            self._thread = None


class Settings(BaseModel):
    """The rig file's table: ``port`` is required, ``timeout`` a duration; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str  # the table's name, given by operando
    port: str = Field(min_length=1)
    timeout: quantity_type("time", positive=True) = 1.0  # type: ignore[valid-type]


def create(settings: Settings, context: RigContext) -> ArduinoPt100:
    return ArduinoPt100(settings.name, settings.port, settings.timeout)


DRIVER = Driver(create, role="sensor", settings=Settings, description="Pt100 on the lab's Arduino reader")
