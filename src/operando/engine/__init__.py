"""The engine: runs a plan on the instruments, publishes typed events, records everything to one file."""

from operando.engine.bus import EventBus, Subscription
from operando.engine.events import (
    Event,
    ExperimentState,
    Fault,
    ImpedanceBatch,
    ImpedanceRecorded,
    Note,
    PointBatch,
    PointsRecorded,
    SafetyTripped,
    StateChanged,
    StepEnded,
    StepStarted,
)
from operando.engine.experiment import AbortRequested, Experiment, ExperimentResult

__all__ = [
    "AbortRequested", "Event", "EventBus", "Experiment", "ExperimentResult", "ExperimentState", "Fault",
    "ImpedanceBatch", "ImpedanceRecorded", "Note", "PointBatch", "PointsRecorded", "SafetyTripped",
    "StateChanged", "StepEnded", "StepStarted", "Subscription",
]
