"""Failures the fake SmartSEM can be told to show: those production code has met (zeiss-smartsem.md 1.5, 4).

Each is armed by a test and consumed by the seam: a grab that fails (1016), a blank frame (lower half
flat, the "blank image that happens from time to time"), a stale frame (the previous grab again, pixel for
pixel), a stage that never reports idle until CMD_STAGE_ABORT, a remoting server that is gone (every call
answers 2030; after it returns, calls answer 1019 until the client initialises again), and slow calls.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from . import catalogue


@dataclass
class SlowCall:
    """One call the fault made slow: method name and the delay (s) it was given."""

    method: str
    delay: float
    real: bool


@dataclass
class Faults:
    """Armed faults; counters are decremented as the seam consumes them."""

    failing_grabs: int = 0
    blank_grabs: int = 0
    stale_grabs: int = 0
    stage_sticks: bool = False
    server_gone: bool = False
    server_code: int = catalogue.REMOTING_EMSERVER_NOT_RUNNING
    slow_delay: float = 0.0
    slow_real: bool = False
    slow_methods: frozenset[str] | None = None
    slow_log: list[SlowCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_grabs(self, count: int = 1) -> None:
        """The next ``count`` grabs return GRAB_FAIL (1016) and write nothing."""
        self.failing_grabs += count

    def blank_frames(self, count: int = 1) -> None:
        """The next ``count`` grabs write a frame whose lower half is flat (incomplete transfer)."""
        self.blank_grabs += count

    def stale_frames(self, count: int = 1) -> None:
        """The next ``count`` grabs write the previous grab's pixels again (a frozen, stale frame)."""
        self.stale_grabs += count

    def stick_stage(self) -> None:
        """The next stage move never ends: DP_STAGE_IS stays 'Busy' until CMD_STAGE_ABORT."""
        self.stage_sticks = True

    def server_exits(self, code: int = catalogue.REMOTING_EMSERVER_NOT_RUNNING) -> None:
        """The EM server goes away: every call answers ``code`` (InitialiseRemoting answers 2028)."""
        self.server_gone, self.server_code = True, code

    def server_returns(self) -> None:
        """The EM server is back; the client must initialise again (calls answer 1019 until then)."""
        self.server_gone = False

    def slow_calls(self, delay: float, *, real: bool = False, methods: set[str] | None = None) -> None:
        """Calls (to ``methods``, or all) take ``delay`` seconds: really blocking the calling thread when
        ``real``, else only recorded in ``slow_log`` (simulated time never moves inside a vendor call)."""
        self.slow_delay, self.slow_real = delay, real
        self.slow_methods = frozenset(methods) if methods else None

    def take(self, name: str) -> bool:
        """Consume one armed count of fault ``name`` ('failing_grabs', 'blank_grabs', 'stale_grabs')."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def delay(self, method: str) -> None:
        """Apply the slow-call fault to one call of ``method``."""
        if self.slow_delay <= 0 or (self.slow_methods is not None and method not in self.slow_methods):
            return
        self.slow_log.append(SlowCall(method, self.slow_delay, self.slow_real))
        if self.slow_real:
            time.sleep(self.slow_delay)
