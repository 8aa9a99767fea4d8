"""The Sensor role: a cell sensor (temperature, stack pressure, ...) read now and then; SI values, async.

A reading carries the loop time it was taken at (``loop.time()``, the clock the experiment timeline is built
on), the value in SI (kelvin, pascal, ...), the SI unit and the quantity's name. Limits on a sensor come from
the protocol's ``[safety.sensors]`` table: crossing one stops the run, or only warns, as the researcher chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from operando.roles.instrument import InstrumentInfo

# quantity -> SI unit of its readings
SENSOR_UNITS: dict[str, str] = {"temperature": "K", "pressure": "Pa", "force": "N", "voltage": "V",
                                "humidity": "1"}


@dataclass(frozen=True)
class SensorReading:
    """One reading: ``t`` s of loop time (mid-exchange), ``value`` in ``unit`` (SI) of ``quantity``."""

    t: float
    value: float
    unit: str
    quantity: str


@runtime_checkable
class Sensor(Protocol):
    """One sensor on the rig. ``read`` raises :class:`operando.errors.InstrumentError` when it cannot read
    (no reply, a garbled line, the cable pulled) and tries to reopen its link on the next call."""

    name: str
    quantity: str  # a key of SENSOR_UNITS
    unit: str

    async def connect(self) -> InstrumentInfo: ...

    async def read(self) -> SensorReading: ...

    async def disconnect(self) -> None: ...


@dataclass(frozen=True)
class SensorLimit:
    """Bounds on one sensor's readings (SI): below ``minimum`` or above ``maximum``, or further than ``drift``
    (absolute, SI) from the first reading of the run. ``action`` "stop" ends the run safely, "warn" records a
    warning once per excursion and carries on. ``quantity`` lets a rig check its sensor measures that."""

    sensor: str
    minimum: float | None = None
    maximum: float | None = None
    drift: float | None = None
    action: Literal["stop", "warn"] = "stop"
    quantity: str = ""  # what the bounds are ("temperature", "pressure"); "" when not said

    def __post_init__(self) -> None:
        if self.minimum is None and self.maximum is None and self.drift is None:
            raise ValueError(f"sensor limit {self.sensor!r}: give at least one of minimum, maximum, drift")
        if self.minimum is not None and self.maximum is not None and not self.minimum < self.maximum:
            raise ValueError(f"sensor limit {self.sensor!r}: minimum {self.minimum!r} must lie below maximum "
                             f"{self.maximum!r}")
        if self.drift is not None and not self.drift > 0:
            raise ValueError(f"sensor limit {self.sensor!r}: drift must be positive, got {self.drift!r}")
        if self.action not in ("stop", "warn"):
            raise ValueError(f"sensor limit {self.sensor!r}: action must be 'stop' or 'warn', "
                             f"got {self.action!r}")

    def violation(self, value: float, reference: float | None) -> str | None:
        """Why ``value`` is outside the limit (reference: the run's first reading), or None when inside."""
        if not math.isfinite(value):
            return f"{self.sensor} reads {value}: its value is unknown"
        if self.maximum is not None and value > self.maximum:
            return f"{self.sensor} {value:.6g} above its maximum {self.maximum:.6g}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.sensor} {value:.6g} below its minimum {self.minimum:.6g}"
        if self.drift is not None and reference is not None and abs(value - reference) > self.drift:
            return (f"{self.sensor} {value:.6g} drifted {value - reference:+.6g} from its first reading "
                    f"{reference:.6g} (allowed {self.drift:.6g})")
        return None
