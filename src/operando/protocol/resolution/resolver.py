"""Resolve a protocol into the Plan the engine runs: C-rates to amperes, potentials to what the potentiostat
measures, battery techniques (GCPL, GITT, loops) expanded into device techniques, each checked against the
safety limits and given an estimated duration."""

from __future__ import annotations

import math
from typing import Any

from operando.cells import CRate, Potential
from operando.errors import ProtocolError, QuantityError
from operando.plan import Plan, PlannedStep, SafetyLimits
from operando.protocol.display import format_duration, format_si
from operando.protocol.estimates.equilibrium import equilibrium_curve
from operando.protocol.resolution.imaging import check_estimate, resolve_imaging
from operando.protocol.schema.errors import add_lines, join_path
from operando.protocol.schema.model import Protocol
from operando.protocol.schema.sensor_limits import SENSOR_LIMITS, resolve_sensor_limits
from operando.protocol.schema.steps import (
    CCCVStep,
    ConstantCurrentStep,
    ConstantVoltageStep,
    CurrentUntil,
    CyclicVoltammetryStep,
    GITTStep,
    HoldUntil,
    ImpedanceStep,
    LoopStep,
    Record,
    RestStep,
)
from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
    Recording,
    Technique,
)

# A hold that ends on a current condition has no duration we can compute; this is the guess we plan with.
HOLD_ESTIMATE = 2 * 3600.0  # s
# GITT expands statically: more pulses than this means the pulse is too short for the capacity.
MAX_GITT_PULSES = 1000
# GITT plans pulses for this share of the capacity, so a cell that holds more than rated still finishes.
GITT_CAPACITY_MARGIN = 1.2
DEFAULT_RECORD_INTERVAL = 10.0  # s
# Loops expand statically; beyond this many device steps a protocol is surely a typo (repeat = 10000 nested).
MAX_PLANNED_STEPS = 20000


def resolve(protocol: Protocol) -> Plan:
    """The plan for ``protocol``; raises ProtocolError naming every field that cannot be run safely."""
    return _Resolver(protocol).plan()


class _Resolver:
    """Walks the steps once, keeping the predicted state of charge and the cycle count as it goes."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.cell = protocol.cell
        self.problems: list[tuple[str, str, object]] = []
        self.steps: list[PlannedStep] = []
        self.soc = self.cell.initial_soc
        self.soc_recorded = self.soc  # the SOC at the end of the last emitted step
        self.curve = equilibrium_curve(self.cell.summary())  # None: no reference OCV for the material
        self.cycle = 0
        self.groups = 0

    # -- the whole plan ---------------------------------------------------------------------------------
    def plan(self) -> Plan:
        self.safety = self._safety()
        for position, step in enumerate(self.protocol.steps):
            self._step(step, f"steps[{position}]", 1.0, ())
        warnings: list[str] = []
        imaging = self.protocol.imaging
        imaging_plan, tracking = (
            resolve_imaging(imaging, self.cell, self.safety, tuple(self.steps), self.problem, warnings)
            if imaging is not None
            else (None, None)
        )
        self._raise_problems()
        plan = Plan(
            name=self.protocol.name,
            cell=self.cell.summary(),
            safety=self.safety,
            steps=tuple(self.steps),
            source_text=self.protocol.source_text,
            source_path=self.protocol.source_path,
            imaging=imaging_plan,
        )
        if tracking is not None:
            plan.extras["tracking"] = tracking
        if self.protocol.safety.sensors:
            plan.extras[SENSOR_LIMITS] = resolve_sensor_limits(self.protocol.safety.sensors)
        if plan.estimated_duration > self.safety.max_duration:
            warnings.insert(
                0,
                f"estimated duration {format_duration(plan.estimated_duration)} exceeds "
                f"safety.duration_max {format_duration(self.safety.max_duration)}: the run would stop there",
            )
        if imaging is not None:
            check_estimate(plan, imaging, self.problem, warnings)
            self._raise_problems()
        if warnings:
            plan.extras["warnings"] = warnings
        return plan

    def _raise_problems(self) -> None:
        if self.problems:
            raise ProtocolError(
                add_lines(self.problems, self.protocol._source_text), self.protocol.source_path
            )

    def problem(self, path: str, message: str, value: object = None) -> None:
        entry = (path, message, value)
        if entry not in self.problems:  # a loop repeats its steps: report each fault once
            self.problems.append(entry)

    def _safety(self) -> SafetyLimits:
        safety = self.protocol.safety
        low = self._measured(safety.voltage_min, "safety.voltage_min")
        high = self._measured(safety.voltage_max, "safety.voltage_max")
        if low is not None and high is not None and not low < high:
            self.problem(
                "safety.voltage_max",
                f"must lie above safety.voltage_min ({safety.voltage_min})",
                str(safety.voltage_max),
            )
        current = self._amperes(safety.current_max, "safety.current_max")
        if current is not None and current <= 0:
            self.problem("safety.current_max", "must be positive", str(safety.current_max))
        return SafetyLimits(
            E_min=low if low is not None else -math.inf,
            E_max=high if high is not None else math.inf,
            I_max=abs(current) if current else math.inf,
            max_duration=safety.duration_max,
            safe_state=safety.safe_state,
            link_outage_max=safety.link_outage_max,
            missing_points_max=safety.missing_points_max,
        )

    # -- conversions with errors collected under the field's path --------------------------------------------
    def _measured(self, potential: Potential, path: str) -> float | None:
        try:
            return self.cell.measured(potential)
        except QuantityError as exc:
            self.problem(path, str(exc))
            return None

    def _amperes(self, setting: float | CRate, path: str) -> float | None:
        try:
            return self.cell.current(setting)
        except QuantityError as exc:
            self.problem(path, str(exc))
            return None

    def _voltage(self, potential: Potential, path: str) -> float | None:
        """The measured voltage for a set point or stop, refused outside the safety window."""
        value = self._measured(potential, path)
        if value is None:
            return None
        low, high = self.safety.E_min, self.safety.E_max
        if not low - 1e-9 <= value <= high + 1e-9:
            self.problem(
                path,
                f"{potential} is {value:.4g} V as measured (vs {self.cell.counter_name}), outside the "
                f"safety window {low:.4g}..{high:.4g} V (safety.voltage_min..voltage_max)",
            )
        return value

    def _current(
        self, setting: float | CRate, scale: float, path: str, loops: tuple[dict[str, Any], ...]
    ) -> float | None:
        """Amperes for a set current (scaled in loops), refused above the safety limit."""
        value = self._amperes(setting, path)
        if value is None:
            return None
        value *= scale
        if value == 0:
            self.problem(path, "a current of zero: use a rest step for open circuit", str(setting))
            return None
        if abs(value) > self.safety.I_max * (1 + 1e-9):
            where = f" in pass {loops[-1]['pass']} of the loop at {loops[-1]['source']}" if loops else ""
            self.problem(
                path,
                f"{setting} is {format_si(value, 'A')}{where}, above safety.current_max "
                f"{format_si(self.safety.I_max, 'A')}",
            )
        return value

    def _time_limit(self, time: float | None, path: str) -> float:
        """The longest a technique may run: its own time limit, bounded by the safety duration."""
        if time is not None and time > self.safety.max_duration:
            self.problem(
                path,
                f"{format_duration(time)} is longer than safety.duration_max "
                f"{format_duration(self.safety.max_duration)}",
            )
        return time if time is not None else self.safety.max_duration

    @staticmethod
    def _recording(record: Record | None, default_dt: float = DEFAULT_RECORD_INTERVAL) -> Recording:
        record = record or Record()
        return Recording(dt=record.every or default_dt, dE=record.voltage_change, dI=record.current_change)

    def _emit(
        self,
        technique: Technique,
        *,
        name: str,
        label: str,
        source: str,
        scale: float,
        loops: tuple[dict[str, Any], ...],
        estimate: float,
        basis: str,
        stops: tuple[Limit, ...] = (),
        relative_current_stop: float | None = None,
        group: str | None = None,
        notes: dict[str, Any] | None = None,
    ) -> None:
        if len(self.steps) >= MAX_PLANNED_STEPS:
            self.problem(
                source,
                f"the protocol expands to more than {MAX_PLANNED_STEPS} device steps: "
                "fewer loop repeats or longer GITT pulses",
            )
            raise ProtocolError(
                add_lines(self.problems, self.protocol._source_text), self.protocol.source_path
            )
        notes = dict(notes or {})
        notes["estimate"] = basis
        if self.cell.rated_capacity is not None:
            # The estimated state of charge at the step's start and end (0..1 of the rated capacity).
            notes["soc"] = [self.soc_recorded, self.soc]
            self.soc_recorded = self.soc
        if loops:
            notes["loop"] = [dict(level) for level in loops]
        if scale != 1.0:
            notes["current_scale"] = scale
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

    def _new_group(self, source: str) -> str:
        self.groups += 1
        return f"{source}#{self.groups}"

    # -- the techniques -------------------------------------------------------------------------------------
    def _step(self, step: Any, path: str, scale: float, loops: tuple[dict[str, Any], ...]) -> None:
        handlers = {
            RestStep: self._rest,
            ConstantCurrentStep: self._constant_current,
            ConstantVoltageStep: self._constant_voltage,
            CCCVStep: self._cccv,
            CyclicVoltammetryStep: self._cyclic_voltammetry,
            ImpedanceStep: self._impedance,
            GITTStep: self._gitt,
            LoopStep: self._loop,
        }
        handlers[type(step)](step, path, scale, loops)

    def _rest(self, step: RestStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]) -> None:
        stops: tuple[Limit, ...] = ()
        basis = "the rest's duration"
        if step.until and step.until.voltage_rate:
            stops = (Limit("abs_dE_dt", "<", step.until.voltage_rate),)
            basis = "the rest's duration (at most; ends earlier once |dE/dt| is small)"
        duration = self._time_limit(step.duration, join_path(path, "duration"))
        technique = OpenCircuit(duration=duration, recording=self._recording(step.record))
        self._emit(
            technique,
            name=step.name or "rest",
            label="OCV",
            source=path,
            scale=scale,
            loops=loops,
            estimate=duration,
            basis=basis,
            stops=stops,
        )

    def _galvanostatic(
        self, current: float, until: CurrentUntil, path: str, *, group: str | None
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
            voltage = self._voltage(until.voltage, join_path(path, "until.voltage"))
            if voltage is not None:
                limits.append(Limit("E_we", sign, voltage))
        duration = self._time_limit(until.time, join_path(path, "until.time"))
        if group and until.time is not None:
            # The engine must see this time run out (to skip the hold), so the device may not end the step
            # itself first: the time is an engine-side stop; the device is bounded by the safety duration.
            stops.append(Limit("time", ">", until.time, action))
            duration = self.safety.max_duration
        if until.charge is not None:
            stops.append(Limit("abs_Q", ">", until.charge, action))
        if until.soc is not None:
            if self.cell.rated_capacity is None:
                self.problem(
                    join_path(path, "until.soc"),
                    "a state-of-charge stop needs the cell's capacity: give "
                    "cell.active_mass (with a known material or formula) or cell.capacity",
                    until.soc,
                )
            stops.append(Limit("soc", sign, until.soc, action))
        estimate, basis = self._estimate_galvanostatic(current, until, voltage)
        return duration, tuple(limits), tuple(stops), estimate, basis

    def _estimate_galvanostatic(
        self, current: float, until: CurrentUntil, voltage: float | None
    ) -> tuple[float, str]:
        """Time to the first stop. A voltage stop is reached at the SOC where the material's reference OCV
        reaches it (polarisation only makes it sooner); with no reference curve, at full (or zero) charge."""
        capacity = self.cell.rated_capacity
        candidates: list[tuple[float, str]] = []
        if until.time is not None:
            candidates.append((until.time, "its time limit"))
        if until.charge is not None:
            candidates.append((until.charge / abs(current), "its charge limit"))
        if capacity is not None:
            if until.soc is not None:
                left = (until.soc - self.soc) if current > 0 else (self.soc - until.soc)
                candidates.append((max(left, 0.0) * capacity / abs(current), "the capacity to the SOC limit"))
            if until.voltage is not None:
                candidates.append(self._to_voltage(current, voltage))
        if not candidates:
            return 0.0, "unknown: no capacity and no time limit"
        estimate, basis = min(candidates)
        if capacity is not None:
            self.soc = min(1.0, max(0.0, self.soc + current * estimate / capacity))
        return estimate, basis

    def _to_voltage(self, current: float, voltage: float | None) -> tuple[float, str]:
        """Time for ``current`` to bring the cell from the present SOC to ``voltage`` (measured) at rest."""
        capacity = self.cell.rated_capacity
        assert capacity is not None
        target = self._equilibrium_soc(voltage)
        if target is None:
            target = 1.0 if current > 0 else 0.0
            basis = (
                f"the capacity (pessimistic: no reference OCV curve for {self.cell.summary().material!r}, "
                "so it assumes the full rated capacity is reached)"
            )
        else:
            basis = (
                f"the charge from {100 * self.soc:.3g} % to {100 * target:.3g} % SOC, where the reference "
                f"OCV of {self.cell.summary().material} reaches the limit (at most: "
                "polarisation reaches it sooner)"
            )
        left = (target - self.soc) if current > 0 else (self.soc - target)
        return max(left, 0.0) * capacity / abs(current), basis

    def _equilibrium_soc(self, voltage: float | None) -> float | None:
        """The SOC (0..1) at which the cell rests at ``voltage`` (measured), if a reference curve is known."""
        if self.curve is None or voltage is None:
            return None
        return min(1.0, max(0.0, self.curve.soc_at(voltage)))

    def _constant_current(
        self, step: ConstantCurrentStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]
    ) -> None:
        current = self._current(step.current, scale, join_path(path, "current"), loops)
        if current is None:
            return
        duration, limits, stops, estimate, basis = self._galvanostatic(current, step.until, path, group=None)
        technique = ConstantCurrent(
            current=current, duration=duration, limits=limits, recording=self._recording(step.record)
        )
        name = step.name or ("charge" if current > 0 else "discharge")
        self._emit(
            technique,
            name=name,
            label="CP",
            source=path,
            scale=scale,
            loops=loops,
            estimate=estimate,
            basis=basis,
            stops=stops,
        )

    def _hold(
        self, voltage: float, until: HoldUntil, path: str, initial_current: float | None
    ) -> tuple[ConstantVoltage, float | None, float, str]:
        """A voltage hold; given ``initial_current`` (CC-CV) a current fraction becomes an absolute limit."""
        duration = self._time_limit(until.time, join_path(path, "time"))
        thresholds = [until.current] if until.current is not None else []
        relative = None
        if until.current_fraction is not None:
            if initial_current is not None:
                thresholds.append(until.current_fraction * abs(initial_current))
            else:
                relative = until.current_fraction
        limits = (Limit("abs_I", "<", max(thresholds)),) if thresholds else ()
        technique = ConstantVoltage(voltage=voltage, duration=duration, limits=limits)
        if thresholds or relative is not None:
            estimate = min(duration, HOLD_ESTIMATE)
            basis = (
                f"a guess ({format_duration(HOLD_ESTIMATE)}): a hold ends when the current has decayed, "
                "which depends on the cell"
            )
        else:
            estimate, basis = duration, "its time limit"
        return technique, relative, estimate, basis

    def _constant_voltage(
        self, step: ConstantVoltageStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]
    ) -> None:
        voltage = self._voltage(step.voltage, join_path(path, "voltage"))
        if voltage is None:
            return
        technique, relative, estimate, basis = self._hold(voltage, step.until, join_path(path, "until"), None)
        held = self._equilibrium_soc(voltage)
        if held is not None and (step.until.current is not None or step.until.current_fraction is not None):
            self.soc = held  # a hold until the current decays brings the cell near its equilibrium there
        technique = ConstantVoltage(
            voltage=technique.voltage,
            duration=technique.duration,
            limits=technique.limits,
            recording=self._recording(step.record),
        )
        self._emit(
            technique,
            name=step.name or "hold",
            label="CA",
            source=path,
            scale=scale,
            loops=loops,
            estimate=estimate,
            basis=basis,
            relative_current_stop=relative,
        )

    def _cccv(self, step: CCCVStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]) -> None:
        current = self._current(step.current, scale, join_path(path, "current"), loops)
        if current is None:
            return
        group = self._new_group(path) if step.hold else None
        duration, limits, stops, estimate, basis = self._galvanostatic(current, step.until, path, group=group)
        name = step.name or ("charge" if current > 0 else "discharge")
        recording = self._recording(step.record)
        self._emit(
            ConstantCurrent(current=current, duration=duration, limits=limits, recording=recording),
            name=name,
            label="GCPL",
            source=path,
            scale=scale,
            loops=loops,
            estimate=estimate,
            basis=basis,
            stops=stops,
            group=group,
        )
        voltage = next((limit.value for limit in limits if limit.quantity == "E_we"), None)
        if step.hold is not None and voltage is not None:
            hold, _, estimate, basis = self._hold(voltage, step.hold, join_path(path, "hold"), current)
            held = self._equilibrium_soc(voltage)
            self.soc = held if held is not None else (1.0 if current > 0 else 0.0)
            hold = ConstantVoltage(
                voltage=hold.voltage, duration=hold.duration, limits=hold.limits, recording=recording
            )
            self._emit(
                hold,
                name=f"{name} hold",
                label="GCPL",
                source=join_path(path, "hold"),
                scale=scale,
                loops=loops,
                estimate=estimate,
                basis=basis,
                group=group,
                notes={"initial_current": current},
            )
        if step.rest is not None:
            rest_time = self._time_limit(step.rest, join_path(path, "rest"))
            self._emit(
                OpenCircuit(duration=rest_time, recording=recording),
                name=f"{name} rest",
                label="GCPL",
                source=join_path(path, "rest"),
                scale=scale,
                loops=loops,
                estimate=rest_time,
                basis="the rest's duration",
            )

    def _cyclic_voltammetry(
        self, step: CyclicVoltammetryStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]
    ) -> None:
        start = self._voltage(step.start, join_path(path, "start"))
        first = self._voltage(step.vertices[0], join_path(path, "vertices[0]"))
        second = self._voltage(step.vertices[1], join_path(path, "vertices[1]"))
        end = self._voltage(step.end, join_path(path, "end")) if step.end is not None else start
        if None in (start, first, second, end):
            return
        assert start is not None and first is not None and second is not None and end is not None
        record = step.record or Record()
        recording = Recording(
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
            recording=recording,
        )
        self._time_limit(technique.duration, join_path(path, "scan_rate"))
        self._emit(
            technique,
            name=step.name or "cyclic voltammetry",
            label="CV",
            source=path,
            scale=scale,
            loops=loops,
            estimate=technique.duration,
            basis="sweep length / scan rate",
        )

    def _impedance(
        self, step: ImpedanceStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]
    ) -> None:
        if step.dc_voltage is not None:
            level = self._voltage(step.dc_voltage, join_path(path, "dc_voltage"))
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
            recording=self._recording(step.record),
        )
        self._emit(
            technique,
            name=step.name or "impedance",
            label="PEIS",
            source=path,
            scale=scale,
            loops=loops,
            estimate=technique.duration,
            basis="one period per frequency (at least 0.1 s), with waits",
        )

    def _gitt(self, step: GITTStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]) -> None:
        current = self._current(step.current, scale, join_path(path, "current"), loops)
        voltage = self._voltage(step.until.voltage, join_path(path, "until.voltage"))
        analysis = self._gitt_inputs(step, path)
        count, expected = self._gitt_counts(step, current, voltage, path)
        if current is None or voltage is None or analysis is None or count is None:
            return
        analysis.update(pulse_current=current, pulse_duration=step.pulse, rest_duration=step.rest)
        group = self._new_group(path)
        name = step.name or "GITT"
        pulse_recording = self._recording(
            step.record, min(DEFAULT_RECORD_INTERVAL, max(0.1, step.pulse / 100))
        )
        rest_recording = self._recording(step.record, min(DEFAULT_RECORD_INTERVAL, max(0.1, step.rest / 100)))
        sign = ">" if current > 0 else "<"
        capacity = self.cell.rated_capacity
        for pulse in range(1, count + 1):
            likely = pulse <= expected
            basis = "pulse time" if likely else "not expected to run: the voltage limit should come first"
            limits = (Limit("E_we", sign, voltage, "end_group"),)
            if likely and capacity is not None:
                self.soc = min(1.0, max(0.0, self.soc + current * step.pulse / capacity))
            self._emit(
                ConstantCurrent(
                    current=current, duration=step.pulse, limits=limits, recording=pulse_recording
                ),
                name=f"{name} pulse {pulse}",
                label="GITT",
                source=path,
                scale=scale,
                loops=loops,
                estimate=step.pulse if likely else 0.0,
                basis=basis,
                group=group,
                notes={"gitt": dict(analysis, pulse=pulse, phase="pulse", expected=likely)},
            )
            self._emit(
                OpenCircuit(duration=step.rest, recording=rest_recording),
                name=f"{name} rest {pulse}",
                label="GITT",
                source=path,
                scale=scale,
                loops=loops,
                estimate=step.rest if likely else 0.0,
                basis="rest time" if likely else basis,
                group=group,
                notes={"gitt": dict(analysis, pulse=pulse, phase="rest", expected=likely)},
            )

    def _gitt_inputs(self, step: GITTStep, path: str) -> dict[str, Any] | None:
        """What the Weppner-Huggins estimate needs, checked now so the analysis cannot fail after days."""
        inputs: dict[str, Any] = {
            "particle_radius": step.particle_radius,
            "molar_volume": step.molar_volume,
            "electrode_area": step.electrode_area or self.cell.electrode_area,
            "active_mass": self.cell.mass,
            "molar_mass": self.cell.molar_mass,
        }
        if step.particle_radius is not None:
            return inputs
        missing = [
            (
                join_path(path, "electrode_area"),
                "electrode_area",
                "the electrode area (here or cell.electrode_area)",
            ),
            ("cell.active_mass", "active_mass", "the active mass"),
            ("cell.formula", "molar_mass", "the active material's formula (for its molar mass)"),
        ]
        ok = True
        for where, key, what in missing:
            if inputs[key] is None:
                self.problem(where, f"GITT with molar_volume needs {what}; or give {path}.particle_radius")
                ok = False
        return inputs if ok else None

    def _gitt_counts(
        self, step: GITTStep, current: float | None, voltage: float | None, path: str
    ) -> tuple[int | None, int]:
        """Pulse/rest pairs to plan (a safe maximum), and how many are expected before the voltage limit."""
        capacity = self.cell.rated_capacity
        if current is None:
            return None, 0
        per_pulse = abs(current) * step.pulse
        if step.max_pulses is not None and step.max_pulses > MAX_GITT_PULSES:
            self.problem(
                join_path(path, "max_pulses"),
                f"{step.max_pulses} pulse/rest pairs are more than {MAX_GITT_PULSES}: plan at most "
                f"{MAX_GITT_PULSES} (longer pulses or a larger current cover the same capacity in fewer)",
                step.max_pulses,
            )
            return None, 0
        if capacity is None:
            if step.max_pulses is None:
                self.problem(
                    join_path(path, "max_pulses"),
                    "needed: the cell's capacity is unknown (no active mass "
                    "or capacity in [cell]), so nothing else bounds the number of pulses",
                )
                return None, 0
            return step.max_pulses, step.max_pulses
        count = step.max_pulses or math.ceil(GITT_CAPACITY_MARGIN * capacity / per_pulse)
        if count > MAX_GITT_PULSES:
            self.problem(
                join_path(path, "pulse"),
                f"{format_duration(step.pulse)} pulses at "
                f"{format_si(current, 'A')} would need {count} pulses to cover the capacity (more than "
                f"{MAX_GITT_PULSES}): use longer pulses, a larger current, or set max_pulses",
            )
            return None, 0
        target = self._equilibrium_soc(voltage)
        if target is None:
            target = 1.0 if current > 0 else 0.0
        left = max((target - self.soc) if current > 0 else (self.soc - target), 0.0)
        expected = min(count, math.ceil(left * capacity / per_pulse - 1e-9))
        return count, expected

    def _loop(self, step: LoopStep, path: str, scale: float, loops: tuple[dict[str, Any], ...]) -> None:
        innermost = not any(isinstance(inner, LoopStep) for inner in step.steps)
        for number in range(step.repeat):
            if innermost:
                self.cycle += 1
            level = {"source": path, "pass": number + 1, "of": step.repeat}
            for position, inner in enumerate(step.steps):
                self._step(
                    inner, f"{path}.steps[{position}]", scale * step.current_scale**number, (*loops, level)
                )
