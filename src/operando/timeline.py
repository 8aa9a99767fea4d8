"""The experiment timeline: seconds since start on the event loop's monotonic clock, anchored to UTC at start.

Every record carries timeline time. Device clocks (the potentiostat's time since a technique started) are
mapped onto it with an offset measured when the technique was started; the offset and its uncertainty are
recorded so the mapping can be checked or redone later.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class DeviceClock:
    """A device time base placed on the timeline: ``t = offset + t_device``; ``uncertainty`` s is half the
    time the start call took (the device clock started somewhere inside it)."""

    name: str
    offset: float
    uncertainty: float = 0.0

    def to_timeline(self, t_device: float) -> float:
        return self.offset + t_device


class Timeline:
    """Seconds since the experiment started, from ``loop.time()`` so simulated runs use simulated time."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 start_utc: datetime | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._origin = self._loop.time()
        start_utc = start_utc or datetime.now(UTC)
        if start_utc.tzinfo is None:
            raise ValueError(f"start_utc must carry a time zone, got naive {start_utc.isoformat()!r}")
        self.start_utc = start_utc.astimezone(UTC)

    @classmethod
    def resumed(cls, elapsed: float, start_utc: datetime,
                loop: asyncio.AbstractEventLoop | None = None) -> Timeline:
        """A timeline that continues an interrupted run: now() starts at ``elapsed`` s after ``start_utc``."""
        timeline = cls(loop, start_utc)
        timeline._origin -= elapsed
        return timeline

    def now(self) -> float:
        """Seconds since the start of the experiment."""
        return self._loop.time() - self._origin

    def utc(self, t: float | None = None) -> datetime:
        """The UTC date and time of timeline second ``t`` (now if omitted)."""
        return self.start_utc + timedelta(seconds=self.now() if t is None else t)

    def device_clock(self, name: str, started_before: float, started_after: float) -> DeviceClock:
        """Map a device clock that started between two timeline readings (before and after the start call)."""
        if started_after < started_before:
            raise ValueError(f"{name}: start call ended at {started_after} s, before it began at "
                             f"{started_before} s")
        return DeviceClock(name, (started_before + started_after) / 2, (started_after - started_before) / 2)
