"""Cell sensors in a run: poll each sensor, record its readings, watch the protocol's limits on them.

One task per sensor reads it every ``interval`` s of the experiment clock and publishes a :class:`SensorRead`
(its time on the timeline, SI value); the file keeps them in ``/entry/sensors/<name>`` (created up front by
:meth:`SensorPoller.section`, like every dataset under SWMR). A limit with ``action = "stop"`` crossed (or a
sensor that cannot be read ``max_failures`` times in a row while such a limit watches it) publishes
:class:`operando.engine.events.SafetyTripped` and raises :class:`operando.errors.SafetyTrip`: the run ends
safely, status aborted. A "warn" limit publishes :class:`SensorLimitCrossed` once per excursion. A sensor
fault never stops cycling by itself: it is a Fault event, and the readings resume when the sensor does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import h5py
import numpy as np

from operando.engine.events import Event, Fault, SafetyTripped
from operando.errors import InstrumentError, SafetyTrip
from operando.plan import Plan
from operando.roles.instrument import InstrumentInfo
from operando.roles.sensor import Sensor, SensorLimit
from operando.storage import Column, Table

log = logging.getLogger(__name__)

GROUP = "sensors"
SENSOR_LIMITS = "sensor_limits"  # key of Plan.extras holding the protocol's SensorLimit tuple
DEFAULT_INTERVAL = 10.0  # s
MAX_FAILURES = 3  # consecutive failed reads of a sensor under a stop limit before the run stops
SENSOR_COLUMNS = (Column("t", "f8", "s", "timeline time of the reading (mid-exchange)"),
                  Column("value", "f8", "", "the reading, in the unit of the group's 'unit' attribute"))


@dataclass(frozen=True)
class SensorRead(Event):
    """One sensor reading: ``value`` in ``unit`` (SI) of ``quantity``; ``t`` when it was taken."""

    sensor: str
    value: float
    unit: str
    quantity: str
    kind: ClassVar[str] = "sensor_read"

    def table_rows(self) -> dict[str, Any]:
        """What the file appends: the table path and its columns (one row)."""
        return {"path": f"{GROUP}/{self.sensor}",
                "columns": {"t": np.array([self.t]), "value": np.array([self.value])}}


@dataclass(frozen=True)
class SensorLimitCrossed(Event):
    """A "warn" limit crossed (``back_inside`` False) or cleared again (True)."""

    sensor: str
    value: float
    message: str
    back_inside: bool = False
    kind: ClassVar[str] = "sensor_limit"


def sensor_limits(plan: Plan) -> tuple[SensorLimit, ...]:
    """The protocol's limits on sensors (``[safety.sensors]``), as resolved into the plan."""
    return tuple(plan.extras.get(SENSOR_LIMITS, ()))


def _bound(limit: SensorLimit, value: float) -> float:
    """The bound ``value`` crossed, for the SafetyTripped event (the drift allowed, for a drift limit)."""
    if limit.maximum is not None and value > limit.maximum:
        return limit.maximum
    if limit.minimum is not None and value < limit.minimum:
        return limit.minimum
    return limit.drift if limit.drift is not None else math.nan


class SensorPoller:
    """Reads ``sensors`` every ``intervals[name]`` s; ``publish`` hands events to the bus; ``now`` is the
    timeline's time and ``loop_offset`` the loop time at timeline zero (readings carry loop time)."""

    def __init__(self, sensors: Mapping[str, Sensor], *, intervals: Mapping[str, float] | None = None,
                 limits: Sequence[SensorLimit] = (), max_failures: int = MAX_FAILURES) -> None:
        intervals = dict(intervals or {})
        unknown = sorted({limit.sensor for limit in limits} - set(sensors))
        if unknown:
            known = ", ".join(sorted(sensors)) or "none"
            raise ValueError(f"safety.sensors names {', '.join(unknown)}, which the rig does not have "
                             f"(its sensors: {known})")
        for limit in limits:
            measured = sensors[limit.sensor].quantity
            if limit.quantity and limit.quantity != measured:
                raise ValueError(f"safety.sensors.{limit.sensor} gives {limit.quantity} limits, but the "
                                 f"rig's sensor {limit.sensor!r} measures {measured}")
        for name, interval in intervals.items():
            if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
                raise ValueError(f"sensor {name!r}: interval must be positive seconds, got {interval!r}")
        self.sensors = dict(sensors)
        self.intervals = {name: float(intervals.get(name, DEFAULT_INTERVAL)) for name in self.sensors}
        self.limits = {name: [limit for limit in limits if limit.sensor == name] for name in self.sensors}
        self.max_failures = max_failures
        self.reference: dict[str, float] = {}  # first reading of each sensor (for drift limits)
        self._connected: list[str] = []

    # -- the file ------------------------------------------------------------------------------------------

    def section(self, entry: h5py.Group, plan: Plan) -> None:
        """Create /entry/sensors/<name> (t, value) for every sensor, before SWMR starts."""
        group = entry.require_group(GROUP)
        for name, sensor in self.sensors.items():
            table = Table.create(group, name, SENSOR_COLUMNS, chunk_rows=1024).group
            table["value"].attrs["units"] = sensor.unit
            table.attrs.update(quantity=sensor.quantity, unit=sensor.unit, interval=self.intervals[name])
            table.attrs["limits"] = json.dumps([dataclasses.asdict(limit) for limit in self.limits[name]])

    # -- connection ----------------------------------------------------------------------------------------

    async def connect(self) -> dict[str, InstrumentInfo]:
        """Connect every sensor; if one fails, those already connected are disconnected and it raises."""
        infos: dict[str, InstrumentInfo] = {}
        try:
            for name, sensor in self.sensors.items():
                infos[name] = await sensor.connect()
                self._connected.append(name)
        except BaseException:
            await self.disconnect()
            raise
        return infos

    async def disconnect(self) -> None:
        """Disconnect every connected sensor; failures are logged (the run is ending anyway)."""
        while self._connected:
            name = self._connected.pop()
            try:
                await self.sensors[name].disconnect()
            except Exception as exc:  # noqa: BLE001
                log.warning("sensor %s: disconnect failed: %s", name, exc)

    # -- polling -------------------------------------------------------------------------------------------

    async def run(self, publish: Callable[[Event], Awaitable[None]], now: Callable[[], float],
                  loop_offset: float) -> None:
        """Poll every sensor until cancelled; raises SafetyTrip when a stop limit is crossed."""
        async with asyncio.TaskGroup() as group:
            for name in self.sensors:
                group.create_task(self._poll(name, publish, now, loop_offset), name=f"sensor {name}")

    async def _poll(self, name: str, publish: Callable[[Event], Awaitable[None]], now: Callable[[], float],
                    loop_offset: float) -> None:
        sensor, interval, limits = self.sensors[name], self.intervals[name], self.limits[name]
        guarded = any(limit.action == "stop" for limit in limits)
        failures = 0
        warned: set[int] = set()
        loop = asyncio.get_running_loop()
        next_read = loop.time()
        while True:
            try:
                reading = await sensor.read()
            except InstrumentError as exc:
                failures += 1
                if failures == 1:
                    await publish(Fault(now(), str(exc), name, exc.code, exc.name))
                if guarded and failures >= self.max_failures:
                    message = (f"{name} could not be read {failures} times in a row: its safety limit cannot "
                               f"be watched ({exc})")
                    await publish(SafetyTripped(now(), f"sensor:{name}", math.nan, math.nan, message))
                    raise SafetyTrip(message) from exc
            else:
                if failures:
                    log.info("sensor %s reads again after %d failures", name, failures)
                failures = 0
                t = reading.t - loop_offset
                self.reference.setdefault(name, reading.value)
                await publish(SensorRead(t, name, reading.value, reading.unit, reading.quantity))
                await self._check(name, limits, reading.value, t, warned, publish)
            next_read += interval
            await asyncio.sleep(max(0.0, next_read - loop.time()))

    async def _check(self, name: str, limits: list[SensorLimit], value: float, t: float, warned: set[int],
                     publish: Callable[[Event], Awaitable[None]]) -> None:
        for index, limit in enumerate(limits):
            message = limit.violation(value, self.reference.get(name))
            if message is None:
                if index in warned:
                    warned.discard(index)
                    await publish(SensorLimitCrossed(t, name, value, f"{name} back inside its limits", True))
                continue
            if limit.action == "stop":
                await publish(SafetyTripped(t, f"sensor:{name}", value, _bound(limit, value), message))
                raise SafetyTrip(message)
            if index not in warned:
                warned.add(index)
                await publish(SensorLimitCrossed(t, name, value, message))
