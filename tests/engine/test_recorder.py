"""Charge, state of charge and labels of recorded points, against hand-computed numbers."""

import numpy as np
import pytest

from operando.engine.recorder import ChargeCounter, Recorder, StepRecord
from operando.roles.potentiostat import Point
from operando.techniques import ConstantCurrent
from operando.timeline import DeviceClock
from tests.engine.plans import CAPACITY, THESIS_CELL, step


def test_charge_is_the_trapezoid_integral_continued_across_batches() -> None:
    counter = ChargeCounter()
    first = counter.add(np.array([0.0, 10.0]), np.array([1.0, 1.0]))
    second = counter.add(np.array([20.0, 30.0]), np.array([2.0, 2.0]))
    # Slices by hand: 10 s at 1 A = 10 C, then 10 s from 1 to 2 A = 15 C, then 10 s at 2 A = 20 C.
    assert first.tolist() == [0.0, 10.0]
    assert second.tolist() == [25.0, 45.0]
    assert counter.charge == 45.0


def test_constant_current_step_charge_is_current_times_time_and_soc_follows() -> None:
    recorder = Recorder(THESIS_CELL)
    planned = step(3, "charge", "CP", ConstantCurrent(15e-6, 3600.0), cycle=2)
    record = StepRecord(planned, DeviceClock("potentiostat", 1000.0), technique_code=1, charge_at_start=0.0)
    points = [Point(t_device=10.0 * k, E_we=3.0, I=15e-6, cycle=1) for k in range(1, 361)]
    batch = recorder.record(record, points)
    assert batch.t[0] == 1010.0 and batch.t[-1] == 4600.0
    assert batch.Q[-1] == pytest.approx(15e-6 * 3590.0, rel=1e-12)  # first point is Q = 0
    assert batch.soc[-1] == pytest.approx(15e-6 * 3590.0 / CAPACITY, rel=1e-12)
    assert set(batch.cycle.tolist()) == {3} and set(batch.step.tolist()) == {3}
    assert set(batch.technique.tolist()) == {1}
    assert record.points == 360


def test_soc_is_nan_without_a_capacity() -> None:
    from dataclasses import replace

    recorder = Recorder(replace(THESIS_CELL, capacity=None))
    assert np.isnan(recorder.soc(np.array([0.1]))).all()
