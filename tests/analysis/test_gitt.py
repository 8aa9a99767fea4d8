"""GITT analysis: the Weppner-Huggins relation on hand-built transients, and recovery of the simulator's D."""

import math

import numpy as np
import pytest
from operando.simulators.cell import CellParameters, SimulatedCell

from operando.analysis.gitt import analyse_gitt, find_pulses


def synthetic_pulse(root_slope=0.0005, steady=0.005, curvature=0.0):
    """Rest 1000 s at 3.8 V, 400 s pulse of 10 uA (IR 20 mV, then 0.5 mV/sqrt(s)), rest 3000 s at 3.805 V."""
    t = np.arange(0.0, 4401.0, 1.0)
    e = np.full_like(t, 3.8)
    i = np.zeros_like(t)
    pulse = (t > 1000) & (t <= 1400)
    elapsed = t[pulse] - 1000
    e[pulse] = 3.8 + 0.02 + root_slope * np.sqrt(elapsed) + curvature * elapsed
    i[pulse] = 10e-6
    e[t > 1400] = 3.8 + steady
    return t, e, i


def test_hand_computed_weppner_huggins_value():
    # r = 3 um -> V/S = 1 um; tau = 400 s; dE_s = 5 mV; dE_t = 10 mV:
    # D = 4 / (pi 400 s) * (1e-6 m)^2 * (5 / 10)^2 = 7.9577e-16 m^2/s
    t, e, i = synthetic_pulse()
    (pulse,) = analyse_gitt(t, e, i, particle_radius=3e-6, pulses=[(1000.0, 1400.0)])
    assert pulse.duration == pytest.approx(400.0)
    assert pulse.steady_state_change == pytest.approx(0.005, abs=1e-12)
    assert pulse.transient_change == pytest.approx(0.010, rel=1e-6)
    assert pulse.ir_drop == pytest.approx(0.02 + 0.0005, abs=1e-9)  # jump plus the first second of transient
    assert pulse.diffusion_coefficient == pytest.approx(4 / (math.pi * 400) * 1e-12 * 0.25, rel=1e-5)
    assert pulse.current == pytest.approx(10e-6)
    assert pulse.valid, pulse.problems
    # The same geometry given as V/S directly, and pulses found from the current.
    (same,) = analyse_gitt(t, e, i, volume_to_surface=1e-6)
    assert same.diffusion_coefficient == pytest.approx(pulse.diffusion_coefficient, rel=0.01)


def test_finite_size_term_does_not_bias_the_initial_slope():
    # A transient a + b sqrt(t) + c t (finite particle, curved OCV) keeps b as the Weppner-Huggins slope.
    t, e, i = synthetic_pulse(curvature=2e-5)
    (pulse,) = analyse_gitt(t, e, i, particle_radius=3e-6, pulses=[(1000.0, 1400.0)])
    assert pulse.transient_change == pytest.approx(0.010, rel=1e-6)


def test_state_of_charge_and_charge_are_counted_from_the_current():
    t, e, i = synthetic_pulse()
    (pulse,) = analyse_gitt(t, e, i, particle_radius=3e-6, capacity=0.04, initial_soc=0.5,
                            pulses=[(1000.0, 1400.0)])
    # Mid-pulse: 200 s at 10 uA = 2 mC of 40 mC.
    assert pulse.charge == pytest.approx(2e-3, rel=1e-12)
    assert pulse.soc == pytest.approx(0.5 + 2e-3 / 0.04, abs=1e-12)


def test_a_transient_not_linear_in_sqrt_time_is_flagged():
    t, e, i = synthetic_pulse()
    pulse_points = (t > 1000) & (t <= 1400)
    e[pulse_points] = 3.82 + 0.01 * (1 - np.exp(-(t[pulse_points] - 1000) / 15.0))
    (pulse,) = analyse_gitt(t, e, i, particle_radius=3e-6, pulses=[(1000.0, 1400.0)])
    assert not pulse.valid
    assert any("sqrt(t)" in problem for problem in pulse.problems)


def test_a_rest_still_relaxing_is_flagged():
    t, e, i = synthetic_pulse()
    after = t > 1400
    e[after] = 3.805 + 0.004 * np.exp(-(t[after] - 1400) / 5000.0)
    (pulse,) = analyse_gitt(t, e, i, particle_radius=3e-6, pulses=[(1000.0, 1400.0)])
    assert any("relaxing" in problem for problem in pulse.problems)


def test_find_pulses_returns_runs_of_current():
    current = np.array([0, 0, 1e-5, 1e-5, 0, 0, -1e-5, -1e-5, -1e-5, 0, 1e-5])
    assert find_pulses(np.arange(current.size), current) == [(2, 4), (6, 9), (10, 11)]
    assert find_pulses(np.arange(3), np.zeros(3)) == []


@pytest.mark.parametrize("change, message", [
    ({"time": [0.0, 2.0, 1.0]}, "time"),
    ({"voltage": [3.8, float("nan"), 3.8]}, "voltage"),
    ({"current": [0.0, 1e-5]}, "lengths"),
])
def test_bad_arrays_name_the_problem(change, message):
    arrays = {"time": [0.0, 1.0, 2.0], "voltage": [3.8, 3.81, 3.8], "current": [0.0, 1e-5, 0.0]}
    arrays.update(change)
    with pytest.raises(ValueError, match=message):
        analyse_gitt(arrays["time"], arrays["voltage"], arrays["current"], particle_radius=5e-6)


def test_geometry_must_be_given_once_and_positive():
    t, e, i = synthetic_pulse()
    with pytest.raises(ValueError, match="exactly one"):
        analyse_gitt(t, e, i)
    with pytest.raises(ValueError, match="exactly one"):
        analyse_gitt(t, e, i, particle_radius=1e-6, volume_to_surface=1e-6)
    with pytest.raises(ValueError, match="particle_radius"):
        analyse_gitt(t, e, i, particle_radius=-1e-6)
    with pytest.raises(ValueError, match=r"pulses\[0\]"):
        analyse_gitt(t, e, i, particle_radius=1e-6, pulses=[(1400.0, 1000.0)])


def run_gitt_on_simulator(diffusion_coefficient, pulse=600, rest=5400, seed=4):
    """C/20 pulses of 10 min, 1.5 h rests, pristine to 4.3 V vs Li; sampled every 1 s (pulse), 10 s (rest)."""
    # The equivalent circuit alone: first-cycle losses (contact loss, electrolyte oxidation drifting the
    # rests, slow lithiated diffusion) would blur the D under test.
    params = CellParameters(diffusion_coefficient=diffusion_coefficient, contact_loss=0.0,
                            electrolyte_oxidation_rate=0.0, lithiated_diffusion_ratio=1.0)
    cell = SimulatedCell(params, seed=seed)
    current = params.capacity / (20 * 3600)
    t, e, i = [], [], []
    applied = 0

    def record(reading):
        t.append(cell.time)
        e.append(reading.E_we)
        i.append(reading.I)

    for _ in range(rest // 10):
        record(cell.rest(10.0))
    while cell.ocv + params.counter_potential < 4.3:
        applied += 1
        for _ in range(pulse):
            record(cell.apply_current(current, 1.0))
        for _ in range(rest // 10):
            record(cell.rest(10.0))
    pulses = analyse_gitt(t, e, i, particle_radius=cell.particle_radius, capacity=params.capacity)
    assert len(pulses) == applied
    return cell, pulses


def test_gitt_recovers_the_simulated_diffusion_coefficient():
    cell, pulses = run_gitt_on_simulator(2e-15)
    assert len(pulses) > 70  # 1/120 of capacity per pulse, up to SOC ~0.64
    for pulse in pulses:
        assert pulse.duration == pytest.approx(600.0)
        assert pulse.current == pytest.approx(cell.capacity / (20 * 3600), rel=1e-3)
    middle = [p for p in pulses if 0.1 <= p.soc <= 0.6]
    assert len(middle) > 50
    for pulse in middle:
        assert pulse.valid, (pulse.soc, pulse.problems)
        assert pulse.diffusion_coefficient == pytest.approx(cell.diffusion_coefficient, rel=0.2), pulse.soc
    # tau / (r^2 / D) = 600 s / 12500 s
    assert np.median([p.dimensionless_time for p in middle]) == pytest.approx(0.048, rel=0.2)


def test_pulses_too_long_for_the_particle_are_flagged():
    # D = 1e-14: r^2 / D = 2500 s, a 600 s pulse is far from the short-time limit.
    _, pulses = run_gitt_on_simulator(1e-14, rest=3600)
    middle = [p for p in pulses if 0.1 <= p.soc <= 0.6]
    assert middle and all(not p.valid for p in middle)
    assert all(any("too long" in problem for problem in p.problems) for p in middle)
