"""The rig-file face of the serial sensors: their settings (units parsed, typos refused) and entry points."""

from __future__ import annotations

from operando.drivers.serial_sensors._driver import LoadCellSensor, TemperatureSensor
from pydantic import BaseModel, ConfigDict, Field

from operando.rigfile import Driver, RigContext
from operando.units import quantity_type

Duration = quantity_type("time", positive=True)
Area = quantity_type("area", positive=True)


class SerialSensorSettings(BaseModel):
    """``[sensors.<name>]`` with a serial sensor driver; ``name`` is the table's name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    port: str = Field(min_length=1)  # "/dev/ttyUSB0", "COM3", or a pyserial URL
    baudrate: int = Field(9600, gt=0)
    timeout: Duration = 0.5  # type: ignore[valid-type]
    retries: int = Field(2, ge=0, le=10)


class LoadCellSettings(SerialSensorSettings):
    area: Area  # type: ignore[valid-type]  # the pellet's face the load presses on, e.g. "0.785 cm^2"


def _options(settings: SerialSensorSettings) -> dict[str, object]:
    return {"baudrate": settings.baudrate, "timeout": settings.timeout, "retries": settings.retries}


def create_temperature(settings: SerialSensorSettings, context: RigContext) -> TemperatureSensor:
    return TemperatureSensor(settings.name, settings.port, **_options(settings))  # type: ignore[arg-type]


def create_load_cell(settings: LoadCellSettings, context: RigContext) -> LoadCellSensor:
    return LoadCellSensor(settings.name, settings.port, area=settings.area,
                          **_options(settings))  # type: ignore[arg-type]


TEMPERATURE_DRIVER = Driver(create_temperature, role="sensor", settings=SerialSensorSettings,
                            description="temperature readout on a serial port (ASCII, checksummed)")
LOAD_CELL_DRIVER = Driver(create_load_cell, role="sensor", settings=LoadCellSettings,
                          description="stack-pressure load cell on a serial port (ASCII, checksummed)")
