"""What an experiment reports as it runs: typed, immutable events that sinks (file, telemetry, GUI) consume.

Every event carries ``t``, seconds on the experiment timeline. Point and impedance batches go to their own
tables in the file; every other event becomes one row of /entry/events (``kind`` plus a JSON ``payload``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from operando.storage.frame_record import FrameRecord

if TYPE_CHECKING:  # operando.drift costs half a second to import (scikit-image)
    from operando.drift import DriftResult


class ExperimentState(StrEnum):
    """Where an experiment is in its life; the last three are final and are the file's ``status``.

    Connecting, pausing, resuming and aborting are passing states: requests are checked against them
    (:mod:`operando.engine.states`) but they are never recorded, so files and telemetry never carry them."""

    IDLE = "idle"
    CONNECTING = "connecting"  # the instruments connect and the record opens; recorded as idle
    RUNNING = "running"
    PAUSING = "pausing"  # the step is being stopped to rest at open circuit; recorded as running
    PAUSED = "paused"  # by request: cell at open circuit (recorded), no imaging, beam blanked
    RESUMING = "resuming"  # the rest is being stopped to continue the step; recorded as paused
    SUSPENDED = "suspended"  # paused by a condition (e.g. an instrument offline); resumes when it clears
    ABORTING = "aborting"  # the run is being stopped ahead of its plan; recorded as the state it left
    FINISHING = "finishing"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (ExperimentState.COMPLETED, ExperimentState.ABORTED, ExperimentState.FAILED)


@dataclass(frozen=True, eq=False)
class PointBatch:
    """Points as recorded: equal-length arrays. t, t_device s; E_we V; I A; Q C since start; soc 0..1 (NaN
    without a capacity); cycle, step ints; technique an index into the file's technique labels."""

    t: np.ndarray
    t_device: np.ndarray
    E_we: np.ndarray
    I: np.ndarray
    Q: np.ndarray
    soc: np.ndarray
    cycle: np.ndarray
    step: np.ndarray
    technique: np.ndarray

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "t", "t_device", "E_we", "I", "Q", "soc", "cycle", "step", "technique")

    def __len__(self) -> int:
        return len(self.t)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.COLUMNS}


@dataclass(frozen=True, eq=False)
class ImpedanceBatch:
    """Impedance: ``run`` counts PEIS runs from 0; t s; frequency Hz; Z_re, Z_im ohm; E_dc V, I_dc A."""

    run: np.ndarray
    t: np.ndarray
    frequency: np.ndarray
    Z_re: np.ndarray
    Z_im: np.ndarray
    E_dc: np.ndarray
    I_dc: np.ndarray

    COLUMNS: ClassVar[tuple[str, ...]] = ("run", "t", "frequency", "Z_re", "Z_im", "E_dc", "I_dc")

    def __len__(self) -> int:
        return len(self.t)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.COLUMNS}


@dataclass(frozen=True)
class Event:
    """Base of every event: ``t`` s on the experiment timeline."""

    t: float
    kind: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        """The event's fields except ``t``, as JSON-ready values (for /entry/events)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "t"}
        return {name: value.value if isinstance(value, Enum) else value for name, value in fields.items()}


@dataclass(frozen=True)
class RigSnapshot:
    """A rig's own state (JSON values from a simulated rig's ``snapshot()``) at ``t`` s on the timeline (the
    read that brought the points), once ``points`` points of the run were recorded: saved with them so
    ``operando resume`` can put the rig back exactly."""

    t: float
    points: int
    state: Any


@dataclass(frozen=True)
class PointsRecorded(Event):
    """A batch of electrochemical points, all from one step; ``rig_state`` is the rig's state just after them
    (None for real instruments)."""

    points: PointBatch
    rig_state: RigSnapshot | None = dataclasses.field(default=None, compare=False, repr=False)
    kind: ClassVar[str] = "points"


@dataclass(frozen=True)
class ImpedanceRecorded(Event):
    """A batch of impedance points (one PEIS run may arrive in several batches)."""

    impedance: ImpedanceBatch
    kind: ClassVar[str] = "impedance"


@dataclass(frozen=True)
class StepStarted(Event):
    """A planned step's technique started; its device clock starts at ``device_offset`` s (+- uncertainty)."""

    step: int
    name: str
    label: str
    cycle: int
    source: str
    device_offset: float
    offset_uncertainty: float
    continued: bool = False  # the step goes on after a pause or an interruption, with what it had left
    elapsed_before: float = 0.0  # s the step had already run before (continued steps)
    kind: ClassVar[str] = "step_started"


@dataclass(frozen=True)
class StepEnded(Event):
    """A step ended. ``reason``: "limit" (``limit`` says which, ``action`` what followed), "duration" (ran
    its time or the instrument ended it), "stopped" (the run aborted or failed in it: see ``message``),
    "paused" (interrupted by a pause: it continues on resume; ``elapsed`` s it had run in all)."""

    step: int
    name: str
    reason: str
    limit: str | None = None
    action: str = "next"
    points: int = 0
    charge: float = 0.0  # C passed during the step
    message: str = ""  # for "stopped": why the run stopped
    elapsed: float = 0.0  # s the step ran, pauses excluded
    kind: ClassVar[str] = "step_ended"


@dataclass(frozen=True)
class SafetyTripped(Event):
    """A safety limit was crossed: ``quantity`` measured ``value`` against ``limit`` (SafetyLimits units)."""

    quantity: str
    value: float
    limit: float
    message: str
    kind: ClassVar[str] = "safety_tripped"


@dataclass(frozen=True)
class Fault(Event):
    """Something failed: an instrument (with the vendor's ``code`` and ``name``) or operando itself."""

    message: str
    source: str
    code: int | None = None
    name: str = ""
    kind: ClassVar[str] = "fault"


@dataclass(frozen=True)
class LinkRestored(Event):
    """The potentiostat's data flow again after a suspension: ``cause`` "link lost" (the link dropped, the
    channel ran on by itself) or "no data" (the watchdog); the gap ran from ``start`` s to ``t`` (``duration``
    s), ``points`` came back from the instrument's buffer, after ``attempts`` reads."""

    cause: str
    start: float
    duration: float
    points: int
    attempts: int
    kind: ClassVar[str] = "link_restored"


@dataclass(frozen=True)
class Note(Event):
    """A remark for the record: from the researcher, or from operando (e.g. a step skipped)."""

    text: str
    author: str = "operando"
    kind: ClassVar[str] = "note"


@dataclass(frozen=True)
class StateChanged(Event):
    """The experiment went from one state to another; ``reason`` says why in words."""

    old: ExperimentState
    new: ExperimentState
    reason: str = ""
    kind: ClassVar[str] = "state_changed"


@dataclass(frozen=True)
class FrameAcquired(Event):
    """A frame of one region was taken: ``record`` holds it as the file keeps it (pixels, electrochemical
    state at mid-scan, beam and stage, drift, dose: see :class:`operando.storage.FrameRecord`).

    ``trigger`` says in words what fired it, ``detectors`` name the images' planes, ``thumbnail`` uint8 (at
    most 256 px on the long side) is for live views, ``drift`` is the tracker's verdict (None without
    tracking).
    """

    record: FrameRecord = dataclasses.field(compare=False)
    trigger: str
    detectors: tuple[str, ...]
    thumbnail: np.ndarray = dataclasses.field(repr=False, compare=False)
    drift: DriftResult | None = dataclasses.field(default=None, repr=False, compare=False)
    kind: ClassVar[str] = "frame_acquired"

    @property
    def region(self) -> str:
        return self.record.region

    @property
    def index(self) -> int:
        return self.record.index

    @property
    def images(self) -> np.ndarray:
        """(detector, y, x) uint16, in the order of ``detectors``."""
        return self.record.images

    @property
    def cumulative_dose(self) -> float:
        """Electrons/m^2 of the region's frames so far, this one included."""
        return self.record.cumulative_dose


@dataclass(frozen=True)
class AcquisitionSkipped(Event):
    """A trigger fired but no frame was taken: ``reason`` says why (dose budget, paused, min_interval...)."""

    region: str
    trigger: str
    reason: str
    kind: ClassVar[str] = "acquisition_skipped"


@dataclass(frozen=True)
class TriggerCoalesced(Event):
    """A trigger fired while a frame of the region was queued or being taken: that frame serves both."""

    region: str
    trigger: str
    kind: ClassVar[str] = "trigger_coalesced"


@dataclass(frozen=True)
class DriftMeasured(Event):
    """The drift tracker's verdict on a frame: ``shift`` (dy, dx) m against the keyframe, ``correction``
    beam shift (x, y) m applied after it, ``stage_move`` if the stage moved, ``valid`` if trusted."""

    region: str
    shift: tuple[float, float]
    confidence: float
    correction: tuple[float, float]
    stage_move: bool
    valid: bool
    reason: str = ""
    kind: ClassVar[str] = "drift_measured"


@dataclass(frozen=True)
class RegionLost(Event):
    """A region is lost: no longer imaged (its dose budget is spent), or out of the drift tracker's sight
    (frames go on so the tracker can re-acquire it; a note says when it is found again)."""

    region: str
    reason: str
    kind: ClassVar[str] = "region_lost"


@dataclass(frozen=True)
class RegionSuspended(Event):
    """Imaging of a region stops for a while after repeated microscope faults; retried at ``retry_at`` s."""

    region: str
    reason: str
    retry_at: float
    kind: ClassVar[str] = "region_suspended"


@dataclass(frozen=True)
class Resumed(Event):
    """An interrupted experiment continues in the same file: the record has a gap from ``last_record`` s to
    ``t``; the current during the gap is unknown, so Q does not integrate across it."""

    last_record: float
    gap: float
    reason: str
    kind: ClassVar[str] = "resumed"
