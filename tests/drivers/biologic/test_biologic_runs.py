"""Whole techniques on simulated time through driver and fake EClib, against hand numbers and the cell."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from operando.drivers.biologic._structures import ProgramState

from operando.clock import run_simulated
from operando.techniques import (
    ConstantCurrent,
    ConstantVoltage,
    CyclicVoltammetry,
    Impedance,
    Limit,
    OpenCircuit,
    Recording,
)
from tests.drivers.biologic.helpers import collect, make_rig, single

UPPER = 4.3 - 0.62  # 4.3 V vs Li+/Li measured against the Li-In counter electrode
C_OVER_60 = 15e-6  # A for the thesis cell (3.240 C)
CHARGE = ConstantCurrent(current=C_OVER_60, duration=80 * 3600.0, limits=(Limit("E_we", ">", UPPER),),
                         recording=Recording(dt=10.0))


@pytest.mark.parametrize("board", ["VMP300", "VMP3"])
def test_constant_current_stops_at_the_voltage_limit_with_charge_i_times_t(board: str) -> None:
    async def scenario():
        rig = make_rig(board)
        await rig.driver.connect()
        await rig.driver.start(CHARGE)
        points, _ = await collect(rig.driver, 600.0)
        return rig, points

    rig, points = run_simulated(scenario())
    last, before = points[-1], points[-2]
    # The device stopped on the limit, within one recording step of the previous point, barely past it.
    assert before.E_we < UPPER <= last.E_we + 1e-6
    assert last.E_we - UPPER < 2e-3
    assert 0 < last.t_device - before.t_device <= 10.0 + 1e-3
    assert rig.fake.state() is ProgramState.STOP
    # Charge passed = I x t, by hand and as the cell's true state of charge says.
    assert rig.cell.soc * rig.cell.capacity == pytest.approx(C_OVER_60 * last.t_device, rel=1e-5)
    times = np.array([p.t_device for p in points])
    currents = np.array([p.I for p in points])
    assert float(np.sum(np.diff(times) * currents[1:])) == pytest.approx(C_OVER_60 * last.t_device, rel=1e-3)
    assert statistics.median(np.diff(times)) == pytest.approx(10.0, abs=1e-3)
    assert np.all(np.abs(currents - C_OVER_60) < 1e-8)
    # 15 uA takes the pristine cell about 36 h to 4.3 V vs Li (60 % of 3.24 C), with points every 10 s.
    assert 30 * 3600 < last.t_device < 42 * 3600
    assert len(points) == pytest.approx(last.t_device / 10.0, abs=3)


@pytest.mark.parametrize(("offset", "config", "value"), [(0.03, 97, 2e-6), (-0.03, 101, -2e-6)])
def test_constant_voltage_holds_until_the_current_falls(offset: float, config: int, value: float) -> None:
    async def scenario():
        rig = make_rig(initial_soc=0.5)
        await rig.driver.connect()
        voltage = rig.cell.ocv + offset
        await rig.driver.start(ConstantVoltage(voltage=voltage, duration=48 * 3600.0,
                                               limits=(Limit("abs_I", "<", 2e-6),),
                                               recording=Recording(dt=30.0)))
        points, _ = await collect(rig.driver, 900.0)
        return rig, voltage, points

    rig, voltage, points = run_simulated(scenario())
    sent = {(label, index): v for label, index, _, v in rig.fake.loads[-1].sent}
    assert (sent["Test1_Config", 0], sent["Test1_Value", 0]) == (config, single(value))
    assert abs(points[-1].I) < 2e-6 <= abs(points[-2].I)
    assert points[-1].t_device - points[-2].t_device <= 30.0 + 1e-3
    assert points[-1].t_device < 48 * 3600 - 1  # the test ended it, not the duration
    assert all(abs(p.E_we - voltage) < 1e-3 for p in points)
    assert all(p.I * offset > 0 for p in points)  # charging above the rest potential, discharging below


def test_a_hold_started_right_after_the_charge_keeps_charging_until_the_current_falls() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(CHARGE)
        await collect(rig.driver, 600.0)
        await rig.driver.start(ConstantVoltage(voltage=UPPER, duration=24 * 3600.0,
                                               limits=(Limit("abs_I", "<", 3e-6),),
                                               recording=Recording(dt=10.0)))
        hold, _ = await collect(rig.driver, 600.0)
        return rig, hold

    rig, hold = run_simulated(scenario())
    sent = {(label, index): v for label, index, _, v in rig.fake.loads[-1].sent}
    assert sent["Test1_Config", 0] == 97  # I < 3 uA: the hold goes on charging
    assert hold[-1].t_device > 600.0  # not cut short at its first point
    assert hold[-1].I < 3e-6 <= hold[-2].I
    assert all(p.I > 0 for p in hold)


def test_open_circuit_records_every_interval_until_its_duration() -> None:
    async def scenario():
        rig = make_rig("VMP3", initial_soc=0.3)
        await rig.driver.connect()
        await rig.driver.start(OpenCircuit(duration=3600.0, recording=Recording(dt=60.0)))
        points, _ = await collect(rig.driver, 45.0)
        return rig, points

    rig, points = run_simulated(scenario())
    # First point right after the start, then every 60 s from it, plus the point at the end: 61 points.
    assert len(points) == 61
    assert points[-1].t_device == pytest.approx(3600.0, abs=1e-3)
    assert all(p.I == 0.0 for p in points)
    assert all(abs(p.E_we - rig.cell.ocv) < 1e-3 for p in points)


def test_cyclic_voltammetry_reaches_its_vertices_and_counts_cycles() -> None:
    async def scenario():
        rig = make_rig(initial_soc=0.5)
        await rig.driver.connect()
        rest = rig.cell.ocv
        cv = CyclicVoltammetry(start=rest, vertex_1=rest + 0.2, vertex_2=rest - 0.1, end=rest, scan_rate=1e-3,
                               cycles=2, recording=Recording(dt=10.0, dE=5e-3))
        await rig.driver.start(cv)
        points, _ = await collect(rig.driver, 60.0)
        return cv, points

    cv, points = run_simulated(scenario())
    assert cv.duration == pytest.approx(1200.0)  # (0.2 + 0.3 + 0.1) V x 2 cycles / 1 mV/s
    assert points[-1].t_device == pytest.approx(1200.0, abs=0.01)
    assert max(p.E_we for p in points) == pytest.approx(cv.vertex_1, abs=1e-3)
    assert min(p.E_we for p in points) == pytest.approx(cv.vertex_2, abs=1e-3)
    assert {p.cycle for p in points if p.t_device < 599.0} == {0}
    assert {p.cycle for p in points if p.t_device > 601.0} == {1}
    # One point per 5 mV: 1.2 V swept in all, so about 240 points.
    assert len(points) == pytest.approx(240, abs=4)
    anodic = [p.I for p in points if 10.0 < p.t_device < 190.0]
    assert min(anodic) > 0


@pytest.mark.parametrize("board", ["VMP300", "VMP3"])
def test_impedance_matches_the_cell_ground_truth(board: str) -> None:
    eis = Impedance(initial_frequency=1e5, final_frequency=0.1, points_per_decade=5, amplitude=0.01)

    async def scenario():
        rig = make_rig(board, initial_soc=0.5)
        await rig.driver.connect()
        await rig.driver.start(eis)
        points, impedance = await collect(rig.driver, 5.0)
        return rig, points, impedance

    rig, points, impedance = run_simulated(scenario())
    frequencies = np.array([z.frequency for z in impedance])
    assert len(impedance) == len(eis.frequencies) == 31
    np.testing.assert_allclose(frequencies, eis.frequencies, rtol=1e-6)
    measured = np.array([complex(z.Z_re, z.Z_im) for z in impedance])
    np.testing.assert_allclose(measured, rig.cell.impedance(frequencies), rtol=1e-3)
    assert impedance[-1].t_device == pytest.approx(eis.duration, rel=1e-5)
    assert len(points) == 31  # one DC sample per frequency, process 0
    assert all(abs(z.E_dc - rig.cell.ocv) < 1e-3 for z in impedance)


def test_a_67_hour_cc_cv_run_simulates_in_seconds() -> None:
    async def scenario():
        rig = make_rig()
        await rig.driver.connect()
        await rig.driver.start(CHARGE)
        charge, _ = await collect(rig.driver, 600.0)
        await rig.driver.start(ConstantVoltage(voltage=UPPER, duration=31 * 3600.0,
                                               recording=Recording(dt=10.0)))
        hold, _ = await collect(rig.driver, 600.0)
        return charge, hold

    started = time.perf_counter()
    charge, hold = run_simulated(scenario())
    elapsed = time.perf_counter() - started
    total = charge[-1].t_device + hold[-1].t_device
    assert total > 60 * 3600
    assert len(charge) + len(hold) == pytest.approx(total / 10.0, rel=0.01)
    assert elapsed < 20.0, f"{total / 3600:.0f} h simulated in {elapsed:.1f} s"
