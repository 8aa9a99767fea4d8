"""``[safety.sensors.<name>]``: limits on the rig's cell sensors, as a researcher writes them.

```toml
[safety.sensors.cell_temperature]
maximum = "45 degC"            # stop cycling above 45 degC
[safety.sensors.stack_pressure]
drift = "2 MPa"                # warn when it moves 2 MPa away from its first reading
action = "warn"
```
Bounds are quantities with units (a temperature, a pressure or a voltage), all of one kind per sensor; the
plan carries them as :class:`operando.roles.SensorLimit` in ``plan.extras["sensor_limits"]``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from operando.errors import QuantityError
from operando.protocol.schema.base import Model
from operando.roles.sensor import SensorLimit
from operando.units import parse_quantity

SENSOR_LIMITS = "sensor_limits"
QUANTITIES = ("temperature", "pressure", "voltage")


def read_bound(text: object, *, difference: bool = False) -> tuple[float, str]:
    """(SI value, quantity) of a bound such as "45 degC" or "20 MPa"."""
    if difference and isinstance(text, str) and "deg" in text.lower():
        raise ValueError(f"a drift is a difference of temperature: write it in K ('5 K'); {text!r} would be "
                         "read as an absolute temperature")
    for quantity in QUANTITIES:
        try:
            return parse_quantity(text, quantity), quantity  # type: ignore[arg-type]
        except QuantityError:
            continue
    raise ValueError(f"expected a temperature ('45 degC'), a pressure ('20 MPa') or a voltage ('1 V'), "
                     f"got {text!r}")


class SensorLimitSpec(Model):
    """Bounds on one sensor; at least one of minimum, maximum, drift."""

    minimum: str | None = None
    maximum: str | None = None
    drift: str | None = None
    action: Literal["stop", "warn"] = "stop"

    @model_validator(mode="after")
    def _consistent(self) -> SensorLimitSpec:
        if self.minimum is None and self.maximum is None and self.drift is None:
            raise ValueError("give at least one of minimum, maximum, drift")
        self.limit("sensor")
        return self

    def limit(self, sensor: str) -> SensorLimit:
        bounds: dict[str, float] = {}
        quantities: set[str] = set()
        for field in ("minimum", "maximum", "drift"):
            text = getattr(self, field)
            if text is not None:
                try:
                    bounds[field], quantity = read_bound(text, difference=field == "drift")
                except ValueError as exc:
                    raise ValueError(f"{field}: {exc}") from None
                quantities.add(quantity)
        if len(quantities) > 1:
            raise ValueError(f"minimum, maximum and drift must be one kind of quantity, got "
                             f"{' and '.join(sorted(quantities))}")
        return SensorLimit(sensor, bounds.get("minimum"), bounds.get("maximum"), bounds.get("drift"),
                           self.action, next(iter(quantities), ""))


def resolve_sensor_limits(specs: dict[str, SensorLimitSpec]) -> tuple[SensorLimit, ...]:
    return tuple(spec.limit(name) for name, spec in specs.items())
