"""A rest [OCV]: open circuit for its duration, or until the voltage settles."""

from __future__ import annotations

from operando.protocol.resolution.draft import Draft, Place
from operando.protocol.resolution.set_points import recording
from operando.protocol.schema.steps import RestStep
from operando.techniques import Limit, OpenCircuit


def rest(draft: Draft, step: RestStep, place: Place) -> None:
    stops: tuple[Limit, ...] = ()
    basis = "the rest's duration"
    if step.until and step.until.voltage_rate:
        stops = (Limit("abs_dE_dt", "<", step.until.voltage_rate),)
        basis = "the rest's duration (at most; ends earlier once |dE/dt| is small)"
    duration = draft.set_points.time_limit(step.duration, place.field("duration"))
    technique = OpenCircuit(duration=duration, recording=recording(step.record))
    draft.emit(place, technique, name=step.name or "rest", label="OCV", estimate=duration, basis=basis, stops=stops)
