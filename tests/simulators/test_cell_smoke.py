"""The cell simulator's contract surface: import path, readings, ground truth, input validation."""

import math

import numpy as np
import pytest
from operando.simulators.cell import CellParameters, Reading, SimulatedCell


def test_contract_surface_and_charge_direction():
    cell = SimulatedCell(CellParameters(), seed=3)
    start = cell.ocv
    reading = cell.apply_current(15e-6, 60.0)
    assert isinstance(reading, Reading)
    assert cell.time == 60.0
    assert reading.I_true == 15e-6
    assert reading.E_true > start  # positive current charges: voltage up
    assert cell.soc > 0 and cell.surface_soc > cell.soc
    assert cell.impedance(np.array([1.0, 1e3])).dtype == complex
    for name in ("diffusion_coefficient", "particle_radius", "series_resistance"):
        assert getattr(cell, name) > 0
    held = cell.apply_voltage(reading.E_true, 1.0)
    assert math.isclose(held.E_true, reading.E_true, abs_tol=1e-9)


@pytest.mark.parametrize("field, value", [("capacity", -1.0), ("initial_soc", 1.5), ("material", "NMC811x"),
                                          ("stack_pressure", 0.0), ("diffusion_coefficient", float("nan")),
                                          ("contact_loss", 1.5), ("decohesion_onset_soc", 0.7),
                                          ("lithiated_diffusion_ratio", 2.0), ("passivation_fraction", 0.0),
                                          ("electrolyte_oxidation_rate", -1e-6), ("holding_pressure", 0.0)])
def test_bad_parameter_names_field_and_value(field, value):
    with pytest.raises(ValueError, match=field):
        CellParameters(**{field: value})


@pytest.mark.parametrize("call, args", [("apply_current", (float("inf"), 1.0)),
                                        ("apply_voltage", (3.0, -1.0)), ("rest", (float("nan"),))])
def test_bad_call_arguments_are_refused(call, args):
    with pytest.raises(ValueError, match="current|voltage|dt"):
        getattr(SimulatedCell(CellParameters()), call)(*args)
