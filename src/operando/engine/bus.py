"""Publish events to sinks: each subscriber has its own bounded queue and reads at its own pace.

A sink that must not lose anything (the file) makes the publisher wait when its queue is full; a sink that
only shows the present (telemetry, a GUI) can choose to drop its oldest events instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from operando.engine.events import Event

_CLOSED = object()


class Subscription:
    """One sink's view of the bus: iterate it (``async for event in subscription``) until the bus closes."""

    def __init__(self, name: str, maxsize: int, overflow: Literal["wait", "drop_oldest"]) -> None:
        if maxsize < 1:
            raise ValueError(f"subscription {name!r}: maxsize must be at least 1, got {maxsize}")
        self.name = name
        self.overflow = overflow
        self.dropped = 0
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._closed = False

    async def _put(self, item: object) -> None:
        if self.overflow == "drop_oldest" and item is not _CLOSED:
            while self._queue.full():
                self._queue.get_nowait()
                self.dropped += 1
            self._queue.put_nowait(item)
        else:
            await self._queue.put(item)

    def drain_nowait(self) -> list[Event]:
        """Every event already queued, without waiting (lets a sink write a burst in one go)."""
        events: list[Event] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _CLOSED:
                self._closed = True
                break
            events.append(item)  # type: ignore[arg-type]
        return events

    @property
    def closed(self) -> bool:
        return self._closed

    async def get(self) -> Event | None:
        """The next event, or None once the bus is closed and everything before was read."""
        if self._closed:
            return None
        item = await self._queue.get()
        if item is _CLOSED:
            self._closed = True
            return None
        return item  # type: ignore[return-value]

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


class EventBus:
    """Fan-out of events to subscriptions, in publication order."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._closed = False

    def subscribe(self, name: str, *, maxsize: int = 1000,
                  overflow: Literal["wait", "drop_oldest"] = "wait") -> Subscription:
        if self._closed:
            raise RuntimeError(f"cannot subscribe {name!r}: the event bus is closed")
        subscription = Subscription(name, maxsize, overflow)
        self._subscriptions.append(subscription)
        return subscription

    async def publish(self, event: Event) -> None:
        if self._closed:
            raise RuntimeError(f"event bus closed; cannot publish {type(event).__name__}")
        for subscription in self._subscriptions:
            await subscription._put(event)

    async def close(self) -> None:
        """No more events: each subscription ends after the events already queued."""
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            await subscription._put(_CLOSED)
