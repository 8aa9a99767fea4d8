"""Every example passes `operando check`, and each resolves to what its comments promise."""

import math
from pathlib import Path

import pytest

from operando.cli import main
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.techniques import ConstantCurrent, CyclicVoltammetry, Impedance, Limit, OpenCircuit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOUR = 3600.0


def plan_of(name: str) -> Plan:
    return resolve(load_protocol(EXAMPLES / name))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_passes_check(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(path)]) == 0
    assert "total estimated duration" in capsys.readouterr().out


def test_all_five_examples_exist() -> None:
    names = {path.name for path in EXAMPLES.glob("*.toml")}
    assert {
        "thesis_nmc622.toml",
        "plating_stripping.toml",
        "gitt_glass.toml",
        "cv_li_in.toml",
        "peis.toml",
    } <= names


def test_plating_stripping_doubles_the_current_after_five_reversals() -> None:
    plan = plan_of("plating_stripping.toml")
    currents = [step.technique.current for step in plan.steps if isinstance(step.technique, ConstantCurrent)]
    expected = [sign * 10e-6 * 2**doubling for doubling in range(4) for _ in range(5) for sign in (-1, 1)]
    assert currents == pytest.approx(expected)
    rests = [step for step in plan.steps[1:] if isinstance(step.technique, OpenCircuit)]
    assert len(rests) == 40 and all(step.technique.duration == 30 * 60 for step in rests)
    # 10 uA on a 5 mm disk is the thesis's 0.05 mA/cm^2
    assert 10e-6 / (math.pi * 0.25**2) * 1e3 == pytest.approx(0.05, rel=0.02)
    # each plate/strip pass is a cycle: 4 x 5 = 20 cycles, the first OCV outside any
    assert plan.steps[0].cycle == 0
    assert sorted({step.cycle for step in plan.steps[1:]}) == list(range(1, 21))
    last = plan.steps[-1]
    assert last.notes["current_scale"] == 8.0
    assert [level["pass"] for level in last.notes["loop"]] == [4, 5]


def test_gitt_expands_into_pulse_rest_pairs_that_end_together_on_the_voltage() -> None:
    plan = plan_of("gitt_glass.toml")
    gitt = plan.steps[1:]
    assert len(gitt) % 2 == 0
    pulses, rests = gitt[0::2], gitt[1::2]
    capacity = 467.75 * 3.6 * 1e-3  # C: 467.75 mAh/g x 1 mg
    current = -capacity / 20 / HOUR  # D/20
    assert all(isinstance(step.technique, ConstantCurrent) for step in pulses)
    assert pulses[0].technique.current == pytest.approx(current, rel=1e-3)
    assert pulses[0].technique.duration == 600 and rests[0].technique.duration == HOUR
    assert pulses[0].technique.limits == (Limit("E_we", "<", pytest.approx(1.5), "end_group"),)
    assert len({step.group for step in gitt}) == 1 and gitt[0].group is not None
    # a safe maximum: 20 % more pulses than the whole capacity needs (20 h at C/20 / 10 min = 120)
    assert len(pulses) == math.ceil(1.2 * 120)
    assert sum(step.notes["gitt"]["expected"] for step in pulses) == 120
    inputs = pulses[0].notes["gitt"]
    assert inputs["molar_volume"] == pytest.approx(61.4e-6)
    assert inputs["electrode_area"] == pytest.approx(0.785e-4)
    assert inputs["active_mass"] == pytest.approx(1e-6)
    assert inputs["molar_mass"] == pytest.approx(0.171896, rel=1e-4)
    assert inputs["pulse_duration"] == 600 and inputs["rest_duration"] == HOUR
    assert plan.cell.working_ion == "Na" and plan.cell.counter_electrode == "Na"
    assert plan.estimated_duration == pytest.approx(2 * HOUR + 120 * (600 + HOUR))


def test_cv_sweeps_at_100_microvolts_per_second_against_li_in() -> None:
    plan = plan_of("cv_li_in.toml")
    first, second = plan.steps[1].technique, plan.steps[2].technique
    assert isinstance(first, CyclicVoltammetry) and isinstance(second, CyclicVoltammetry)
    assert (first.start, first.vertex_1, first.vertex_2) == pytest.approx((1.4, 3.7, 1.4))
    assert (second.start, second.vertex_1, second.vertex_2) == pytest.approx((1.4, -0.6, 1.4))
    assert first.scan_rate == pytest.approx(1e-4) and first.cycles == 2
    assert plan.steps[1].estimated_duration == pytest.approx(2 * 2 * 2.3 / 1e-4)


def test_peis_from_7_megahertz_to_100_millihertz_with_10_millivolts() -> None:
    technique = plan_of("peis.toml").steps[1].technique
    assert isinstance(technique, Impedance)
    assert (technique.initial_frequency, technique.final_frequency) == pytest.approx((7e6, 0.1))
    assert technique.amplitude == pytest.approx(0.010)
    assert technique.dc_vs_ocv and technique.dc_voltage == 0.0
    assert technique.averages == 2 and technique.points_per_decade == 10
