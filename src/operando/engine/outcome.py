"""How a run ended: its result, and the status a way out of the run's tasks gives it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from operando.engine.events import ExperimentState
from operando.errors import InstrumentError, OperandoError, SafetyTrip
from operando.storage import StorageError


class AbortRequested(OperandoError):
    """The researcher (or a signal) asked the run to stop: status aborted."""


@dataclass(frozen=True)
class ExperimentResult:
    """How a run ended. ``charge`` C is the net charge at the end (Q of the last point), ``charged`` and
    ``discharged`` C what passed in each direction; ``duration`` s on the timeline."""

    status: ExperimentState
    path: Path
    points: int
    charge: float
    duration: float
    reason: str
    error: BaseException | None = None
    charged: float = 0.0
    discharged: float = 0.0


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def classify(raised: BaseException) -> tuple[ExperimentState, str, BaseException]:
    """Status, reason and cause of a run whose tasks raised ``raised`` (a group: its most telling leaf): a
    safety trip or an abort ends it aborted, an instrument or a file failure failed, anything else an
    internal error."""
    leaves = _leaves(raised)
    for kind, status in ((SafetyTrip, ExperimentState.ABORTED), (AbortRequested, ExperimentState.ABORTED),
                         (InstrumentError, ExperimentState.FAILED), (StorageError, ExperimentState.FAILED)):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return status, str(leaf), leaf
    leaf = leaves[0]
    return ExperimentState.FAILED, f"internal error: {type(leaf).__name__}: {leaf}", leaf
