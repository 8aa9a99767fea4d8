"""Steps that set the voltage: a hold [CA] (also a CC-CV's second phase), a voltammetry sweep [CV] and an
impedance scan [PEIS] around a voltage."""

from __future__ import annotations

from operando.protocol.estimates.durations import hold_estimate
from operando.protocol.resolution.draft import Draft, Place
from operando.protocol.resolution.set_points import DEFAULT_RECORD_INTERVAL, recording
from operando.protocol.schema.errors import join_path
from operando.protocol.schema.steps import (
    ConstantVoltageStep,
    CyclicVoltammetryStep,
    HoldUntil,
    ImpedanceStep,
    Record,
)
from operando.techniques import ConstantVoltage, CyclicVoltammetry, Impedance, Limit, Recording


def hold(
    draft: Draft, voltage: float, until: HoldUntil, path: str, initial_current: float | None
) -> tuple[ConstantVoltage, float | None, float, str]:
    """A voltage hold; given ``initial_current`` (CC-CV) a current fraction becomes an absolute limit."""
    duration = draft.set_points.time_limit(until.time, join_path(path, "time"))
    thresholds = [until.current] if until.current is not None else []
    relative = None
    if until.current_fraction is not None:
        if initial_current is not None:
            thresholds.append(until.current_fraction * abs(initial_current))
        else:
            relative = until.current_fraction
    limits = (Limit("abs_I", "<", max(thresholds)),) if thresholds else ()
    technique = ConstantVoltage(voltage=voltage, duration=duration, limits=limits)
    estimate, basis = hold_estimate(duration, bool(thresholds) or relative is not None)
    return technique, relative, estimate, basis


def constant_voltage(draft: Draft, step: ConstantVoltageStep, place: Place) -> None:
    voltage = draft.set_points.voltage(step.voltage, place.field("voltage"))
    if voltage is None:
        return
    technique, relative, estimate, basis = hold(draft, voltage, step.until, place.field("until"), None)
    held = draft.charge.equilibrium(voltage)
    if held is not None and (step.until.current is not None or step.until.current_fraction is not None):
        draft.charge.soc = held  # a hold until the current decays brings the cell near its equilibrium there
    technique = ConstantVoltage(
        voltage=technique.voltage,
        duration=technique.duration,
        limits=technique.limits,
        recording=recording(step.record),
    )
    draft.emit(
        place,
        technique,
        name=step.name or "hold",
        label="CA",
        estimate=estimate,
        basis=basis,
        relative_current_stop=relative,
    )


def cyclic_voltammetry(draft: Draft, step: CyclicVoltammetryStep, place: Place) -> None:
    voltage = draft.set_points.voltage
    start = voltage(step.start, place.field("start"))
    first = voltage(step.vertices[0], place.field("vertices[0]"))
    second = voltage(step.vertices[1], place.field("vertices[1]"))
    end = voltage(step.end, place.field("end")) if step.end is not None else start
    if None in (start, first, second, end):
        return
    assert start is not None and first is not None and second is not None and end is not None
    record = step.record or Record()
    points = Recording(
        dt=record.every or DEFAULT_RECORD_INTERVAL,
        dE=record.voltage_change or 1e-3,
        dI=record.current_change,
    )
    technique = CyclicVoltammetry(
        start=start,
        vertex_1=first,
        vertex_2=second,
        end=end,
        scan_rate=step.scan_rate,
        cycles=step.cycles,
        recording=points,
    )
    draft.set_points.time_limit(technique.duration, place.field("scan_rate"))
    draft.emit(
        place,
        technique,
        name=step.name or "cyclic voltammetry",
        label="CV",
        estimate=technique.duration,
        basis="sweep length / scan rate",
    )


def impedance(draft: Draft, step: ImpedanceStep, place: Place) -> None:
    if step.dc_voltage is not None:
        level = draft.set_points.voltage(step.dc_voltage, place.field("dc_voltage"))
        if level is None:
            return
        dc_voltage, vs_ocv = level, False
    else:
        dc_voltage, vs_ocv = step.dc_vs_ocv, True
    technique = Impedance(
        initial_frequency=step.initial_frequency,
        final_frequency=step.final_frequency,
        points_per_decade=step.points_per_decade,
        amplitude=step.amplitude,
        dc_voltage=dc_voltage,
        dc_vs_ocv=vs_ocv,
        averages=step.averages,
        wait_for_steady=step.wait,
        recording=recording(step.record),
    )
    draft.emit(
        place,
        technique,
        name=step.name or "impedance",
        label="PEIS",
        estimate=technique.duration,
        basis="one period per frequency (at least 0.1 s), with waits",
    )
