"""Simulated sensors in a rig file (``driver = "simulated_temperature"`` or ``"simulated_load_cell"``): the
real serial drivers on a pseudo-terminal whose other end is a simulated device following a profile."""

from __future__ import annotations

import asyncio
import zlib

from operando.drivers.serial_sensors import LoadCellSensor, TemperatureSensor
from operando.simulators.sensors._device import Profile, SimulatedSerialSensor
from pydantic import BaseModel, ConfigDict, Field

from operando.rigfile import Driver, RigContext
from operando.units import quantity_type

Duration = quantity_type("time")
Temperature = quantity_type("temperature", positive=True)
Pressure = quantity_type("pressure")
Area = quantity_type("area", positive=True)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    timeout: quantity_type("time", positive=True) = 0.5  # type: ignore[valid-type]
    retries: int = Field(2, ge=0, le=10)


class SimulatedTemperatureSettings(_Settings):
    """``profile``: [[time, temperature], ...] piecewise linear: [["0 h", "25 degC"], ["3 h", "70 degC"]]."""

    profile: list[tuple[Duration, Temperature]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [(0.0, 298.15)], min_length=1)
    noise: quantity_type("temperature") = 0.0  # type: ignore[valid-type]  # K, standard deviation


class SimulatedLoadCellSettings(_Settings):
    """``profile``: [[time, stack pressure], ...]; the device reports force = pressure x ``area``."""

    area: Area  # type: ignore[valid-type]
    profile: list[tuple[Duration, Pressure]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [(0.0, 15e3)], min_length=1)
    noise: Pressure = 0.0  # type: ignore[valid-type]  # Pa, standard deviation


def _device(kind: str, points: list[tuple[float, float]], noise: float, settings: _Settings,
            context: RigContext) -> SimulatedSerialSensor:
    loop = asyncio.get_running_loop()
    device = SimulatedSerialSensor(kind, Profile(points), loop.time, noise=noise, seed=context.seed,
                                   serial=f"SN{zlib.crc32(settings.name.encode()) % 10000:04d}")
    context.on_close(device.close)
    context.shared.setdefault("sensors", {})[settings.name] = device  # ground truth
    return device


def create_temperature(settings: SimulatedTemperatureSettings, context: RigContext) -> TemperatureSensor:
    device = _device("temperature", list(settings.profile), settings.noise, settings, context)
    return TemperatureSensor(settings.name, device.port, timeout=settings.timeout, retries=settings.retries)


def create_load_cell(settings: SimulatedLoadCellSettings, context: RigContext) -> LoadCellSensor:
    points = [(t, pressure * settings.area) for t, pressure in settings.profile]
    device = _device("load_cell", points, settings.noise * settings.area, settings, context)
    return LoadCellSensor(settings.name, device.port, area=settings.area, timeout=settings.timeout,
                          retries=settings.retries)


TEMPERATURE_DRIVER = Driver(create_temperature, role="sensor", settings=SimulatedTemperatureSettings,
                            description="the serial temperature driver on a simulated readout (pty)")
LOAD_CELL_DRIVER = Driver(create_load_cell, role="sensor", settings=SimulatedLoadCellSettings,
                          description="the serial load-cell driver on a simulated amplifier (pty)")
