"""The engine: runs a plan on the instruments, publishes typed events, records everything to one file."""

from operando.engine.bus import EventBus, Subscription
from operando.engine.events import (
    AcquisitionSkipped,
    DriftMeasured,
    Event,
    ExperimentState,
    Fault,
    FrameAcquired,
    ImpedanceBatch,
    ImpedanceRecorded,
    LinkRestored,
    Note,
    PointBatch,
    PointsRecorded,
    RegionLost,
    RegionSuspended,
    Resumed,
    SafetyTripped,
    StateChanged,
    StepEnded,
    StepStarted,
    TriggerCoalesced,
)
from operando.engine.experiment import AbortRequested, Experiment, ExperimentResult
from operando.engine.resume import CannotResume, ResumeState, read_resume_state

__all__ = [
    "AbortRequested", "AcquisitionSkipped", "CannotResume", "DriftMeasured", "Event", "EventBus",
    "Experiment",
    "ExperimentResult", "ExperimentState", "Fault", "FrameAcquired", "ImpedanceBatch", "ImpedanceRecorded",
    "LinkRestored", "Note", "PointBatch", "PointsRecorded", "RegionLost", "RegionSuspended", "ResumeState", "Resumed",
    "SafetyTripped", "StateChanged", "StepEnded", "StepStarted", "Subscription", "TriggerCoalesced",
    "read_resume_state",
]
