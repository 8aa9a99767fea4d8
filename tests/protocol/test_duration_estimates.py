"""Constant-current steps to a voltage are estimated from the material's reference OCV, by hand here."""

import pytest

from operando.protocol import loads_protocol, resolve

HOUR = 3600.0
# NMC622 reaches 4.3 V vs Li at ~177 of its 276.5 mAh/g (operando.ocv's curve; the usual practical figure).
NMC_SOC_AT_4V3 = 177 / 276.5


def protocol(cell: str, steps: str) -> str:
    return f"""
[cell]
{cell}
counter_electrode = "Li"

[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "5 mA"
duration_max = "300 h"

{steps}
"""


CHARGE_TO_4V3 = """
[[steps]]
technique = "constant_current"
current = "C/10"
until.voltage = "4.3 V vs Li"
"""


def test_a_charge_starts_from_the_initial_state_of_charge() -> None:
    plan = resolve(
        loads_protocol(
            protocol('material = "NMC622"\nactive_mass = "3 mg"\ninitial_soc = "20 %"', CHARGE_TO_4V3)
        )
    )
    (step,) = plan.steps
    assert step.estimated_duration == pytest.approx((NMC_SOC_AT_4V3 - 0.2) * 10 * HOUR, rel=1e-2)
    assert step.notes["soc"] == pytest.approx([0.2, NMC_SOC_AT_4V3], abs=0.005)


def test_a_practical_capacity_rescales_the_curve() -> None:
    # 1C = 180 mAh/g; 4.3 V is still at 177 mAh/g of the material: C/10 takes 177/180 x 10 h.
    plan = resolve(
        loads_protocol(
            protocol(
                'material = "NMC622"\nactive_mass = "3 mg"\nspecific_capacity = "180 mAh/g"', CHARGE_TO_4V3
            )
        )
    )
    assert plan.steps[0].estimated_duration == pytest.approx(177 / 180 * 10 * HOUR, rel=1e-2)


def test_a_material_without_a_reference_curve_keeps_the_full_capacity_and_says_so() -> None:
    plan = resolve(loads_protocol(protocol('material = "LCO"\nactive_mass = "3 mg"', CHARGE_TO_4V3)))
    (step,) = plan.steps
    assert step.estimated_duration == pytest.approx(10 * HOUR, rel=1e-6)
    assert "no reference OCV curve for 'LCO'" in step.notes["estimate"]


def test_a_time_limit_shorter_than_the_voltage_wins() -> None:
    steps = CHARGE_TO_4V3 + 'until.time = "3 h"\n'
    plan = resolve(loads_protocol(protocol('material = "NMC622"\nactive_mass = "3 mg"', steps)))
    assert plan.steps[0].estimated_duration == pytest.approx(3 * HOUR)
    assert plan.steps[0].notes["soc"] == pytest.approx([0, 0.3])


def test_gitt_expects_the_pulses_up_to_the_voltage() -> None:
    steps = """
[[steps]]
technique = "gitt"
current = "C/10"
pulse = "1 h"
rest = "2 h"
until.voltage = "4.3 V vs Li"
particle_radius = "5 um"
"""
    plan = resolve(loads_protocol(protocol('material = "NMC622"\nactive_mass = "3 mg"', steps)))
    expected = [
        step for step in plan.steps if step.notes["gitt"]["expected"] and step.name.startswith("GITT pulse")
    ]
    assert len(expected) == 7  # 0.64 x 10 h of charge in 1 h pulses: 6.4, so the 7th reaches 4.3 V
    assert plan.estimated_duration == pytest.approx(7 * 3 * HOUR)


def test_a_hold_until_the_current_decays_ends_at_its_equilibrium_state_of_charge() -> None:
    steps = """
[[steps]]
technique = "constant_voltage"
voltage = "4.3 V vs Li"
until.current = "1 uA"

[[steps]]
technique = "constant_current"
current = "D/10"
until.voltage = "3.0 V vs Li"
"""
    plan = resolve(loads_protocol(protocol('material = "NMC622"\nactive_mass = "3 mg"', steps)))
    hold, discharge = plan.steps
    assert hold.notes["soc"] == pytest.approx([0, NMC_SOC_AT_4V3], abs=0.005)
    # and the discharge from there to empty takes 0.64 x 10 h
    assert discharge.estimated_duration == pytest.approx(NMC_SOC_AT_4V3 * 10 * HOUR, rel=1e-2)
