"""Steps that set the current: constant current [CP] and galvanostatic cycling with potential limitation
[GCPL]: constant current to a voltage, then (optionally) a hold there and a rest."""

from __future__ import annotations

from operando.protocol.resolution.draft import Draft, Place
from operando.protocol.resolution.potentiostatic import hold
from operando.protocol.resolution.set_points import recording
from operando.protocol.schema.steps import CCCVStep, ConstantCurrentStep, CurrentUntil
from operando.techniques import ConstantCurrent, ConstantVoltage, Limit, OpenCircuit


def constant_current_phase(
    draft: Draft, current: float, until: CurrentUntil, place: Place, *, group: str | None
) -> tuple[float, tuple[Limit, ...], tuple[Limit, ...], float, str]:
    """Device duration, native limits, engine stops, estimated duration and its basis for a CC phase.

    In a group (CC then hold) every stop but the voltage ends the group: only the voltage leads on to the
    hold.
    """
    sign = ">" if current > 0 else "<"
    action = "end_group" if group else "next"
    limits: list[Limit] = []
    stops: list[Limit] = []
    voltage = None
    if until.voltage is not None:
        voltage = draft.set_points.voltage(until.voltage, place.field("until.voltage"))
        if voltage is not None:
            limits.append(Limit("E_we", sign, voltage))
    duration = draft.set_points.time_limit(until.time, place.field("until.time"))
    if group and until.time is not None:
        # The engine must see this time run out (to skip the hold), so the device may not end the step
        # itself first: the time is an engine-side stop; the device is bounded by the safety duration.
        stops.append(Limit("time", ">", until.time, action))
        duration = draft.safety.max_duration
    if until.charge is not None:
        stops.append(Limit("abs_Q", ">", until.charge, action))
    if until.soc is not None:
        if draft.cell.rated_capacity is None:
            draft.problem(
                place.field("until.soc"),
                "a state-of-charge stop needs the cell's capacity: give "
                "cell.active_mass (with a known material or formula) or cell.capacity",
                until.soc,
            )
        stops.append(Limit("soc", sign, until.soc, action))
    estimate, basis = draft.charge.constant_current(current, until, voltage)
    return duration, tuple(limits), tuple(stops), estimate, basis


def constant_current(draft: Draft, step: ConstantCurrentStep, place: Place) -> None:
    current = draft.set_points.current(step.current, place.scale, place.field("current"), place.loops)
    if current is None:
        return
    duration, limits, stops, estimate, basis = constant_current_phase(draft, current, step.until, place, group=None)
    technique = ConstantCurrent(
        current=current, duration=duration, limits=limits, recording=recording(step.record)
    )
    name = step.name or ("charge" if current > 0 else "discharge")
    draft.emit(place, technique, name=name, label="CP", estimate=estimate, basis=basis, stops=stops)


def cccv(draft: Draft, step: CCCVStep, place: Place) -> None:
    current = draft.set_points.current(step.current, place.scale, place.field("current"), place.loops)
    if current is None:
        return
    group = draft.new_group(place.path) if step.hold else None
    duration, limits, stops, estimate, basis = constant_current_phase(
        draft, current, step.until, place, group=group
    )
    name = step.name or ("charge" if current > 0 else "discharge")
    points = recording(step.record)
    draft.emit(
        place,
        ConstantCurrent(current=current, duration=duration, limits=limits, recording=points),
        name=name,
        label="GCPL",
        estimate=estimate,
        basis=basis,
        stops=stops,
        group=group,
    )
    voltage = next((limit.value for limit in limits if limit.quantity == "E_we"), None)
    if step.hold is not None and voltage is not None:
        held, _, estimate, basis = hold(draft, voltage, step.hold, place.field("hold"), current)
        at_rest = draft.charge.equilibrium(voltage)
        draft.charge.soc = at_rest if at_rest is not None else (1.0 if current > 0 else 0.0)
        draft.emit(
            place,
            ConstantVoltage(voltage=held.voltage, duration=held.duration, limits=held.limits, recording=points),
            name=f"{name} hold",
            label="GCPL",
            source=place.field("hold"),
            estimate=estimate,
            basis=basis,
            group=group,
            notes={"initial_current": current},
        )
    if step.rest is not None:
        rest_time = draft.set_points.time_limit(step.rest, place.field("rest"))
        draft.emit(
            place,
            OpenCircuit(duration=rest_time, recording=points),
            name=f"{name} rest",
            label="GCPL",
            source=place.field("rest"),
            estimate=rest_time,
            basis="the rest's duration",
        )
