"""A protocol built in Python is the same model as a TOML file, with the same validation and errors."""

from pathlib import Path

import pytest

from operando.errors import ProtocolError
from operando.protocol import (
    ConstantCurrentStep,
    Protocol,
    cccv,
    constant_current,
    cyclic_voltammetry,
    gitt,
    hold,
    impedance,
    load_protocol,
    loop,
    resolve,
    rest,
)
from operando.techniques import ConstantCurrent, ConstantVoltage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"
CELL = {"material": "NMC622", "active_mass": "3.2549 mg", "counter_electrode": "Li-In"}
SAFETY = {
    "voltage_min": "1.0 V vs Li",
    "voltage_max": "4.4 V vs Li",
    "current_max": "50 uA",
    "duration_max": "150 h",
}


def test_the_thesis_protocol_in_python_resolves_like_the_toml_file() -> None:
    protocol = Protocol(
        name="thesis-nmc622",
        cell=CELL,
        safety=SAFETY,
        steps=[
            rest("30 min", name="OCV"),
            cccv(
                "C/60",
                to="4.3 V vs Li+/Li",
                time="80 h",
                hold={"current_fraction": 0.2, "time": "24 h"},
                rest="30 min",
                name="charge",
            ),
            constant_current("D/60", voltage="2.7 V vs Li+/Li", time="80 h", name="discharge"),
        ],
    )
    from_python = resolve(protocol)
    from_toml = resolve(load_protocol(EXAMPLE))

    # recording settings differ (the file records every 60 s); compare what is applied and when it stops
    def applied(plan):  # noqa: ANN001, ANN202
        return [
            (
                s.label,
                s.name,
                type(s.technique).__name__,
                getattr(s.technique, "current", None),
                getattr(s.technique, "voltage", None),
                s.technique.limits,
                s.stops,
            )
            for s in plan.steps
        ]

    assert applied(from_python) == applied(from_toml)
    assert from_python.steps[1].technique.current == pytest.approx(15e-6, rel=1e-4)
    assert '"C/60"' in from_python.source_text  # a Python protocol keeps its JSON form for the file


def test_a_standalone_hold_keeps_a_relative_current_stop() -> None:
    plan = resolve(
        Protocol(cell=CELL, safety=SAFETY, steps=[hold("4.2 V vs Li", current_fraction=0.2, time="5 h")])
    )
    step = plan.steps[0]
    assert isinstance(step.technique, ConstantVoltage)
    assert step.technique.voltage == pytest.approx(3.58)
    assert step.relative_current_stop == 0.2 and step.technique.limits == ()
    assert step.technique.duration == 5 * 3600


def test_state_of_charge_and_charge_stops_are_engine_side() -> None:
    plan = resolve(
        Protocol(cell=CELL, safety=SAFETY, steps=[constant_current("C/20", soc="80 %", charge="1 mAh")])
    )
    step = plan.steps[0]
    assert {(s.quantity, s.comparison) for s in step.stops} == {("soc", ">"), ("abs_Q", ">")}
    assert [s.value for s in step.stops if s.quantity == "soc"] == [0.8]
    assert [s.value for s in step.stops if s.quantity == "abs_Q"] == pytest.approx([3.6])
    # estimate: 80 % of 0.9 mAh at C/20 is 16 h, before 1 mAh (> capacity) could pass
    assert step.estimated_duration == pytest.approx(16 * 3600, rel=1e-4)


def test_loops_scale_currents_and_are_checked_against_the_safety_limit() -> None:
    steps = [loop(4, constant_current("10 uA", time="1 h"), rest("10 min"), current_scale=2)]
    with pytest.raises(ProtocolError) as caught:
        resolve(Protocol(cell=CELL, safety=SAFETY, steps=steps))
    (problem,) = caught.value.problems
    assert problem[0] == "steps[0].steps[0].current"
    assert "80 uA in pass 4 of the loop at steps[0]" in problem[1] and "50 uA" in problem[1]


def test_builders_cover_every_technique() -> None:
    protocol = Protocol(
        cell=CELL | {"electrode_area": "0.196 cm^2"},
        safety=SAFETY,
        steps=[
            impedance("7 MHz", "100 mHz", "10 mV"),
            cyclic_voltammetry("3 V vs Li", ("4.2 V vs Li", "3 V vs Li"), "100 uV/s"),
            gitt("C/20", "10 min", "1 h", "4.3 V vs Li", particle_radius="5 um"),
        ],
    )
    labels = [step.label for step in resolve(protocol).steps]
    assert labels[:2] == ["PEIS", "CV"] and set(labels[2:]) == {"GITT"}


def test_invalid_python_input_raises_protocol_error_naming_the_field() -> None:
    with pytest.raises(ProtocolError, match=r"until.time: must be positive, got '-1 h'"):
        constant_current("10 uA", time="-1 h")
    with pytest.raises(ProtocolError, match=r"current: expected a current .* got '15 V'"):
        ConstantCurrentStep(current="15 V", until={"time": "1 h"})
    with pytest.raises(ProtocolError, match=r"steps\[0\].technique: unknown technique 'foo'"):
        Protocol(cell=CELL, safety=SAFETY, steps=[{"technique": "foo"}])


def test_gitt_needs_the_diffusion_inputs_and_a_bound_on_pulses() -> None:
    with pytest.raises(ProtocolError, match="particle_radius, or molar_volume"):
        gitt("C/20", "10 min", "1 h", "4.3 V vs Li")
    no_mass = {"material": "NMC622", "counter_electrode": "Li-In"}
    with pytest.raises(ProtocolError) as caught:
        resolve(
            Protocol(
                cell=no_mass,
                safety=SAFETY,
                steps=[gitt("10 uA", "10 min", "1 h", "4.3 V vs Li", molar_volume="20 cm^3/mol")],
            )
        )
    paths = {path for path, _, _ in caught.value.problems}
    assert {"steps[0].max_pulses", "steps[0].electrode_area", "cell.active_mass"} <= paths


def test_every_step_is_a_device_technique_with_an_estimate() -> None:
    plan = resolve(load_protocol(EXAMPLE))
    assert all(
        isinstance(step.technique, ConstantCurrent | ConstantVoltage) or step.label in ("OCV", "GCPL")
        for step in plan.steps
    )
    assert all(step.estimated_duration > 0 and step.notes["estimate"] for step in plan.steps)


@pytest.mark.parametrize("path", sorted(EXAMPLE.parent.glob("*.toml")), ids=lambda p: p.name)
def test_the_json_form_kept_for_the_file_reads_back_to_the_same_plan(path: Path) -> None:
    import json

    protocol = load_protocol(path)
    again = Protocol.from_dict(json.loads(protocol.model_dump_json(exclude_none=True)))
    first, second = resolve(protocol), resolve(again)
    assert (first.steps, first.cell, first.safety) == (second.steps, second.cell, second.safety)
    assert (first.imaging, first.extras) == (second.imaging, second.extras)


def test_soc_stops_need_a_capacity_and_unknown_estimates_say_so() -> None:
    from operando.protocol.report import render_plan

    lithium = {"material": "Li metal", "counter_electrode": "Li"}
    window = {"voltage_min": "-1 V", "voltage_max": "1 V", "current_max": "1 mA", "duration_max": "10 h"}
    with pytest.raises(
        ProtocolError, match=r"steps\[0\].until.soc: a state-of-charge stop needs the cell's capacity"
    ):
        resolve(Protocol(cell=lithium, safety=window, steps=[constant_current("10 uA", soc=0.5)]))
    text = render_plan(
        resolve(Protocol(cell=lithium, safety=window, steps=[constant_current("10 uA", voltage="1 V")]))
    )
    assert "estimated unknown (no capacity and no time limit)" in text
    assert "plus 1 step(s) of unknown length" in text


def test_a_runaway_loop_is_refused() -> None:
    window = {"voltage_min": "-1 V", "voltage_max": "1 V", "current_max": "1 mA", "duration_max": "10 h"}
    with pytest.raises(ProtocolError, match="more than 20000 device steps"):
        resolve(Protocol(cell=CELL, safety=window, steps=[loop(10000, loop(10, rest("1 s")))]))
