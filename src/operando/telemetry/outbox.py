"""Messages waiting for the broker, handed from the engine's loop to the MQTT thread without ever blocking.

Four lanes: replies to commands (never dropped), events and frames (bounded, oldest dropped), the live
stream (bounded, oldest dropped) and retained topics (only the latest payload per topic is kept, and all of
them are sent again after a reconnect so late joiners and a restarted broker see the present state).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Lane = Literal["reply", "event", "live", "retained"]


@dataclass(frozen=True)
class Message:
    """One MQTT publication in one lane; a callable payload is encoded on the MQTT thread (e.g. a PNG)."""

    topic: str
    payload: bytes | Callable[[], bytes]
    lane: Lane
    qos: int = 0

    @property
    def retain(self) -> bool:
        return self.lane == "retained"

    def body(self) -> bytes:
        return self.payload() if callable(self.payload) else self.payload


class Outbox:
    """Thread-safe lanes of pending messages; ``wakeup`` is called (from any thread) when one arrives."""

    def __init__(self, live_size: int = 1000, event_size: int = 5000) -> None:
        if live_size < 1 or event_size < 1:
            raise ValueError(f"queue sizes must be at least 1, got live {live_size}, events {event_size}")
        self._lock = threading.Lock()
        self._replies: deque[Message] = deque()
        self._events: deque[Message] = deque(maxlen=event_size)
        self._live: deque[Message] = deque(maxlen=live_size)
        self._retained: dict[str, Message] = {}
        self._dirty: dict[str, None] = {}  # retained topics to (re)send, in order of first change
        self.dropped = 0
        self.wakeup: Callable[[], None] | None = None

    def _added(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None:
            wakeup()

    def put(self, message: Message) -> None:
        """Queue ``message`` in its lane; never blocks, never fails."""
        with self._lock:
            if message.lane == "retained":
                self._retained[message.topic] = message
                self._dirty[message.topic] = None
            elif message.lane == "reply":
                self._replies.append(message)
            else:
                lane = self._events if message.lane == "event" else self._live
                if len(lane) == lane.maxlen:
                    self.dropped += 1
                lane.append(message)
        self._added()

    def resend_retained(self) -> None:
        """After a reconnect: every retained topic goes out again."""
        with self._lock:
            self._dirty = dict.fromkeys(self._retained)
        self._added()

    def take(self, limit: int = 100) -> list[Message]:
        """Up to ``limit`` messages: replies first, then events, the live stream, and retained state last
        (so the state a subscriber sees is never older than the events before it)."""
        taken: list[Message] = []
        with self._lock:
            for lane in (self._replies, self._events, self._live):
                while lane and len(taken) < limit:
                    taken.append(lane.popleft())
            while self._dirty and len(taken) < limit:
                topic = next(iter(self._dirty))
                del self._dirty[topic]
                taken.append(self._retained[topic])
        return taken

    def put_back(self, messages: list[Message]) -> None:
        """Messages the broker did not take: replies and events go back in front, the rest is let go (the
        live stream moves on; retained topics are resent after the reconnect anyway)."""
        with self._lock:
            for message in reversed(messages):
                if message.lane == "reply":
                    self._replies.appendleft(message)
                elif message.lane == "event":
                    if len(self._events) < (self._events.maxlen or 0):
                        self._events.appendleft(message)
                    else:
                        self.dropped += 1

    def pending(self) -> int:
        with self._lock:
            return len(self._replies) + len(self._events) + len(self._live) + len(self._dirty)
