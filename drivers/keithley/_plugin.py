"""The rig-file face of the Keithley driver: its settings (units parsed, typos refused), its entry point."""

from __future__ import annotations

from operando.drivers.keithley._driver import Keithley2450
from pydantic import BaseModel, ConfigDict, Field

from operando.rigfile import Driver, RigContext
from operando.units import quantity_type

Duration = quantity_type("time", positive=True)
Voltage = quantity_type("voltage", positive=True)
Current = quantity_type("current", positive=True)


class Keithley2450Settings(BaseModel):
    """``[potentiostat]`` with ``driver = "keithley2450"``. Limits default to the plan's safety window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resource: str = Field(min_length=1)  # VISA resource name
    visa_library: str = "@py"  # "@py" pyvisa-py, "" the system VISA (NI, Keysight), "dev.yaml@sim"
    timeout: Duration = 5.0  # type: ignore[valid-type]
    sample_interval: Duration = 1.0  # type: ignore[valid-type]
    voltage_limit: Voltage | None = None  # type: ignore[valid-type]
    current_limit: Current | None = None  # type: ignore[valid-type]
    nplc: float = Field(1.0, ge=0.01, le=10.0)
    four_wire: bool = True


def clamps(settings: Keithley2450Settings, context: RigContext) -> tuple[float, float]:
    """The compliance limits: as written, else the plan's safety window (E_max, I_max), else 5 V / 10 mA."""
    safety = context.plan.safety if context.plan is not None else None
    voltage = settings.voltage_limit or (max(abs(safety.E_max), abs(safety.E_min)) if safety else 5.0)
    current = settings.current_limit or (safety.I_max if safety else 0.01)
    return voltage, current


def create(settings: Keithley2450Settings, context: RigContext) -> Keithley2450:
    voltage, current = clamps(settings, context)
    return Keithley2450(settings.resource, visa_library=settings.visa_library, timeout=settings.timeout,
                        sample_interval=settings.sample_interval, voltage_limit=voltage,
                        current_limit=current, nplc=settings.nplc, four_wire=settings.four_wire)


DRIVER = Driver(create, role="potentiostat", settings=Keithley2450Settings,
                supported_techniques=Keithley2450.supported_techniques,
                description="Keithley 2450/2460/2470 source-measure unit over VISA (SCPI)")
