"""The thesis experiment resolves to the currents, voltages and stops the thesis reports."""

from pathlib import Path

import pytest

from operando.materials import specific_capacity
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.techniques import ConstantCurrent, ConstantVoltage, Limit, OpenCircuit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"
HOUR = 3600.0


@pytest.fixture(scope="module")
def plan() -> Plan:
    return resolve(load_protocol(EXAMPLE))


def test_the_active_mass_is_the_one_that_makes_15_microamps_c_over_60(plan: Plan) -> None:
    # m = I x t / q = 15 uA x 60 h / 276.6 mAh/g = 3.254 mg (thesis figures)
    assert plan.cell.active_mass == pytest.approx(15e-6 * 60 * HOUR / (276.6 * 3600.0), rel=1e-3)
    # and exactly so with the capacity from the formula, which the C-rate uses
    by_formula = 15e-6 * 60 * HOUR / specific_capacity("LiNi0.6Mn0.2Co0.2O2", 1)
    assert plan.cell.active_mass == pytest.approx(by_formula, rel=1e-4)


def test_the_charge_is_15_microamps_to_3_68_volts_against_li_in(plan: Plan) -> None:
    charge = plan.steps[1]
    assert isinstance(charge.technique, ConstantCurrent)
    assert charge.technique.current == pytest.approx(15e-6, rel=1e-4)
    assert Limit("E_we", ">", pytest.approx(3.68)) in charge.technique.limits  # 4.3 V vs Li+/Li - 0.62 V


def test_the_hold_is_at_3_68_volts_until_the_current_falls_to_3_microamps(plan: Plan) -> None:
    charge, hold = plan.steps[1], plan.steps[2]
    assert isinstance(hold.technique, ConstantVoltage)
    assert hold.technique.voltage == pytest.approx(3.68)
    (limit,) = hold.technique.limits
    assert (limit.quantity, limit.comparison) == ("abs_I", "<")
    assert limit.value == pytest.approx(
        3e-6, rel=1e-4
    )  # one fifth of 15 uA, absolute: the CC current is known
    assert hold.relative_current_stop is None
    assert hold.technique.duration == pytest.approx(24 * HOUR)
    # the hold follows the charge only if the charge ended on its voltage: they share a group
    assert charge.group is not None and hold.group == charge.group
    # so a charge that runs out of time (80 h) ends the group, and only the engine can see that happen
    assert charge.stops == (Limit("time", ">", 80 * HOUR, "end_group"),)
    assert charge.technique.duration == pytest.approx(150 * HOUR)


def test_then_rest_and_discharge_to_2_08_volts(plan: Plan) -> None:
    rest, discharge = plan.steps[3], plan.steps[4]
    assert isinstance(rest.technique, OpenCircuit) and rest.technique.duration == pytest.approx(30 * 60)
    assert isinstance(discharge.technique, ConstantCurrent)
    assert discharge.technique.current == pytest.approx(-15e-6, rel=1e-4)
    assert discharge.technique.limits == (Limit("E_we", "<", pytest.approx(2.08)),)  # 2.7 V vs Li+/Li
    assert discharge.technique.duration == pytest.approx(80 * HOUR)


def test_safety_window_and_cell_summary(plan: Plan) -> None:
    assert plan.safety.E_min == pytest.approx(0.38) and plan.safety.E_max == pytest.approx(3.78)
    assert plan.safety.I_max == pytest.approx(50e-6)
    assert plan.safety.max_duration == pytest.approx(150 * HOUR)
    cell = plan.cell
    assert (cell.material, cell.working_ion, cell.counter_electrode, cell.electrons) == (
        "NMC622",
        "Li",
        "Li-In",
        1,
    )
    assert cell.capacity == pytest.approx(0.9 * 3.6, rel=1e-4)  # 0.9 mAh
    assert cell.counter_potential == pytest.approx(0.62)
    assert cell.initial_soc == 0.0


def test_estimated_durations_follow_the_reference_ocv(plan: Plan) -> None:
    # NMC622 charged to 4.3 V vs Li gives ~177 mAh/g of its 276.6 mAh/g: SOC 0.64, so C/60 takes 0.64 x 60 h.
    # The discharge to 2.7 V vs Li gives it all back (the curve is below 2.7 V only past full lithiation).
    # The hold is a guess and says so; rests are their durations. The thesis run took 67 h in all; the old
    # full-capacity estimate said 123 h.
    charge_hours = 177 / 276.6 * 60
    assert [step.estimated_duration / HOUR for step in plan.steps] == pytest.approx(
        [0.5, charge_hours, 2, 0.5, charge_hours], rel=1e-2
    )
    assert "reference OCV of NMC622" in plan.steps[1].notes["estimate"]
    assert "guess" in plan.steps[2].notes["estimate"]
    assert plan.estimated_duration == pytest.approx((3 + 2 * charge_hours) * HOUR, rel=1e-2)
    # the state-of-charge walk: empty, 64 % at the end of the charge, held there, then empty again
    socs = [value for step in plan.steps for value in step.notes["soc"]]
    assert socs == pytest.approx([0, 0, 0, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0], abs=0.01)


def test_source_text_and_steps_are_kept(plan: Plan) -> None:
    assert plan.source_text == EXAMPLE.read_text()
    assert plan.source_path == str(EXAMPLE)
    assert [step.index for step in plan.steps] == list(range(len(plan.steps)))
    assert [step.source for step in plan.steps] == [
        "steps[0]",
        "steps[1]",
        "steps[1].hold",
        "steps[1].rest",
        "steps[2]",
    ]
