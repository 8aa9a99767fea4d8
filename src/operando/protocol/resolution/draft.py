"""The plan as it is drafted: device steps in order, each with its cycle, group, predicted state of charge and
where in the protocol it comes from. Every step handler adds its steps through :meth:`Draft.emit`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from operando.cells import Cell
from operando.plan import PlannedStep, SafetyLimits
from operando.protocol.estimates.durations import StateOfCharge
from operando.protocol.resolution.problems import Problems
from operando.protocol.resolution.set_points import SetPoints
from operando.protocol.schema.errors import join_path
from operando.techniques import Limit, Technique

# Loops expand statically; beyond this many device steps a protocol is surely a typo (repeat = 10000 nested).
MAX_PLANNED_STEPS = 20000


@dataclass(frozen=True)
class Place:
    """Where a step is written: its field path ("steps[2]"), the loop passes around it (outermost first) and
    the factor their ``current_scale`` puts on its currents."""

    path: str
    scale: float = 1.0
    loops: tuple[dict[str, Any], ...] = ()

    def field(self, name: str) -> str:
        """The path of one of the step's fields ("steps[2]" -> "steps[2].until.voltage")."""
        return join_path(self.path, name)

    def inner(self, position: int, level: dict[str, Any], scale: float) -> Place:
        """The place of a loop's ``position``-th step in the pass ``level``."""
        return Place(f"{self.path}.steps[{position}]", scale, (*self.loops, level))


class Draft:
    """The device steps resolved so far, with what resolving them needs: the cell, its set points within the
    safety limits, the predicted state of charge, the cycle count and the problems found."""

    def __init__(self, cell: Cell, safety: SafetyLimits, problems: Problems, charge: StateOfCharge) -> None:
        self.cell = cell
        self.safety = safety
        self.problem = problems
        self.set_points = SetPoints(cell, safety, problems)
        self.charge = charge
        self.steps: list[PlannedStep] = []
        self.cycle = 0
        self.groups = 0

    def new_group(self, source: str) -> str:
        """A name for steps the engine ends together (a CC-CV's phases, a GITT train)."""
        self.groups += 1
        return f"{source}#{self.groups}"

    def emit(
        self,
        place: Place,
        technique: Technique,
        *,
        name: str,
        label: str,
        estimate: float,
        basis: str,
        source: str | None = None,
        stops: tuple[Limit, ...] = (),
        relative_current_stop: float | None = None,
        group: str | None = None,
        notes: dict[str, Any] | None = None,
    ) -> None:
        """Add one device step; ``source`` defaults to the place's path, ``estimate`` is in s, ``basis`` says
        what it rests on. Past MAX_PLANNED_STEPS the protocol is refused at once."""
        source = place.path if source is None else source
        if len(self.steps) >= MAX_PLANNED_STEPS:
            self.problem(
                source,
                f"the protocol expands to more than {MAX_PLANNED_STEPS} device steps: "
                "fewer loop repeats or longer GITT pulses",
            )
            self.problem.raise_any()
        notes = dict(notes or {})
        notes["estimate"] = basis
        if self.cell.rated_capacity is not None:
            # The estimated state of charge at the step's start and end (0..1 of the rated capacity).
            notes["soc"] = self.charge.record()
        if place.loops:
            notes["loop"] = [dict(level) for level in place.loops]
        if place.scale != 1.0:
            notes["current_scale"] = place.scale
        self.steps.append(
            PlannedStep(
                index=len(self.steps),
                name=name,
                label=label,
                technique=technique,
                stops=stops,
                relative_current_stop=relative_current_stop,
                cycle=self.cycle,
                group=group,
                source=source,
                estimated_duration=estimate,
                notes=notes,
            )
        )
