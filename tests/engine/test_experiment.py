"""The experiment runner on simulated time, over a role-level simulated potentiostat.

End-to-end runs through the real BioLogic driver and fake EClib are in tests/test_end_to_end.py.
"""

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState, PointsRecorded
from operando.storage import read_experiment
from operando.techniques import ConstantCurrent, Limit, OpenCircuit, Recording
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import SAFETY, THESIS_CELL, charge_hold_discharge, impedance_step, plan, step

QUIET = {"voltage_noise": 0.0, "current_noise": 0.0}


def run(experiment: Experiment):  # noqa: ANN201
    return run_simulated(experiment.run())


def test_thesis_run_records_charge_as_the_integral_of_current(tmp_path: Path) -> None:
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell, seed=3)
    result = run(Experiment(thesis, potentiostat, tmp_path / "run.h5", poll_interval=120.0))
    assert result.status is ExperimentState.COMPLETED
    record = read_experiment(result.path)
    ec = record.electrochem
    assert record.status == "completed" and record.attrs["end_time"]
    assert len(ec["t"]) == result.points and np.all(np.diff(ec["t"]) > 0)
    # Independent integral of the file's own current over the file's own times.
    expected = cumulative_trapezoid(ec["I"], ec["t"], initial=0.0)
    np.testing.assert_allclose(ec["Q"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ec["soc"], ec["Q"] / THESIS_CELL.capacity, atol=1e-12)
    assert result.charge == pytest.approx(ec["Q"][-1])
    ended = {e["name"]: e for e in record.events_of("step_ended")}
    assert ended["charge"]["limit"] == "E_we > 3.68 V" and ended["discharge"]["limit"] == "E_we < 2.08 V"
    assert ended["hold"]["limit"].startswith("|I| < 0.2 x |I0|")
    charge = ec["step"] == 1
    assert ec["E_we"][charge][-1] > 3.68 and np.all(ec["E_we"][charge][:-1] <= 3.68)
    hold_current, hold_t = ec["I"][ec["step"] == 2], ec["t"][ec["step"] == 2]
    met = int(np.argmax(np.abs(hold_current) < 0.2 * abs(hold_current[0])))  # first point below I0 / 5
    assert met > 0 and hold_t[-1] - hold_t[met] <= 120.0  # stopped at the first poll that saw it
    assert [record.technique_labels[c] for c in ec["technique"][[0, -1]]] == ["OCV", "CP"]
    assert potentiostat.calls[-2:] == ["safe_state", "disconnect"]


def test_constant_current_charge_is_current_times_time(tmp_path: Path) -> None:
    cc = plan(step(0, "charge", "CP", ConstantCurrent(15e-6, 7200.0, recording=Recording(dt=30.0))))
    potentiostat = CellPotentiostat.for_plan_cell(cc.cell, **QUIET)
    result = run(Experiment(cc, potentiostat, tmp_path / "cc.h5", poll_interval=600.0))
    ec = read_experiment(result.path).electrochem
    assert len(ec["t"]) == 240  # 7200 s / 30 s
    assert ec["t"][-1] == pytest.approx(7200.0)
    assert ec["Q"][-1] == pytest.approx(15e-6 * (7200.0 - 30.0), rel=1e-9)  # from the first point on
    events = read_experiment(result.path).events_of("step_ended")
    assert events[0]["reason"] == "duration" and events[0]["charge"] == pytest.approx(ec["Q"][-1])


def test_timed_steps_follow_each_other_without_waiting_for_the_next_poll(tmp_path: Path) -> None:
    rests = plan(step(0, "a", "OCV", OpenCircuit(30.0, recording=Recording(10.0))),
                 step(1, "b", "OCV", OpenCircuit(30.0, recording=Recording(10.0))))
    result = run(Experiment(rests, CellPotentiostat.for_plan_cell(rests.cell), tmp_path / "r.h5",
                            poll_interval=600.0))
    started = read_experiment(result.path).events_of("step_started")
    assert [e["device_offset"] for e in started] == [0.0, 30.0]
    assert result.duration == pytest.approx(60.0)


def test_ending_a_group_skips_its_remaining_steps(tmp_path: Path) -> None:
    pulses = [step(k, f"pulse {k}", "CP", ConstantCurrent(15e-6, 600.0, recording=Recording(60.0)),
                   group="gitt", stops=(Limit("abs_Q", ">", 3e-3, "end_group"),)) for k in range(4)]
    gitt = plan(*pulses, step(4, "rest", "OCV", OpenCircuit(60.0, recording=Recording(60.0))))
    # 15 uA passes 3 mC in 200 s: pulse 0 ends on the charge limit and takes the group with it.
    result = run(Experiment(gitt, CellPotentiostat.for_plan_cell(gitt.cell, **QUIET), tmp_path / "g.h5"))
    record = read_experiment(result.path)
    assert sorted(set(record.electrochem["step"].tolist())) == [0, 4]
    assert "skipped steps [1, 2, 3]" in record.events_of("note")[0]["text"]


def test_safety_trip_stops_the_channel_and_aborts(tmp_path: Path) -> None:
    unsafe = replace(charge_hold_discharge(), safety=replace(SAFETY, E_max=3.5))
    potentiostat = CellPotentiostat.for_plan_cell(unsafe.cell)
    result = run(Experiment(unsafe, potentiostat, tmp_path / "trip.h5", poll_interval=300.0))
    assert result.status is ExperimentState.ABORTED and not potentiostat.running
    record = read_experiment(result.path)
    assert record.status == "aborted"
    trip = record.events_of("safety_tripped")[0]
    assert trip["quantity"] == "E_we" and trip["limit"] == 3.5 and trip["value"] > 3.5
    ec = record.electrochem
    tripped_at = int(np.argmax(ec["E_we"] > 3.5))
    assert ec["t"][tripped_at] == trip["t"]
    assert "safe_state" in potentiostat.calls[potentiostat.calls.index("start ConstantCurrent"):]
    assert record.events_of("step_ended")[-1]["reason"] == "stopped"
    assert [e["new"] for e in record.events_of("state_changed")] == ["running", "finishing", "aborted"]


def test_duration_watchdog_aborts_a_run_that_overstays(tmp_path: Path) -> None:
    slow = plan(step(0, "rest", "OCV", OpenCircuit(10 * 3600.0, recording=Recording(60.0))),
                safety=replace(SAFETY, max_duration=3600.0))
    result = run(Experiment(slow, CellPotentiostat.for_plan_cell(slow.cell), tmp_path / "d.h5",
                            poll_interval=600.0))
    record = read_experiment(result.path)
    assert result.status is ExperimentState.ABORTED and result.duration == pytest.approx(3600.0)
    assert record.events_of("safety_tripped")[0]["quantity"] == "duration"
    # The last minute's point was collected after stopping.
    assert record.electrochem["t"][-1] == pytest.approx(3600.0)


def test_instrument_fault_keeps_the_points_before_it(tmp_path: Path) -> None:
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell, fail_at=10 * 3600.0)
    delivered: list[float] = []
    experiment = Experiment(thesis, potentiostat, tmp_path / "fault.h5", poll_interval=600.0)
    watcher = experiment.bus.subscribe("test", maxsize=100_000)

    async def main():  # noqa: ANN202
        result = await experiment.run()
        async for event in watcher:
            if isinstance(event, PointsRecorded):
                delivered.extend(event.points.t.tolist())
        return result

    result = run_simulated(main())
    assert result.status is ExperimentState.FAILED and "ERR_COMM_COMMFAILED" in result.reason
    record = read_experiment(result.path)
    assert record.status == "failed"
    # Reads every 600 s; the one at 10 h failed, so the last points are those read at 10 h - 600 s.
    assert record.electrochem["t"].tolist() == delivered
    assert delivered[-1] == pytest.approx(10 * 3600.0 - 600.0)
    fault = record.events_of("fault")[0]
    assert fault["code"] == -200 and fault["source"] == "potentiostat"
    assert potentiostat.calls[-4:] == ["read", "safe_state", "read", "disconnect"]
    assert not potentiostat.running


def test_abort_request_and_cancellation_leave_the_cell_safe(tmp_path: Path) -> None:
    thesis = charge_hold_discharge()

    async def abort_later(experiment: Experiment):  # noqa: ANN202
        task = asyncio.create_task(experiment.run())
        await asyncio.sleep(5 * 3600.0)
        experiment.request_abort("stopped from the GUI")
        return await task

    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)
    experiment = Experiment(thesis, potentiostat, tmp_path / "a.h5", poll_interval=60.0)
    result = run_simulated(abort_later(experiment))
    assert result.status is ExperimentState.ABORTED and result.reason == "stopped from the GUI"
    assert read_experiment(result.path).status == "aborted" and not potentiostat.running

    async def cancel_later(experiment: Experiment):  # noqa: ANN202
        task = asyncio.create_task(experiment.run())
        await asyncio.sleep(5 * 3600.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)
    run_simulated(cancel_later(Experiment(thesis, potentiostat, tmp_path / "c.h5", poll_interval=60.0)))
    record = read_experiment(tmp_path / "c.h5")
    assert record.status == "aborted" and not potentiostat.running
    assert record.electrochem["t"][-1] == pytest.approx(5 * 3600.0)


def test_impedance_is_recorded_with_its_run_number(tmp_path: Path) -> None:
    eis = plan(impedance_step(0), step(1, "rest", "OCV", OpenCircuit(60.0)), impedance_step(2))
    result = run(Experiment(eis, CellPotentiostat.for_plan_cell(eis.cell, **QUIET), tmp_path / "z.h5"))
    impedance = read_experiment(result.path).impedance
    frequencies = eis.steps[0].technique.frequencies
    assert impedance["run"].tolist() == [0] * len(frequencies) + [1] * len(frequencies)
    np.testing.assert_allclose(impedance["frequency"][: len(frequencies)], frequencies)
    assert np.all(impedance["Z_re"] > 0)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "taken.h5"
    target.write_bytes(b"somebody's data")
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)
    with pytest.raises(FileExistsError, match="taken.h5"):
        run(Experiment(thesis, potentiostat, target))
    assert target.read_bytes() == b"somebody's data"
    assert potentiostat.calls == []  # refused before anything moved


def test_a_file_that_cannot_be_written_fails_the_run_and_leaves_the_cell_safe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from operando.storage import ExperimentFile

    def disk_full(self, columns) -> None:  # noqa: ANN001
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ExperimentFile, "append_points", disk_full)
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)
    experiment = Experiment(thesis, potentiostat, tmp_path / "full.h5", poll_interval=600.0,
                            flush_interval=0.01)
    result = run(experiment)
    assert result.status is ExperimentState.FAILED and "No space left" in result.reason
    assert not potentiostat.running and potentiostat.calls[-3:] == ["safe_state", "read", "disconnect"]


def test_a_software_error_fails_the_run_and_is_recorded_as_a_fault(tmp_path: Path) -> None:
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)

    async def broken_start(technique) -> None:  # noqa: ANN001 - a driver bug, not an instrument error
        potentiostat.calls.append("start")
        raise ZeroDivisionError("float division by zero")

    potentiostat.start = broken_start  # type: ignore[method-assign]
    result = run(Experiment(thesis, potentiostat, tmp_path / "bug.h5"))
    assert result.status is ExperimentState.FAILED
    assert result.reason == "internal error: ZeroDivisionError: float division by zero"
    record = read_experiment(result.path)
    assert record.status == "failed" and record.events_of("fault")[0]["source"] == "operando"
    assert potentiostat.calls[-2:] == ["safe_state", "disconnect"]


def test_bad_settings_are_refused_before_anything_moves() -> None:
    potentiostat = CellPotentiostat.for_plan_cell(THESIS_CELL)
    with pytest.raises(ValueError, match="poll_interval"):
        Experiment(charge_hold_discharge(), potentiostat, "x.h5", poll_interval=0)
    with pytest.raises(ValueError, match="no steps"):
        Experiment(replace(charge_hold_discharge(), steps=()), potentiostat, "x.h5")
    assert potentiostat.calls == []
