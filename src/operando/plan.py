"""A resolved protocol: what the engine runs, step by step, in SI units. Built by :func:`operando.protocol.resolve`.

The protocol (TOML or Python) is what a researcher writes; the plan is what it means once C-rates, reference
electrodes and loops are resolved: a flat sequence of device techniques, each with the stop conditions the
engine checks in software on every point (as well as those the instrument applies itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Plan:
    """The whole resolved protocol: cell, safety, steps, plus the source text kept for the file."""

    name: str
    cell: CellSummary
    safety: SafetyLimits
    steps: tuple[PlannedStep, ...]
    source_text: str = ""
    source_path: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # later sections (imaging plan, GITT analysis inputs)

    @property
    def estimated_duration(self) -> float:
        return sum(step.estimated_duration for step in self.steps)
