"""First-cycle losses of the simulated cell: the thesis timings, conservation of charge, contact loss by hand,
the passivating electrolyte oxidation by hand, slow lithiated diffusion, and invariants on random drives."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.cell.degradation import ElectrolyteOxidation

HOUR = 3600.0
QUIET = {"voltage_noise": 0.0, "current_noise": 0.0}
NO_OXIDATION = {"electrolyte_oxidation_rate": 0.0}


def thesis_run(params: CellParameters, dt: float = 60.0, seed: int = 1) -> dict:
    """examples/thesis_nmc622.toml on the bare cell: 30 min OCV, 15 uA to 3.68 V (4.3 V vs Li), hold to 3 uA,
    30 min rest, -15 uA to 2.08 V (2.7 V vs Li); readings as the potentiostat would see them every ``dt``."""
    cell = SimulatedCell(params, seed=seed)
    passed, isolated = 0.0, [0.0]

    def step(reading, interval=dt):
        nonlocal passed
        passed += reading.I_true * interval  # the current is constant over each interval
        isolated.append(cell.isolated_fraction)
        return reading

    for _ in range(round(1800 / dt)):
        reading = step(cell.rest(dt))
    while reading.E_we < 4.3 - 0.62:
        reading = step(cell.apply_current(15e-6, dt))
    end_of_charge = cell.time
    hold = min(dt, 10.0)  # the cell solves a hold on <= 10 s pieces: one constant current per call
    while reading.I > 3e-6:
        reading = step(cell.apply_voltage(4.3 - 0.62, hold), hold)
    end_of_hold, charged = cell.time, passed
    for _ in range(round(1800 / dt)):
        reading = step(cell.rest(dt))
    while reading.E_we > 2.7 - 0.62:
        reading = step(cell.apply_current(-15e-6, dt))
    return {"cell": cell, "end_of_charge": end_of_charge, "end_of_hold": end_of_hold, "end": cell.time,
            "charged": charged, "passed": passed, "isolated": isolated}


@pytest.fixture(scope="module")
def thesis():
    return thesis_run(CellParameters())


def test_thesis_timings(thesis):
    # Thesis: charge including the hold about 44 h, end of discharge at 67 h (15 uA, C/60, 15 kPa).
    assert thesis["end_of_charge"] < thesis["end_of_hold"]
    assert 42 * HOUR <= thesis["end_of_hold"] <= 46 * HOUR
    assert 64 * HOUR <= thesis["end"] <= 70 * HOUR
    # The discharge gives back far less than the charge took: 15 uA for 64-70 h minus 44.5 h.
    cell = thesis["cell"]
    discharged = thesis["charged"] - thesis["passed"]
    assert discharged == pytest.approx(15e-6 * (thesis["end"] - thesis["end_of_hold"] - 1800), rel=1e-3)
    assert 0.5 < discharged / thesis["charged"] < 0.7
    assert cell.parasitic_charge > 0 and cell.isolated_fraction > 0.2


def test_charge_passed_is_delithiation_plus_parasitic_charge(thesis):
    cell = thesis["cell"]
    # The potentiostat's count, summed by hand from the readings, against the cell's own ledger.
    assert cell.soc * cell.capacity == pytest.approx(thesis["passed"], rel=1e-9)
    delithiated = cell.material_soc * cell.capacity
    assert thesis["passed"] == pytest.approx(delithiated + cell.parasitic_charge, rel=1e-9)
    x = cell.isolated_fraction
    assert cell.material_soc == pytest.approx((1 - x) * cell.connected_soc + x * cell.isolated_soc, abs=1e-12)


def test_isolated_fraction_never_decreases_and_keeps_the_soc_of_the_end_of_charge(thesis):
    isolated = thesis["isolated"]
    assert all(b >= a for a, b in zip(isolated, isolated[1:], strict=False))
    cell = thesis["cell"]
    # Cut off between the onset (SOC 0.55) and the top of the charge: still delithiated after the discharge.
    assert 0.55 < cell.isolated_soc < 0.68
    assert cell.connected_soc < 0.1


def test_contact_loss_by_hand_and_eased_by_stack_pressure():
    def charge_to(soc, **changes):
        cell = SimulatedCell(CellParameters(**QUIET, **NO_OXIDATION, **changes))
        while cell.connected_soc < soc:
            cell.apply_current(15e-6, 10.0)  # < 1e-4 SOC a step
        return cell

    cell = charge_to(0.64)
    # 0.35 at SOC 0.64 and negligible pressure, times 1 / (1 + 15 kPa / 5 MPa).
    assert cell.isolated_fraction == pytest.approx(0.35 / (1 + 15e3 / 5e6), abs=1e-3)
    # Isolation grows as SOC^2 from 0.55: the isolated part's mean SOC is the s-weighted mean of s there.
    expected = 2 / 3 * (0.64**3 - 0.55**3) / (0.64**2 - 0.55**2)  # 0.5961
    assert cell.isolated_soc == pytest.approx(expected, abs=1e-3)
    assert charge_to(0.55).isolated_fraction == pytest.approx(0.0, abs=1e-3)
    pressed = charge_to(0.64, stack_pressure=25e6)
    assert pressed.isolated_fraction == pytest.approx(0.35 / (1 + 25e6 / 5e6), abs=1e-3)
    # An electrode assembled charged (SOC 0.6) counts shrinkage from there: no loss up to 0.64.
    assert charge_to(0.64, initial_soc=0.6).isolated_fraction == 0.0


def test_electrolyte_oxidation_passivates_by_the_exact_law():
    oxidation = ElectrolyteOxidation(1e-6, 4.3, 0.25, 1e-3)
    # q + q^2 / (2 q_pass) = i t: 1 uA for 1000 s against 1 mC gives q = (sqrt(3) - 1) mC.
    assert oxidation.charge_after(4.3, 0.0, 1000.0) == pytest.approx((math.sqrt(3) - 1) * 1e-3, rel=1e-12)
    stepped = 0.0
    for _ in range(1000):
        stepped = oxidation.charge_after(4.3, stepped, 1.0)
    assert stepped == pytest.approx((math.sqrt(3) - 1) * 1e-3, rel=1e-12)
    # One decade per Tafel slope; half the rate once q_pass has passed.
    assert oxidation.rate(4.05) == pytest.approx(1e-7, rel=1e-12)
    assert oxidation.current(4.3, 1e-3) == pytest.approx(0.5e-6, rel=1e-12)


def test_a_discharge_stopped_by_slow_lithiated_diffusion_recovers_at_rest():
    def discharged(**changes):
        cell = SimulatedCell(CellParameters(initial_soc=0.5, **QUIET, **NO_OXIDATION, **changes))
        reading = cell.rest(60.0)
        while reading.E_we > 2.08:
            reading = cell.apply_current(-15e-6, 60.0)
        return cell

    fast = discharged(lithiated_diffusion_ratio=1.0)
    slow = discharged()
    assert fast.connected_soc < 0.01  # only the steady spherical lead (~0.5 %) is left
    assert slow.connected_soc > 0.03  # a lithiated shell stopped it with lithium still to take
    for _ in range(10):
        slow.rest(3600.0)
    assert slow.voltage == pytest.approx(slow.ocv, abs=0.01)
    assert slow.voltage > 3.62 - 0.62  # relaxed to the OCV of the mean, far above the cut-off


def test_other_families_have_no_contact_loss_or_slowing_unless_asked():
    glass = CellParameters(material="glass", initial_soc=1.0, counter_potential=0.0)
    assert (glass.contact_loss, glass.lithiated_diffusion_ratio) == (0.0, 1.0)
    assert CellParameters(material="LFP").contact_loss == 0.0
    assert CellParameters(material="LFP", contact_loss=0.2).contact_loss == 0.2
    assert CellParameters().contact_loss == 0.35 and CellParameters().lithiated_diffusion_ratio == 0.01


def test_thesis_timings_barely_depend_on_the_interval():
    fine, coarse = thesis_run(CellParameters(), dt=10.0), thesis_run(CellParameters(), dt=600.0)
    assert coarse["end_of_hold"] == pytest.approx(fine["end_of_hold"], abs=0.25 * HOUR)
    assert coarse["end"] == pytest.approx(fine["end"], abs=0.75 * HOUR)


drives = st.lists(st.tuples(st.sampled_from(["current", "voltage", "rest"]),
                            st.floats(-60e-6, 60e-6), st.floats(1.9, 3.8), st.floats(0.0, 7200.0)),
                  min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(drives, st.floats(0.0, 0.7))
def test_any_drive_conserves_charge_and_never_reconnects(drive, initial_soc):
    cell = SimulatedCell(CellParameters(initial_soc=initial_soc, **QUIET))
    passed, isolated, parasitic = 0.0, 0.0, 0.0
    for kind, current, voltage, dt in drive:
        if kind == "current":
            reading = cell.apply_current(current, dt)
        elif kind == "voltage":
            reading = cell.apply_voltage(voltage, min(dt, 600.0))
            dt = min(dt, 600.0)
        else:
            reading = cell.rest(dt)
        if kind != "voltage":
            passed += reading.I_true * dt
        else:  # a hold is solved on sub-intervals: take the potentiostat's count, checked against the ledger
            passed = (cell.soc - initial_soc) * cell.capacity
        assert cell.isolated_fraction >= isolated and cell.parasitic_charge >= parasitic
        isolated, parasitic = cell.isolated_fraction, cell.parasitic_charge
        assert math.isfinite(reading.E_true) and 0.0 <= isolated <= 0.95
    assert (cell.soc - initial_soc) * cell.capacity == pytest.approx(passed, rel=1e-9, abs=1e-12)
    delithiated = (cell.material_soc - initial_soc) * cell.capacity
    assert passed == pytest.approx(delithiated + cell.parasitic_charge, rel=1e-9, abs=1e-12)
