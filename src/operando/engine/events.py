"""What an experiment reports as it runs: typed, immutable events that sinks (file, telemetry, GUI) consume.

Every event carries ``t``, seconds on the experiment timeline. Point and impedance batches go to their own
tables in the file; every other event becomes one row of /entry/events (``kind`` plus a JSON ``payload``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar

import numpy as np


class ExperimentState(StrEnum):
    """Where an experiment is in its life; the last three are final and are the file's ``status``."""

    IDLE = "idle"
    RUNNING = "running"  # pause and resume (running <-> paused) come with a later issue
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
class PointsRecorded(Event):
    """A batch of electrochemical points, all from one step."""

    points: PointBatch
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
    kind: ClassVar[str] = "step_started"


@dataclass(frozen=True)
class StepEnded(Event):
    """A step ended. ``reason``: "limit" (``limit`` says which, ``action`` what followed), "duration" (ran
    its time or the instrument ended it), "stopped" (the run aborted or failed in it: see ``message``)."""

    step: int
    name: str
    reason: str
    limit: str | None = None
    action: str = "next"
    points: int = 0
    charge: float = 0.0  # C passed during the step
    message: str = ""  # for "stopped": why the run stopped
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
