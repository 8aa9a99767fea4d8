"""Serial cell sensors (temperature readout, stack-pressure load cell) as the Sensor role, over pyserial."""

from operando.drivers.serial_sensors._driver import LoadCellSensor, SerialSensor, TemperatureSensor
from operando.drivers.serial_sensors._errors import SensorConnectionLost, SensorError, SensorNotAnswering
from operando.drivers.serial_sensors._plugin import (
    LOAD_CELL_DRIVER,
    TEMPERATURE_DRIVER,
    LoadCellSettings,
    SerialSensorSettings,
)
from operando.drivers.serial_sensors._protocol import LineError, checksum, frame, unframe

__all__ = ["LOAD_CELL_DRIVER", "TEMPERATURE_DRIVER", "LineError", "LoadCellSensor", "LoadCellSettings",
           "SensorConnectionLost", "SensorError", "SensorNotAnswering", "SerialSensor",
           "SerialSensorSettings", "TemperatureSensor", "checksum", "frame", "unframe"]
