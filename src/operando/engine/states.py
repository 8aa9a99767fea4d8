"""The run's states and the one table that moves between them, after Bluesky's run engine.

A request (start, pause, resume, abort, acquire, and a suspender's suspend and lift) is answered from
:data:`REQUESTS`: allowed (and to which state), queued (kept until the run can take it up) or refused with a
message naming the state. Every move, asked for or the engine's own progress (connected, at rest, ended), goes
through :meth:`RunStates.move` and is checked against :data:`TRANSITIONS`.

Connecting, pausing, resuming and aborting are passing states: checked, never recorded. The file, telemetry
and the GUI see the recorded state (connecting is recorded as idle, pausing as running, resuming as paused,
aborting as the state it left), and a move that changes it is a :class:`StateChanged` event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from operando.engine.events import ExperimentState, StateChanged

S = ExperimentState


class Request(StrEnum):
    """What can be asked of a run; the value is the verb of a refusal ("cannot pause: ...")."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ACQUIRE = "acquire"
    SUSPEND = "suspend"  # a suspender's condition holds the run (a lost link, missing data)
    LIFT = "lift a suspension"  # the condition cleared: back to the state the suspension found


BACK = "back"  # a lift's target: the state the suspension found
QUEUED = "queued"
Target = ExperimentState | Literal["back", "queued"]

_ACTIVE = (S.RUNNING, S.PAUSING, S.PAUSED, S.RESUMING)  # a suspender may hold these
_STOPPABLE = (S.CONNECTING, *_ACTIVE, S.SUSPENDED)

# Allowed requests and where they lead (QUEUED: kept; what it waits for is in Verdict.reason); every pair
# missing here is refused. Acquire while pausing stays allowed: the record still says running.
REQUESTS: dict[tuple[ExperimentState, Request], Target] = {
    (S.IDLE, Request.START): S.CONNECTING,
    (S.RUNNING, Request.PAUSE): S.PAUSING,
    (S.PAUSED, Request.RESUME): S.RESUMING,
    (S.SUSPENDED, Request.RESUME): QUEUED,
    (S.IDLE, Request.ABORT): QUEUED,
    **{(state, Request.ABORT): S.ABORTING for state in _STOPPABLE},
    (S.RUNNING, Request.ACQUIRE): S.RUNNING,
    (S.PAUSING, Request.ACQUIRE): S.PAUSING,
    **{(state, Request.SUSPEND): S.SUSPENDED for state in _ACTIVE},
    (S.SUSPENDED, Request.LIFT): BACK,
}

_QUEUED_FOR = {
    Request.RESUME: "the suspender tries again now; the run resumes once its condition clears",
    Request.ABORT: "the run ends before anything starts, as soon as it is started",
}

# The engine's own progress, beside the requests' targets above.
_PROGRESS: frozenset[tuple[ExperimentState, ExperimentState]] = frozenset({
    (S.CONNECTING, S.RUNNING),  # connected, the record open
    (S.CONNECTING, S.IDLE), (S.ABORTING, S.IDLE),  # the connection or the record failed: nothing started
    (S.PAUSING, S.PAUSED),  # the cell rests at open circuit
    (S.RESUMING, S.RUNNING),  # the interrupted step goes on
    *((state, S.FINISHING) for state in (*_ACTIVE, S.SUSPENDED, S.ABORTING)),  # the run ends: cell made safe
    *((S.FINISHING, final) for final in (S.COMPLETED, S.ABORTED, S.FAILED)),
})

TRANSITIONS: frozenset[tuple[ExperimentState, ExperimentState]] = frozenset(
    _PROGRESS
    | {(state, to) for (state, _), to in REQUESTS.items() if isinstance(to, ExperimentState) and to is not state}
    | {(S.SUSPENDED, back) for back in _ACTIVE})

# How a passing state is recorded (aborting: as the state it left).
RECORDED_AS = {S.CONNECTING: S.IDLE, S.PAUSING: S.RUNNING, S.RESUMING: S.PAUSED}


@dataclass(frozen=True)
class Verdict:
    """The answer to a request: ``outcome``; ``to`` the state it leads to (allowed); ``reason`` what a queued
    request waits for, or why it is refused."""

    outcome: Literal["allowed", "queued", "refused"]
    to: ExperimentState | None = None
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.outcome == "refused"


def verdict(state: ExperimentState, request: Request) -> Verdict:
    """The table's answer to ``request`` in ``state`` (a lift's target left as :data:`BACK`, to=None)."""
    target = REQUESTS.get((state, request))
    if target is None:
        suffix = {Request.RESUME: ", not paused", Request.START: "; make a new one"}.get(request, "")
        return Verdict("refused", reason=f"cannot {request.value}: the experiment is {state.value}{suffix}")
    if target == QUEUED:
        return Verdict("queued", reason=_QUEUED_FOR[request])
    return Verdict("allowed", target if isinstance(target, ExperimentState) else None)


class InvalidTransition(RuntimeError):
    """The engine tried a move the table does not have: a bug, never a researcher's mistake."""


class RunStates:
    """The state of one run: answers requests from the table, makes every move, and says which moves change
    the recorded state (the :class:`StateChanged` to publish)."""

    def __init__(self) -> None:
        self.state = S.IDLE
        self.recorded = S.IDLE  # what the file, telemetry and the GUI see
        self._found: ExperimentState | None = None  # the state a suspension found, to go back to
        self.why: dict[ExperimentState, tuple[str, str]] = {}  # (reason, who asked) of the last move to each
        self._changed = asyncio.Event()  # set and replaced at every move

    @property
    def underlying(self) -> ExperimentState:
        """The state, or while suspended the state the suspension found (a pause asked for is still asked)."""
        return self._found if self.state is S.SUSPENDED and self._found is not None else self.state

    def ask(self, request: Request) -> Verdict:
        """The table's answer in the present state; a lift's target is the state the suspension found."""
        answer = verdict(self.state, request)
        if request is Request.LIFT and answer.outcome == "allowed":
            return Verdict("allowed", self._found)
        return answer

    def move(self, new: ExperimentState, reason: str, t: float, by: str = "") -> StateChanged | None:
        """Go to ``new`` (asked for by ``by``); returns the event when the recorded state changes. An abort
        outranks the engine's own progress: while aborting, a move the table lacks is not made (None)."""
        old = self.state
        if (old, new) not in TRANSITIONS:
            if old is S.ABORTING and new is not S.FINISHING:
                return None
            raise InvalidTransition(f"no move from {old.value} to {new.value} ({reason})")
        if new is S.SUSPENDED:
            self._found = old
        self.state = new
        if not (old is S.SUSPENDED and new in _ACTIVE):  # a lift goes back: the why of that state stands
            self.why[new] = (reason, by)
        self._changed.set()
        self._changed = asyncio.Event()
        if new is S.ABORTING:
            return None  # recorded as the state it left
        recorded = RECORDED_AS.get(new, new)
        if recorded is self.recorded:
            return None
        change = StateChanged(t, self.recorded, recorded, reason)
        self.recorded = recorded
        return change

    async def wait_for(self, *states: ExperimentState) -> ExperimentState:
        """Wait until the underlying state is one of ``states``; returns it."""
        while self.underlying not in states:
            await self._changed.wait()
        return self.underlying
