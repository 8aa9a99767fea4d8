"""Potentiostat faults survived, end to end: the real BioLogic driver over the fake EClib over the simulated cell.

A link outage suspends the run while the channel cycles the cell by itself; the points it buffered come back
when the link does. A channel whose data another client reads is caught by the data watchdog. Either fails the
run only after safety.link_outage_max. The cell's own voltage (simulator ground truth) is watched throughout.
"""

import asyncio
from pathlib import Path

import numpy as np
import pytest
from operando.drivers.biologic._structures import ProgramState
from operando.simulators.rig import build_simulated_rig
from scipy.integrate import trapezoid

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState, PointsRecorded, StateChanged
from operando.protocol import loads_protocol, resolve
from operando.storage import read_experiment

HOUR, MINUTE = 3600.0, 60.0
RECORD_EVERY = 60.0  # s, record.every of every step below
E_MAX = 3.78  # V measured: 4.4 V vs Li against Li-In (0.62 V)
E_MIN = 0.38  # V measured: 1.0 V vs Li
SEED = 5
# From this SOC the 15 uA charge reaches 4.3 V vs Li (3.68 V measured) about 2.45 h into the run.
CELL = {"initial_soc": 0.58}

PROTOCOL = """
name = "outage"
[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"
[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "50 uA"
duration_max = "10 h"
{extra_safety}
[[steps]]
name = "rest"
technique = "rest"
duration = "10 min"
record.every = "60 s"
[[steps]]
name = "charge"
technique = "constant_current"
current = "15 uA"
until.voltage = "4.3 V vs Li"
until.time = "4 h"
record.every = "60 s"
[[steps]]
name = "rest after charge"
technique = "rest"
duration = "30 min"
record.every = "60 s"
[[steps]]
name = "discharge"
technique = "constant_current"
current = "-15 uA"
until.time = "1 h"
record.every = "60 s"
"""


def plan_with(extra_safety: str = ""):  # noqa: ANN201
    return resolve(loads_protocol(PROTOCOL.format(extra_safety=extra_safety)))


def simulate(plan, out: Path, during=None, after: float = 0.0):  # noqa: ANN001, ANN201
    """Run ``plan`` on a fresh simulated rig; ``during(rig)`` injects faults alongside. Returns the result,
    the rig, every point time the engine handed its sinks, the states it went through, and the cell's true
    voltage after every step the simulator took (also for ``after`` s once the engine has ended)."""

    async def run():  # noqa: ANN202
        rig = await build_simulated_rig(plan, seed=SEED, cell=CELL)
        true_voltage: list[float] = []
        for name in ("rest", "apply_current", "apply_voltage"):
            original = getattr(rig.cell, name)

            def watched(*args, _original=original, **kwargs):  # noqa: ANN002, ANN003, ANN202
                reading = _original(*args, **kwargs)
                true_voltage.append(reading.E_true)
                return reading

            setattr(rig.cell, name, watched)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config)
        watcher = experiment.bus.subscribe("test", maxsize=1_000_000)
        side = asyncio.create_task(during(rig)) if during else None
        result = await experiment.run()
        await asyncio.sleep(after)
        rig.eclib.state()  # the channel goes on by itself: let the fake catch up to now
        rig.eclib._advance()
        if side is not None:
            side.cancel()
        events = watcher.drain_nowait()
        delivered = [t for event in events if isinstance(event, PointsRecorded) for t in event.points.t.tolist()]
        states = [event.new for event in events if isinstance(event, StateChanged)]
        return result, rig, delivered, states, np.array(true_voltage)

    return run_simulated(run())


def outage(start: float, length: float):  # noqa: ANN201
    """The USB/Ethernet link is down from ``start`` to ``start + length`` s on the experiment clock."""

    async def cut(rig) -> None:  # noqa: ANN001
        await asyncio.sleep(start)
        rig.eclib.drop_link()
        await asyncio.sleep(length)
        rig.eclib.restore_link()

    return cut


def assert_every_point_kept(ec: dict) -> None:
    """Within each step the device's points follow each other one recording interval apart, from its first
    point at 0 s (a lost point would leave a gap of two intervals or more)."""
    for step in np.unique(ec["step"]):
        t_device = ec["t_device"][ec["step"] == step]
        assert t_device[0] == pytest.approx(0.0, abs=1.0)
        assert np.all(np.diff(t_device) <= RECORD_EVERY + 1e-3), f"step {step}: a gap in its points"


def step_charges(ec: dict) -> dict[int, float]:
    """C passed in each step: the trapezoid of its points' current over their times."""
    charges = {}
    for step in np.unique(ec["step"]):
        inside = ec["step"] == step
        charges[int(step)] = float(trapezoid(ec["I"][inside], ec["t"][inside]))
    return charges


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    result, _, _, _, true_voltage = simulate(plan_with(), tmp_path_factory.mktemp("plain") / "plain.h5")
    return result, read_experiment(result.path), true_voltage


def test_a_six_minute_link_outage_is_survived_and_loses_no_point(tmp_path: Path, uninterrupted) -> None:  # noqa: ANN001
    plain, plain_record, _ = uninterrupted
    # The outage spans the moment the charge reaches its voltage limit: the channel must stop it on its own.
    charge_end = next(e["t"] for e in plain_record.events_of("step_ended") if e["name"] == "charge")
    start = charge_end - 3 * MINUTE
    result, rig, delivered, states, true_voltage = simulate(plan_with(), tmp_path / "cut.h5",
                                                            during=outage(start, 6 * MINUTE))
    assert result.status is ExperimentState.COMPLETED and plain.status is ExperimentState.COMPLETED
    record = read_experiment(result.path)
    assert record.status == "completed"
    assert states == [ExperimentState.RUNNING, ExperimentState.SUSPENDED, ExperimentState.RUNNING,
                      ExperimentState.FINISHING, ExperimentState.COMPLETED]
    (fault,) = record.events_of("fault")
    assert fault["code"] == -200 and fault["name"] == "COMM_COMMFAILED" and "link lost" in fault["message"]
    assert start <= fault["t"] <= start + RECORD_EVERY + 5.0  # noticed at the first read after the cut
    (gap,) = record.events_of("link_restored")
    assert gap["cause"] == "link lost" and gap["start"] == pytest.approx(fault["t"])
    assert gap["t"] == pytest.approx(gap["start"] + gap["duration"])
    # Back within one back-off step (at most 60 s, plus a read's retries) of the link's return.
    assert start + 6 * MINUTE <= gap["t"] <= start + 6 * MINUTE + 60.0 + 5.0
    # The points the channel recorded during the outage (one a minute until its limit) came back.
    outage_points = np.sum((record.electrochem["t"] > fault["t"]) & (record.electrochem["t"] <= gap["t"]))
    assert gap["points"] >= 3 and gap["points"] >= outage_points
    ec = record.electrochem
    assert ec["t"].tolist() == delivered
    assert_every_point_kept(ec)
    charge = ec["step"] == 1
    assert ec["E_we"][charge][-1] == pytest.approx(3.68, abs=0.01)  # the channel's own limit ended it
    ended = {e["name"]: e for e in record.events_of("step_ended")}
    assert ended["charge"]["reason"] == "limit"
    # Against the uninterrupted run with the same seed: the charge each step passed, integrated here from
    # the file's own points within the step (across steps the recorder's trapezoid also spans the idle time
    # between them, which the outage lengthened: a known approximation of Q, not a lost point).
    passed, plain_passed = step_charges(ec), step_charges(plain_record.electrochem)
    assert passed[1] == pytest.approx(plain_passed[1], rel=0.01)  # the charge, outage included
    assert passed[3] == pytest.approx(plain_passed[3], rel=0.01)  # the discharge
    assert sum(passed.values()) == pytest.approx(sum(plain_passed.values()), rel=0.01)
    assert result.points == plain.points
    assert np.all(true_voltage < E_MAX) and np.all(true_voltage > E_MIN)
    assert rig.eclib.state() is ProgramState.STOP


def test_an_outage_longer_than_the_limit_fails_the_run_with_the_cell_safe(tmp_path: Path) -> None:
    plan = plan_with('link_outage_max = "30 min"')
    assert plan.safety.link_outage_max == 30 * MINUTE
    start = 1 * HOUR  # mid-charge: the channel goes on charging by itself until its voltage limit
    result, rig, delivered, states, true_voltage = simulate(plan, tmp_path / "long.h5",
                                                            during=outage(start, 10 * HOUR), after=3 * HOUR)
    assert result.status is ExperimentState.FAILED
    record = read_experiment(result.path)
    assert record.status == "failed"
    assert ExperimentState.SUSPENDED in states and states[-1] is ExperimentState.FAILED
    faults = record.events_of("fault")
    assert faults[0]["code"] == -200 and start <= faults[0]["t"] <= start + RECORD_EVERY + 5.0
    assert "gave up" in faults[-1]["message"] and "link_outage_max" in faults[-1]["message"]
    # Given up 30 min after the fault, at the first attempt past the limit.
    assert faults[0]["t"] + 30 * MINUTE <= result.duration <= faults[0]["t"] + 30 * MINUTE + 60.0 + 5.0
    assert record.events_of("link_restored") == []
    assert record.electrochem["t"].tolist() == delivered
    # The channel, out of reach, ended the charge at its own limit and left the cell at open circuit; the cell
    # never left the safety window (ground truth, up to 3 h after the engine ended).
    assert rig.eclib.state() is ProgramState.STOP
    assert np.all(true_voltage < E_MAX) and np.all(true_voltage > E_MIN)
    assert true_voltage.max() == pytest.approx(3.68, abs=0.02)


def occupied_from(start: float, until: float | None = None):  # noqa: ANN201
    """Another client reads channel 1's data from ``start`` s (until ``until`` s, or for good)."""

    async def occupy(rig) -> None:  # noqa: ANN001
        await asyncio.sleep(start)
        rig.eclib.other_client_reads(True)
        if until is not None:
            await asyncio.sleep(until - start)
            rig.eclib.other_client_reads(False)

    return occupy


def test_an_occupied_channel_is_detected_within_five_recording_intervals(tmp_path: Path) -> None:
    # From just before the charge starts, another client takes every point of the channel.
    result, rig, delivered, states, true_voltage = simulate(plan_with(), tmp_path / "busy.h5",
                                                            during=occupied_from(9 * MINUTE, 40 * MINUTE))
    record = read_experiment(result.path)
    charge_start = next(e["t"] for e in record.events_of("step_started") if e["name"] == "charge")
    fault = record.events_of("fault")[0]
    assert "no new point" in fault["message"] and fault["source"] == "potentiostat"
    assert 0 < fault["t"] - charge_start <= 5 * RECORD_EVERY
    suspended = [e for e in record.events_of("state_changed") if e["new"] == "suspended"]
    assert suspended[0]["t"] == pytest.approx(fault["t"])
    # Once the other client lets go, the points flow again and the run completes.
    (gap,) = record.events_of("link_restored")
    assert gap["cause"] == "no data" and 40 * MINUTE <= gap["t"] <= 40 * MINUTE + 2 * RECORD_EVERY
    assert result.status is ExperimentState.COMPLETED and record.status == "completed"
    assert record.electrochem["t"].tolist() == delivered
    assert np.all(true_voltage < E_MAX) and np.all(true_voltage > E_MIN)


def test_a_channel_occupied_for_good_fails_the_run_after_the_limit_and_is_stopped(tmp_path: Path) -> None:
    plan = plan_with('link_outage_max = "20 min"\nmissing_points_max = 3')
    result, rig, _, states, _ = simulate(plan, tmp_path / "taken.h5", during=occupied_from(30 * MINUTE))
    record = read_experiment(result.path)
    fault = record.events_of("fault")[0]
    assert "no new point" in fault["message"]
    last_point = record.electrochem["t"][-1]
    assert 0 < fault["t"] - last_point <= 3 * RECORD_EVERY + 1e-6
    assert result.status is ExperimentState.FAILED and record.status == "failed"
    assert "without new data" in result.reason and "link_outage_max" in result.reason
    assert fault["t"] + 20 * MINUTE <= result.duration <= fault["t"] + 20 * MINUTE + 60.0 + 1.0
    assert rig.eclib.state() is ProgramState.STOP  # the link is up: the engine stopped the channel


def test_a_channel_reset_during_the_outage_fails_the_run_instead_of_ending_the_step(tmp_path: Path) -> None:
    async def reset_while_away(rig) -> None:  # noqa: ANN001
        await asyncio.sleep(1 * HOUR)
        rig.eclib.drop_link()
        await asyncio.sleep(5 * MINUTE)
        rig.eclib.power_cycle(firmware_loaded=True)  # e.g. EC-Lab restarted it and loaded its kernel again
        await asyncio.sleep(1 * MINUTE)
        rig.eclib.restore_link()

    result, rig, delivered, states, _ = simulate(plan_with(), tmp_path / "reset.h5", during=reset_while_away)
    record = read_experiment(result.path)
    assert result.status is ExperimentState.FAILED and record.status == "failed"
    assert "no longer holds cplimit4.ecc" in result.reason
    assert record.events_of("link_restored") == []  # what the channel did meanwhile is unknown
    ended = {e["name"]: e for e in record.events_of("step_ended")}
    assert ended["charge"]["reason"] == "stopped"  # not taken for a charge that ran its course
    assert "rest after charge" not in ended
    assert rig.eclib.state() is ProgramState.STOP


def test_imaging_rests_while_suspended_and_goes_on_after(tmp_path: Path) -> None:
    from tests.test_end_to_end_imaging import run as run_with_imaging
    from tests.test_end_to_end_imaging import thesis_plan

    async def cut(rig, experiment) -> None:  # noqa: ANN001
        await outage(11.5 * HOUR, 40 * MINUTE)(rig)  # the wide field's 12 h frame falls in the gap

    result, rig, _, _ = run_with_imaging(thesis_plan(), tmp_path / "imaging.h5", during=cut)
    assert result.status is ExperimentState.COMPLETED
    record = read_experiment(result.path)
    (gap,) = record.events_of("link_restored")
    start, end = gap["start"], gap["t"]
    assert 11.5 * HOUR <= start < 12 * HOUR < 12 * HOUR + 10 * MINUTE <= end
    for name, roi in record.rois.items():
        t_start, t_end = roi.table["t_start"], roi.table["t_end"]
        assert not np.any((t_end > start + 1e-6) & (t_start < end - 1e-6)), f"{name}: a frame in the gap"
        assert np.any(t_start >= end), f"{name}: no frame after the gap"
    skipped = [e for e in record.events_of("acquisition_skipped") if start <= e["t"] <= end]
    assert any(e["region"] == "wide" and "suspended" in e["reason"] for e in skipped)  # the 12 h frame
    ec = record.electrochem
    for step in np.unique(ec["step"]):  # every point the channel recorded meanwhile came back
        t_device = ec["t_device"][ec["step"] == step]
        assert np.all(np.diff(t_device) <= RECORD_EVERY + 1e-3)
