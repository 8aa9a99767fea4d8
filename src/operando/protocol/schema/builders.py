"""Short constructors for protocols written in Python: ``cccv("C/60", to="4.3 V vs Li", hold={...})``,
``region("wide", ..., triggers=[every("2 h"), step_end("charge")])``.

Each returns the same validated step model a TOML table gives; invalid input raises ProtocolError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from operando.protocol.schema.imaging_model import Imaging, RegionSpec, TriggerSpec
from operando.protocol.schema.steps import (
    CCCVStep,
    ConstantCurrentStep,
    ConstantVoltageStep,
    CyclicVoltammetryStep,
    GITTStep,
    ImpedanceStep,
    LoopStep,
    RestStep,
)


def _drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def rest(duration: str, *, until_voltage_rate: str | None = None, name: str | None = None) -> RestStep:
    """Open circuit for ``duration`` ("30 min"); ends early if |dE/dt| < ``until_voltage_rate`` ("1 mV/h")."""
    until = {"voltage_rate": until_voltage_rate} if until_voltage_rate else None
    return RestStep(**_drop_none(duration=duration, until=until, name=name))


def constant_current(
    current: str,
    *,
    voltage: str | None = None,
    time: str | None = None,
    charge: str | None = None,
    soc: float | str | None = None,
    name: str | None = None,
) -> ConstantCurrentStep:
    """Constant current ("15 uA", "C/20", "D/20") until a voltage, time, charge or state of charge."""
    until = _drop_none(voltage=voltage, time=time, charge=charge, soc=soc)
    return ConstantCurrentStep(**_drop_none(current=current, until=until, name=name))


def hold(
    voltage: str,
    *,
    time: str | None = None,
    current: str | None = None,
    current_fraction: float | None = None,
    name: str | None = None,
) -> ConstantVoltageStep:
    """Hold ``voltage`` until a time, |I| < ``current``, or |I| < ``current_fraction`` x initial current."""
    until = _drop_none(time=time, current=current, current_fraction=current_fraction)
    return ConstantVoltageStep(**_drop_none(voltage=voltage, until=until, name=name))


def cccv(
    current: str,
    to: str,
    *,
    hold: dict[str, Any] | None = None,
    rest: str | None = None,
    time: str | None = None,
    name: str | None = None,
) -> CCCVStep:
    """Constant current to the voltage ``to``; optional hold (``hold={"current_fraction": 0.2}``), rest."""
    until = _drop_none(voltage=to, time=time)
    return CCCVStep(**_drop_none(current=current, until=until, hold=hold, rest=rest, name=name))


def cyclic_voltammetry(
    start: str,
    vertices: tuple[str, str],
    scan_rate: str,
    *,
    cycles: int = 1,
    end: str | None = None,
    name: str | None = None,
) -> CyclicVoltammetryStep:
    """Sweep start -> vertices[0] -> vertices[1] -> start at ``scan_rate`` ("100 uV/s"), ``cycles`` times."""
    return CyclicVoltammetryStep(
        **_drop_none(start=start, vertices=vertices, scan_rate=scan_rate, cycles=cycles, end=end, name=name)
    )


def impedance(
    initial_frequency: str,
    final_frequency: str,
    amplitude: str,
    *,
    points_per_decade: int = 10,
    averages: int = 1,
    dc_voltage: str | None = None,
    name: str | None = None,
) -> ImpedanceStep:
    """PEIS from ``initial_frequency`` to ``final_frequency`` with a sine of ``amplitude``, around the OCV."""
    return ImpedanceStep(
        **_drop_none(
            initial_frequency=initial_frequency,
            final_frequency=final_frequency,
            amplitude=amplitude,
            points_per_decade=points_per_decade,
            averages=averages,
            dc_voltage=dc_voltage,
            name=name,
        )
    )


def gitt(current: str, pulse: str, rest: str, until_voltage: str, **analysis: Any) -> GITTStep:
    """GITT pulses of ``current`` for ``pulse``, rests of ``rest``, until ``until_voltage``.

    ``analysis``: particle_radius, or molar_volume and electrode_area; also max_pulses, name.
    """
    return GITTStep(current=current, pulse=pulse, rest=rest, until={"voltage": until_voltage}, **analysis)


def loop(repeat: int, *steps: Any, current_scale: float = 1.0, name: str | None = None) -> LoopStep:
    """Repeat ``steps`` ``repeat`` times; currents are multiplied by ``current_scale`` once more each pass."""
    return LoopStep(**_drop_none(repeat=repeat, steps=list(steps), current_scale=current_scale, name=name))


# -- imaging ------------------------------------------------------------------------------------------------


def every(interval: str) -> TriggerSpec:
    """Image at the start of the run and every ``interval`` ("2 h") after it."""
    return TriggerSpec(every=interval)


def soc_step(step: str | float) -> TriggerSpec:
    """Image each time the state of charge reaches (or falls below) a multiple of ``step`` ("5 %")."""
    return TriggerSpec(soc_step=step)


def charge_step(charge: str) -> TriggerSpec:
    """Image each time another ``charge`` ("0.1 mAh") has passed, in either direction."""
    return TriggerSpec(charge_step=charge)


def voltage_crossing(voltage: str, direction: str = "either") -> TriggerSpec:
    """Image when E_we crosses ``voltage`` ("4.2 V vs Li") "rising", "falling" or "either" way."""
    return TriggerSpec(voltage=voltage, direction=direction)


def step_start(step: str | None = None) -> TriggerSpec:
    """Image when a step called ``step`` (a name or technique label) starts; None: every step."""
    return TriggerSpec(step_start=True if step is None else step)


def step_end(step: str | None = None) -> TriggerSpec:
    """Image when a step called ``step`` (a name or technique label) ends; None: every step."""
    return TriggerSpec(step_end=True if step is None else step)


def manual() -> TriggerSpec:
    """Image when someone asks (GUI, MQTT command, script)."""
    return TriggerSpec(manual=True)


def region(
    name: str,
    *,
    frame_size: str | tuple[int, int],
    detectors: Sequence[str],
    accelerating_voltage: str,
    probe_current: str,
    triggers: Sequence[TriggerSpec | dict[str, Any]],
    pixel_size: str | None = None,
    field_of_view: str | None = None,
    dwell: str | None = None,
    scan_rate: int | None = None,
    stage_position: str | dict[str, str] | None = None,
    tilt_correction: str | None = None,
    scan_rotation: str | None = None,
    min_interval: str | None = None,
    dose_budget: str | None = None,
    on_budget_exceeded: str | None = None,
    settle_time: str | None = None,
    tracking: bool | dict[str, Any] | None = None,
) -> RegionSpec:
    """A region of interest, as a ``[[imaging.regions]]`` table: pixel_size or field_of_view, dwell or
    scan_rate; ``tracking`` True/False or a table of tracking settings."""
    if isinstance(tracking, bool):
        tracking = {"enabled": tracking}
    return RegionSpec(
        **_drop_none(
            name=name,
            frame_size=frame_size,
            detectors=list(detectors),
            accelerating_voltage=accelerating_voltage,
            probe_current=probe_current,
            triggers=list(triggers),
            pixel_size=pixel_size,
            field_of_view=field_of_view,
            dwell=dwell,
            scan_rate=scan_rate,
            stage_position=stage_position,
            tilt_correction=tilt_correction,
            scan_rotation=scan_rotation,
            min_interval=min_interval,
            dose_budget=dose_budget,
            on_budget_exceeded=on_budget_exceeded,
            settle_time=settle_time,
            tracking=tracking,
        )
    )


def imaging(*regions: RegionSpec | dict[str, Any], max_probe_current: str | None = None) -> Imaging:
    """The ``[imaging]`` section: its regions, and the probe-current ceiling (default 2 nA) they keep."""
    return Imaging(**_drop_none(regions=list(regions), max_probe_current=max_probe_current))
