"""Abort points: an abort placed at a seeded random moment inside one phase of a simulated imaged run.

The probe watches the fakes' vendor calls (fake SmartSEM, fake EClib) and the engine's events, counts the
moments of the chosen phase and fires at the k-th one (k drawn from the seed). It fires from inside the fake's
call: either while the call runs (the probe then holds the call until the engine has taken the abort request,
so the abort lands inside the phase) or just after the call returned (the abort then races the call's result
back to the engine, where a swallowed cancellation used to hang the run).

Used in the test process (tests/engine/test_abort_everywhere.py) and in `operando simulate` subprocesses
(tests/engine/abort_subject.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROTOCOL = Path(__file__).with_name("abort_everywhere.toml")
PHASES = ("connecting", "mid-frame", "stage-move", "tracking", "step-change", "final-frames")
# k is drawn from 1..MOST[phase]. A full run of the protocol has 83 connecting moments (vendor calls before
# the run state), 43 mid-frame, 54 stage-move, 18 tracking, 7 step-change and 7 final-frames ones; a run that
# has fewer than k fails the test ("never reached"), it does not pass quietly.
MOST = {"connecting": 60, "mid-frame": 40, "stage-move": 40, "tracking": 16, "step-change": 6,
        "final-frames": 6}
SCIENCE_RATE = 2  # the protocol's frames: 200 ns dwell = SmartSEM scan rate 2
TRACKING_RATE = 1  # its tracking frames: 100 ns = rate 1
SCAN_CALLS = {("Execute", "CMD_FREEZE_ALL"), ("Get", "DP_FROZEN"), ("Grab", None)}
STEP_CALLS = ("BL_LoadTechnique", "BL_StartChannel", "BL_StopChannel")
HOLD = 3.0  # s of wall time a call is held at most until the engine has taken the abort


class AbortPoint:
    """Fires ``fire()`` once, at the k-th moment of ``phase``; the caller calls :meth:`took` from the
    experiment's request_abort. Fired after a call returned, the next call (on an instrument thread) waits
    until the abort is taken, so a slower route (MQTT, a signal) still lands in the phase."""

    def __init__(self, phase: str, seed: int, fire: Callable[[], None]) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
        rng = random.Random(f"{phase}/{seed}")
        self.phase = phase
        self.k = rng.randint(1, MOST[phase])
        self.after_call = rng.random() < 0.5
        self.fire_action = fire
        self.taken = threading.Event()
        self.fired_at: float | None = None  # time.monotonic() of the firing
        self.fired_in = ""  # the call it fired in
        self.seen = 0
        self.running = False  # the run state was entered
        self.last_step_ended = False
        self.moving = False  # a stage move was commanded and the stage not yet reported idle
        self.sem: Any = None
        self.blanking: list[bool] = []  # every DP_BEAM_BLANKING the fake SmartSEM accepted, in order
        self._lock = threading.Lock()
        self._steps = 0
        self.loop_thread: int | None = None
        self.hold_next = False
        self.running_when_taken: bool | None = None

    def took(self) -> None:
        """The engine took the abort request (call from the experiment's request_abort)."""
        if not self.taken.is_set():
            self.running_when_taken = self.running
            self.taken.set()

    def describe(self) -> str:
        return f"{self.phase} #{self.k} ({'after' if self.after_call else 'during'} the call)"

    # watching

    def watch_experiment(self, experiment: Any) -> None:
        """See every event as the engine publishes it (state, steps)."""
        self._steps = len(experiment.plan.steps)
        self.loop_thread = threading.get_ident()  # calls made on the loop itself (conversions) are no moment
        publish = experiment._publish

        async def observed(event: Any) -> None:
            kind = getattr(event, "kind", "")
            if kind == "state_changed" and getattr(event.new, "value", event.new) == "running":
                self.running = True
            if kind == "step_ended" and event.step == self._steps - 1 and event.reason != "stopped":
                self.last_step_ended = True
            await publish(event)

        experiment._publish = observed

    def watch_sem(self, sem: Any) -> None:
        self.sem = sem
        for name in ("Get", "Set", "Execute", "GetLimits", "GetStagePosition", "MoveStage", "Grab",
                     "Initialise", "InitialiseRemoting"):
            self._wrap(sem, name, self._sem_moment)
        original_set = sem.Set

        def logged_set(name: str, value: Any) -> int:
            code = original_set(name, value)
            if name == "DP_BEAM_BLANKING" and code == 0:
                self.blanking.append(bool(float(value)))
            return code

        sem.Set = logged_set

    def watch_eclib(self, eclib: Any) -> None:
        for name in [n for n in dir(type(eclib)) if n.startswith("BL_")]:
            self._wrap(eclib, name, self._eclib_moment)

    def _wrap(self, fake: Any, name: str, moment: Callable[[str, tuple[Any, ...]], bool]) -> None:
        original = getattr(fake, name)

        def call(*args: Any) -> Any:
            if self.hold_next and threading.get_ident() != self.loop_thread:
                self.hold_next = False  # fired after the last call: this one waits until the abort is taken
                self.taken.wait(HOLD)
            hit = self._count(moment(name, args), name)
            if hit and not self.after_call:
                self._fire(name)
                self.taken.wait(HOLD)  # the call is still running while the engine takes the abort
            result = original(*args)
            if name == "Get" and args and args[0] == "DP_STAGE_IS" and result[1] == "Idle":
                self.moving = False
            elif name == "MoveStage":
                self.moving = True
            if hit and self.after_call:
                self._fire(name)
                self.hold_next = True
            return result

        setattr(fake, name, call)

    def _count(self, inside: bool, name: str) -> bool:
        with self._lock:
            if not inside or self.fired_at is not None or threading.get_ident() == self.loop_thread:
                return False
            self.seen += 1
            return self.seen == self.k

    def _sem_moment(self, name: str, args: tuple[Any, ...]) -> bool:
        phase = self.phase
        if phase == "connecting":
            return not self.running
        if not self.running:
            return False
        scanning = (name, args[0] if name in ("Execute", "Get") and args else None) in SCAN_CALLS
        rate = getattr(self.sem, "_scan_rate", None)
        if phase == "mid-frame":
            return scanning and rate == SCIENCE_RATE
        if phase == "tracking":
            return scanning and rate == TRACKING_RATE
        if phase == "stage-move":
            return name == "MoveStage" or (self.moving and name == "Get" and args[:1] == ("DP_STAGE_IS",))
        if phase == "final-frames":
            return self.last_step_ended and scanning and rate == SCIENCE_RATE
        return False

    def _eclib_moment(self, name: str, args: tuple[Any, ...]) -> bool:
        if self.phase == "connecting":
            return not self.running
        return self.phase == "step-change" and self.running and name in STEP_CALLS

    def _fire(self, name: str) -> None:
        self.fired_at = time.monotonic()
        self.fired_in = name
        self.fire_action()

    # after the run

    def beam_left_blanked(self) -> bool:
        """The fake's beam is blanked now, or this run never touched the blanking (a connect cut short
        before the microscope)."""
        return self.sem is None or not self.blanking or bool(self.sem._blanking)
