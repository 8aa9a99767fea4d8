"""Short constructors for protocols written in Python: ``cccv("C/60", to="4.3 V vs Li", hold={...})``.

Each returns the same validated step model a TOML table gives; invalid input raises ProtocolError.
"""

from __future__ import annotations

from typing import Any

from operando.protocol.steps import (
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
