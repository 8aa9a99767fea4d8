"""The cell model against hand-computed numbers, analytic solutions and the thesis run."""

import math

import pytest
from operando.simulators.cell import CellParameters, SimulatedCell

from operando.ocv import curve_for

QUIET = {"voltage_noise": 0.0, "current_noise": 0.0}
# The equivalent circuit alone: no contact loss, no electrolyte oxidation, no slowing of lithiated diffusion.
LINEAR = {**QUIET, "contact_loss": 0.0, "electrolyte_oxidation_rate": 0.0, "lithiated_diffusion_ratio": 1.0}


def test_soc_change_is_charge_over_capacity():
    # 1 mAh cell (3.6 C); 1 mA for 360 s passes 0.36 C = 0.1 of capacity, then 0.5 mA back for 144 s.
    cell = SimulatedCell(CellParameters(capacity=3.6, initial_soc=0.2, **QUIET))
    for _ in range(36):
        cell.apply_current(1e-3, 10.0)
    assert cell.soc == pytest.approx(0.3, abs=1e-12)
    cell.apply_current(-0.5e-3, 144.0)
    assert cell.soc == pytest.approx(0.28, abs=1e-12)
    cell.rest(3600.0)
    assert cell.soc == pytest.approx(0.28, abs=1e-12)


def test_series_resistance_follows_stack_pressure_power_law():
    # R = 60 ohm * (25 MPa / P) ** 0.5
    assert CellParameters().series_resistance == pytest.approx(60 * (25e6 / 15e3) ** 0.5, rel=1e-12)
    assert CellParameters(stack_pressure=25e6).series_resistance == pytest.approx(60.0)
    assert CellParameters(stack_pressure=127e6).series_resistance == pytest.approx(26.62, abs=0.01)
    warm = CellParameters(temperature=318.15)
    assert warm.series_resistance < CellParameters().series_resistance


def test_ir_jump_on_a_current_step_is_current_times_series_resistance():
    params = CellParameters(initial_soc=0.3, diffusion_modes=200, **QUIET)
    cell = SimulatedCell(params)
    before = cell.rest(60.0).E_true
    after = cell.apply_current(20e-6, 0.0).E_true  # the instant the current starts
    expected = 20e-6 * 60 * (25e6 / 15e3) ** 0.5  # 48.99 mV
    assert after - before == pytest.approx(expected, rel=2e-3)
    # Same jump back when the current stops.
    assert cell.rest(0.0).E_true == pytest.approx(before, abs=1e-7)


def test_charge_transfer_relaxation_is_the_analytic_exponential():
    # Slow interface (tau = 1 kOhm * 10 mF = 10 s) and fast diffusion so only the R||C relaxes.
    params = CellParameters(initial_soc=0.3, charge_transfer_resistance=1e3, double_layer_capacitance=10e-3,
                            diffusion_coefficient=1e-12, **LINEAR)
    cell = SimulatedCell(params)
    current = 10e-6
    cell.apply_current(current, 200.0)  # 20 time constants: the interface carries I * R_ct = 10 mV
    cell.rest(0.0)
    settled = cell.ocv
    for elapsed in (2.0, 5.0, 10.0, 20.0):
        cell.rest(elapsed - (cell.time - 200.0))
        expected = current * 1e3 * math.exp(-elapsed / 10.0)
        assert cell.voltage - settled == pytest.approx(expected, abs=5e-6)


def test_end_state_does_not_depend_on_the_interval():
    def run(dt):
        cell = SimulatedCell(CellParameters(initial_soc=0.2, **LINEAR))
        for _ in range(int(7200 / dt)):
            cell.apply_current(30e-6, dt)
        for _ in range(int(1800 / dt)):
            cell.rest(dt)
        galvanostatic = (cell.soc, cell.voltage)
        for _ in range(int(3600 / dt)):
            reading = cell.apply_voltage(3.35, dt)
        return galvanostatic, (cell.soc, reading.I_true)

    (soc_fine, e_fine), (held_fine, i_fine) = run(1.0)
    (soc_coarse, e_coarse), (held_coarse, i_coarse) = run(60.0)
    # Constant current is integrated exactly whatever the interval.
    assert soc_coarse == pytest.approx(soc_fine, abs=1e-12)
    assert e_coarse == pytest.approx(e_fine, abs=1e-9)
    # A potentiostatic hold is solved interval by interval: close, not identical.
    assert held_coarse == pytest.approx(held_fine, abs=2e-4)
    assert i_coarse == pytest.approx(i_fine, rel=0.02)


def test_one_long_interval_equals_many_millisecond_ones():
    one, many = SimulatedCell(CellParameters(**LINEAR)), SimulatedCell(CellParameters(**LINEAR))
    one.apply_current(15e-6, 60.0)
    for _ in range(60000):
        many.apply_current(15e-6, 1e-3)
    assert many.time == pytest.approx(60.0, abs=1e-9)
    assert one.surface_soc == pytest.approx(many.surface_soc, abs=1e-12)
    assert one.voltage == pytest.approx(many.voltage, abs=1e-9)


def test_potentiostatic_step_ends_at_the_set_voltage_and_charges_the_cell():
    cell = SimulatedCell(CellParameters(initial_soc=0.3, **QUIET))
    target = cell.ocv + 0.05
    for dt in (1e-3, 1.0, 600.0):
        reading = cell.apply_voltage(target, dt)
        assert reading.E_true == pytest.approx(target, abs=1e-9)
        assert reading.I_true > 0
    # 50 mV over series plus interface resistance is the largest current it can draw.
    assert reading.I_true < 0.05 / cell.series_resistance


def test_same_seed_same_readings_and_noise_has_the_set_size():
    def readings(seed):
        cell = SimulatedCell(CellParameters(voltage_noise=1e-3, current_noise=1e-8), seed=seed)
        return [cell.apply_current(15e-6, 1.0) for _ in range(2000)]

    first, again, other = readings(7), readings(7), readings(8)
    assert first == again
    assert first != other
    errors = [r.E_we - r.E_true for r in first]
    assert math.sqrt(sum(e * e for e in errors) / len(errors)) == pytest.approx(1e-3, rel=0.1)
    assert all(r.I_true == 15e-6 for r in first)


def test_surface_leads_mean_by_the_steady_spherical_value():
    # Steady lead r^2 I / (15 Q D) once the transient has died (r^2 / (pi^2 D) ~ 1.3e3 s).
    params = CellParameters(initial_soc=0.3, **LINEAR)
    cell = SimulatedCell(params)
    current = params.capacity / (20 * 3600)
    for _ in range(20):
        cell.apply_current(current, 600.0)
    expected = (5e-6) ** 2 * current / (15 * params.capacity * 2e-15)
    assert cell.surface_soc - cell.connected_soc == pytest.approx(expected, rel=1e-3)


def test_from_cell_takes_capacity_counter_electrode_and_material():
    from operando.plan import CellSummary

    summary = CellSummary(name="glass cell", material="vanadate glass", formula=None, active_mass=2e-6,
                          specific_capacity=1.44e6, capacity=2.88, electrons=1, working_ion="Li",
                          counter_electrode="Li", counter_potential=0.0, initial_soc=1.0)
    params = CellParameters.from_cell(summary, stack_pressure=50e6)
    assert (params.material, params.capacity, params.counter_potential, params.initial_soc) == (
        "glass", 2.88, 0.0, 1.0)
    assert params.stack_pressure == 50e6
    assert SimulatedCell(params).ocv == pytest.approx(curve_for("glass").value(1.0))
    with pytest.raises(ValueError, match="stack_presure"):
        CellParameters.from_cell(summary, stack_presure=1.0)
    with pytest.raises(ValueError, match="cell.material"):  # NVP (Na3V2(PO4)3) is simulated now; this is not
        CellParameters.from_cell(CellSummary(**{**summary.__dict__, "material": "unobtainium"}))


def cv_anodic_peak(scan_rate, stack_pressure):
    """Potential (V) and current (A) of the anodic peak of an LFP-like cell swept 3.3 -> 3.7 V vs Li."""
    params = CellParameters(material="LFP", capacity=0.01, initial_soc=0.05, counter_potential=0.0,
                            stack_pressure=stack_pressure, **QUIET)
    cell = SimulatedCell(params)
    voltage, peak = 3.3, (0.0, 0.0)
    while voltage < 3.7:
        voltage += scan_rate * 1.0
        reading = cell.apply_voltage(voltage, 1.0)
        peak = max(peak, (reading.I_true, voltage))
    return peak[1], peak[0]


def test_cv_peak_moves_out_and_grows_with_scan_rate_more_so_at_low_pressure():
    slow, fast = cv_anodic_peak(1e-4, 15e3), cv_anodic_peak(1e-3, 15e3)
    assert fast[0] > slow[0] + 0.02  # polarisation pushes the peak out
    assert fast[1] > 2 * slow[1]
    pressed_slow, pressed_fast = cv_anodic_peak(1e-4, 25e6), cv_anodic_peak(1e-3, 25e6)
    assert pressed_fast[0] - pressed_slow[0] < fast[0] - slow[0]
    assert pressed_slow[0] > 3.43  # never before the plateau


def test_warmer_cell_diffuses_faster_by_arrhenius():
    warm = SimulatedCell(CellParameters(temperature=318.15))
    factor = math.exp(30e3 / 8.314462618 * (1 / 298.15 - 1 / 318.15))  # 2.14
    assert warm.diffusion_coefficient == pytest.approx(2e-15 * factor, rel=1e-9)
    assert warm.charge_transfer_resistance == pytest.approx(1e3 / factor, rel=1e-9)
