"""The event bus: order, back-pressure for sinks that must not lose anything, dropping for live views."""

import asyncio

import pytest

from operando.clock import run_simulated
from operando.engine import EventBus, Note


def test_every_subscriber_gets_every_event_in_order_until_close() -> None:
    async def main() -> tuple[list[str], list[str]]:
        bus = EventBus()
        first, second = bus.subscribe("file"), bus.subscribe("telemetry")
        for k in range(5):
            await bus.publish(Note(float(k), f"note {k}"))
        await bus.close()
        return [e.text async for e in first], [e.text async for e in second]  # type: ignore[attr-defined]

    first, second = run_simulated(main())
    assert first == second == [f"note {k}" for k in range(5)]


def test_a_full_waiting_subscription_holds_the_publisher_back() -> None:
    async def main() -> tuple[bool, int]:
        bus = EventBus()
        slow = bus.subscribe("file", maxsize=2)
        await bus.publish(Note(0.0, "a"))
        await bus.publish(Note(1.0, "b"))
        blocked = asyncio.create_task(bus.publish(Note(2.0, "c")))
        await asyncio.sleep(10.0)
        waited = not blocked.done()
        await slow.get()
        await blocked
        return waited, len(slow.drain_nowait())

    assert run_simulated(main()) == (True, 2)


def test_a_dropping_subscription_keeps_the_newest_and_counts_what_it_dropped() -> None:
    async def main() -> tuple[list[str], int]:
        bus = EventBus()
        live = bus.subscribe("gui", maxsize=3, overflow="drop_oldest")
        for k in range(10):
            await bus.publish(Note(float(k), str(k)))
        return [e.text for e in live.drain_nowait()], live.dropped  # type: ignore[attr-defined]

    assert run_simulated(main()) == (["7", "8", "9"], 7)


def test_a_closed_bus_refuses_events_and_subscribers() -> None:
    async def main() -> None:
        bus = EventBus()
        await bus.close()
        with pytest.raises(RuntimeError, match="closed"):
            await bus.publish(Note(0.0, "late"))
        with pytest.raises(RuntimeError, match="closed"):
            bus.subscribe("late")

    run_simulated(main())
