"""A resolved protocol: what the engine runs, step by step, in SI units. Built by :func:`operando.protocol.resolve`.

The protocol (TOML or Python) is what a researcher writes; the plan is what it means once C-rates, reference
electrodes and loops are resolved: a flat sequence of device techniques, each with the stop conditions the
engine checks in software on every point (as well as those the instrument applies itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from operando.constants import ELEMENTARY_CHARGE
from operando.techniques import Limit, Technique


@dataclass(frozen=True)
class CellSummary:
    """The cell as the file records it. Capacities in C, masses in kg, potentials in V."""

    name: str
    material: str
    formula: str | None
    active_mass: float | None
    specific_capacity: float | None  # C/kg, theoretical (or practical if given)
    capacity: float | None  # C, what 1C charges in one hour
    electrons: int
    working_ion: str  # "Li" or "Na"
    counter_electrode: str  # e.g. "Li-In", "Li", "Na"
    counter_potential: float  # V of the counter/reference electrode vs the working-ion metal (Li-In: 0.62)
    initial_soc: float = 0.0  # state of charge at start, 0..1 of ``capacity``

    def to_measured(self, potential_vs_metal: float) -> float:
        """A potential vs Li+/Li (or Na+/Na) as the potentiostat measures it (vs the counter electrode)."""
        return potential_vs_metal - self.counter_potential

    def to_metal(self, measured: float) -> float:
        """A measured potential (vs the counter electrode) expressed vs Li+/Li (or Na+/Na)."""
        return measured + self.counter_potential


@dataclass(frozen=True)
class SafetyLimits:
    """Bounds that stop the run (channel to its safe state, status aborted) whatever the protocol says."""

    E_min: float  # V, as measured
    E_max: float  # V, as measured
    I_max: float  # A, magnitude
    max_duration: float  # s, whole experiment
    safe_state: str = "open_circuit"  # what "safe" means for the cell: channel stopped at open circuit
    link_outage_max: float = 3600.0  # s the run stays suspended (link lost, no data) before it fails
    missing_points_max: int = 5  # recording intervals without a new point before the data watchdog trips


@dataclass(frozen=True)
class PlannedStep:
    """One technique run on the potentiostat, with everything the engine needs to run and record it."""

    index: int  # position in the plan, 0-based; recorded as ``step``
    name: str  # the researcher's step name, or a generated one ("charge", "hold", "pulse 3")
    label: str  # EC-Lab-like technique label: "OCV", "CP", "CA", "CCCV", "GCPL", "CV", "PEIS", "GITT"
    technique: Technique
    stops: tuple[Limit, ...] = ()  # checked by the engine on every point (besides technique.limits)
    relative_current_stop: float | None = None  # stop when |I| < this x |I| of the step's first point
    cycle: int = 0  # cycle number as EC-Lab counts it (a loop pass, or a charge/discharge pair)
    group: str | None = None  # steps sharing a group end together on an "end_group" limit
    source: str = ""  # field path in the protocol, e.g. "steps[2]"
    estimated_duration: float = 0.0  # s
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. GITT pulse number, loop pass, scale factor


TriggerKind = Literal["every", "soc_step", "charge_step", "voltage_crossing", "step_start", "step_end", "manual"]


@dataclass(frozen=True)
class Trigger:
    """When a region is imaged. Only the fields of its ``kind`` are set; all SI.

    every: ``interval`` s; soc_step: every ``soc_step`` (0..1) of state-of-charge change; charge_step: every
    ``charge_step`` C passed (either direction); voltage_crossing: E_we (as measured) crosses ``voltage`` V in
    ``direction``; step_start / step_end: a planned step whose name or technique label is ``step`` begins or
    ends (``step`` None = every step); manual: only on request (GUI, MQTT, script).
    """

    kind: TriggerKind
    interval: float | None = None
    soc_step: float | None = None
    charge_step: float | None = None
    voltage: float | None = None
    direction: Literal["rising", "falling", "either"] = "either"
    step: str | None = None

    def describe(self) -> str:
        match self.kind:
            case "every":
                return f"every {self.interval:g} s"
            case "soc_step":
                return f"every {100 * (self.soc_step or 0):g} % SOC"
            case "charge_step":
                return f"every {self.charge_step:g} C"
            case "voltage_crossing":
                return f"E_we crossing {self.voltage:g} V ({self.direction})"
            case "step_start" | "step_end":
                return f"{self.kind.replace('_', ' ')} of {self.step or 'every step'}"
        return "on request"


@dataclass(frozen=True)
class StagePosition:
    """Stage coordinates as the microscope reports them: x, y, z m; tilt, rotation rad."""

    x: float
    y: float
    z: float
    tilt: float
    rotation: float


@dataclass(frozen=True)
class RegionOfInterest:
    """One imaged region: where, how, when, and how much electron dose it may take."""

    name: str
    stage_position: StagePosition | None  # None: image wherever the stage is when the run starts
    pixel_size: float  # m
    frame_size: tuple[int, int]  # (width, height) px
    dwell: float  # s per pixel
    detectors: tuple[str, ...]  # Zeiss names: "SE2", "InLens", "ESB"
    accelerating_voltage: float  # V (1.5-2 kV for battery cross-sections)
    probe_current: float  # A (at most 2 nA operando)
    triggers: tuple[Trigger, ...]
    tilt_correction: float | None = None  # rad (-36 deg at 54 deg stage tilt); None = leave as set
    scan_rotation: float = 0.0  # rad
    min_interval: float = 0.0  # s between two frames of this region, whatever fires
    dose_budget: float | None = None  # electrons per m^2 over the whole run (from e-/nm^2 in the protocol)
    on_budget_exceeded: Literal["skip", "stop_region"] = "skip"
    settle_time: float = 0.5  # s after unblanking/moving before the scan starts

    @property
    def frame_dose(self) -> float:
        """Electrons per m^2 one frame deposits: probe current x dwell / (e x pixel area); detectors share a scan."""
        return self.probe_current * self.dwell / (ELEMENTARY_CHARGE * self.pixel_size**2)

    @property
    def field_of_view(self) -> tuple[float, float]:
        """(width, height) m."""
        return (self.frame_size[0] * self.pixel_size, self.frame_size[1] * self.pixel_size)


@dataclass(frozen=True)
class ImagingPlan:
    """The microscope's part of the protocol: the regions and their triggers."""

    regions: tuple[RegionOfInterest, ...]
    blank_between_frames: bool = True  # the beam is blanked whenever no frame is taken (always, operando)


@dataclass(frozen=True)
class Plan:
    """The whole resolved protocol: cell, safety, steps, plus the source text kept for the file."""

    name: str
    cell: CellSummary
    safety: SafetyLimits
    steps: tuple[PlannedStep, ...]
    source_text: str = ""
    source_path: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # later sections (GITT analysis inputs, ...)
    imaging: ImagingPlan | None = None  # None: electrochemistry only

    @property
    def estimated_duration(self) -> float:
        return sum(step.estimated_duration for step in self.steps)
