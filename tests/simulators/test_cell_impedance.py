"""Impedance of the simulated cell: analytic limits, and agreement with the time-domain model."""

import math

import numpy as np
import pytest
from operando.simulators.cell import CellParameters, SimulatedCell

QUIET = {"voltage_noise": 0.0, "current_noise": 0.0}


@pytest.fixture
def cell():
    return SimulatedCell(CellParameters(initial_soc=0.45, **QUIET))


def test_high_frequency_is_inductive_from_the_cables(cell):
    z = cell.impedance(np.array([7e6]))[0]
    assert z.imag > 0
    assert z.imag == pytest.approx(2 * math.pi * 7e6 * 2e-6, rel=1e-3)  # omega L, 2 uH


def test_real_part_at_high_frequency_is_the_series_resistance(cell):
    z = cell.impedance(np.array([1e6]))[0]
    assert z.real == pytest.approx(60 * (25e6 / 15e3) ** 0.5, rel=1e-3)


def test_charge_transfer_arc_peaks_at_the_interface_time_constant(cell):
    # R||C: -Im peaks at f = 1 / (2 pi R C) = 79.6 Hz, height R / 2 = 500 ohm (diffusion adds little there).
    frequencies = np.logspace(0.5, 3.5, 301)
    z = cell.impedance(frequencies)
    peak = frequencies[np.argmax(-z.imag)]
    assert peak == pytest.approx(1 / (2 * math.pi * 1e3 * 2e-6), rel=0.05)
    assert (-z.imag).max() == pytest.approx(500.0, rel=0.03)


def test_low_frequency_diffusion_tail_is_at_45_degrees_then_capacitive(cell):
    # Semi-infinite region: r^2 omega / D >> 1 and well below the interface arc.
    z = cell.impedance(np.array([0.02, 0.2]))
    step = z[0] - z[1]
    assert math.degrees(math.atan2(-step.imag, step.real)) == pytest.approx(45.0, abs=3.0)
    # Far below D / r^2 (8e-5 Hz) the finite particle fills up: a nearly vertical capacitive line.
    z = cell.impedance(np.array([1e-7, 2e-7]))
    step = z[0] - z[1]
    assert math.degrees(math.atan2(-step.imag, step.real)) > 85.0


def test_impedance_matches_the_time_domain_response_to_a_small_sine():
    for frequency, dt in ((1.0, 1e-3), (0.01, 0.5)):
        cell = SimulatedCell(CellParameters(initial_soc=0.45, **QUIET))
        per_period = round(1 / (frequency * dt))
        periods = 6 if frequency > 0.1 else 40  # let the slowest diffusion mode settle (~600 s)
        times, volts, amps = [], [], []
        for k in range(per_period * periods):
            reading = cell.apply_current(1e-6 * math.sin(2 * math.pi * frequency * (k + 0.5) * dt), dt)
            times.append(cell.time)
            volts.append(reading.E_true)
            amps.append(reading.I_true)
        window = slice(-2 * per_period, None)
        t = np.array(times[window])
        basis = np.vstack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t),
                           np.ones_like(t), t]).T
        v = np.linalg.lstsq(basis, np.array(volts[window]), rcond=None)[0]
        i = np.linalg.lstsq(basis, np.array(amps[window]), rcond=None)[0]
        measured = (v[0] + 1j * v[1]) / (i[0] + 1j * i[1])
        expected = cell.impedance(np.array([frequency]))[0]
        assert abs(measured - expected) / abs(expected) < 0.01


def test_bad_frequencies_are_refused(cell):
    with pytest.raises(ValueError, match="frequencies"):
        cell.impedance(np.array([1.0, 0.0]))
