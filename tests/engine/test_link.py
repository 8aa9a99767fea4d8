"""The link keeper at the role level: back-off on the experiment clock, a start retried, a researcher's resume
as "try now", data-watchdog timing, and the watchdog's silence on a healthy run and on unwatched techniques."""

from dataclasses import replace
from pathlib import Path

import pytest

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState
from operando.errors import InstrumentConnectionLost
from operando.roles.potentiostat import Readout
from operando.storage import read_experiment
from operando.techniques import ConstantCurrent, OpenCircuit, Recording
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import SAFETY, plan, step


class OutagePotentiostat(CellPotentiostat):
    """The cell potentiostat with its link down from ``down`` to ``up`` s (loop time): calls raise; the
    technique runs on meanwhile. ``silent`` from that time on, reads bring no points (another client)."""

    def __init__(self, *args, down: float = float("inf"), up: float = float("inf"),  # noqa: ANN002
                 silent: float = float("inf"), **kwargs) -> None:  # noqa: ANN003
        super().__init__(*args, **kwargs)
        self.down, self.up, self.silent = down, up, silent
        self.attempts: list[float] = []  # loop times of reads while the link was down

    def _link(self, call: str) -> None:
        if self.down <= self._now() < self.up:
            self.attempts.append(self._now())
            raise InstrumentConnectionLost(f"{call}: link down", instrument="test", code=-200, name="COMMFAILED")

    async def start(self, technique) -> None:  # noqa: ANN001
        self._link("start")
        await super().start(technique)

    async def read(self) -> Readout:
        self._link("read")
        readout = await super().read()
        if self._now() >= self.silent:
            return Readout((), (), readout.running)
        return readout


RECORD = Recording(dt=60.0)


def charge_plan(hours: float = 3.0, **safety):  # noqa: ANN003, ANN201
    return plan(step(0, "charge", "CP", ConstantCurrent(15e-6, hours * 3600.0, recording=RECORD)),
                safety=replace(SAFETY, **safety))


def test_retries_back_off_1_2_4_up_to_60_s_on_the_experiment_clock(tmp_path: Path) -> None:
    the_plan = charge_plan(link_outage_max=600.0)
    potentiostat = OutagePotentiostat.for_plan_cell(the_plan.cell)
    potentiostat.down = 1800.0
    result = run_simulated(Experiment(the_plan, potentiostat, tmp_path / "b.h5", poll_interval=60.0).run())
    assert result.status is ExperimentState.FAILED and "gave up" in result.reason
    first, *retries = potentiostat.attempts
    assert first == pytest.approx(1800.0)  # the first read at or after the cut
    # Waits after the fault: 1, 2, 4, 8, 16, 32, 60, 60 ... s; each read fails at once here.
    expected, t, delay = [], first, 1.0
    while t + delay < first + 600.0:
        t += delay
        expected.append(t)
        delay = min(2 * delay, 60.0)
    expected.append(first + 600.0)  # a last try at the limit
    # ... and after giving up, the finish's one attempt to collect what the instrument holds.
    assert retries == pytest.approx([*expected, first + 600.0])
    assert result.duration == pytest.approx(first + 600.0)
    assert read_experiment(result.path).status == "failed"


def test_a_start_during_an_outage_waits_for_the_link(tmp_path: Path) -> None:
    the_plan = plan(step(0, "rest", "OCV", OpenCircuit(600.0, recording=RECORD)),
                    step(1, "charge", "CP", ConstantCurrent(15e-6, 600.0, recording=RECORD)))
    potentiostat = OutagePotentiostat.for_plan_cell(the_plan.cell)
    potentiostat.down, potentiostat.up = 599.0, 700.0
    result = run_simulated(Experiment(the_plan, potentiostat, tmp_path / "s.h5", poll_interval=60.0).run())
    assert result.status is ExperimentState.COMPLETED
    record = read_experiment(result.path)
    (gap,) = record.events_of("link_restored")
    assert 700.0 <= gap["t"] <= 700.0 + 64.0 and gap["cause"] == "link lost"
    started = {e["name"]: e["t"] for e in record.events_of("step_started")}
    assert started["charge"] == pytest.approx(gap["t"])  # the charge began once the link was back
    assert potentiostat.calls.count("start ConstantCurrent") == 1


def test_a_resume_request_while_suspended_retries_at_once(tmp_path: Path) -> None:
    the_plan = charge_plan(hours=1.0)
    potentiostat = OutagePotentiostat.for_plan_cell(the_plan.cell)
    potentiostat.down, potentiostat.up = 600.0, 1000.0
    experiment = Experiment(the_plan, potentiostat, tmp_path / "r.h5", poll_interval=60.0)

    async def main():  # noqa: ANN202
        import asyncio

        task = asyncio.create_task(experiment.run())
        await asyncio.sleep(1001.0)  # the back-off is then at its 60 s ceiling: next try near 1000 + 60
        assert experiment.state is ExperimentState.SUSPENDED
        experiment.request_resume("alice")
        await asyncio.sleep(0.5)
        state = experiment.state
        return state, await task

    state, result = run_simulated(main())
    assert state is ExperimentState.RUNNING
    gap = read_experiment(result.path).events_of("link_restored")[0]
    assert gap["t"] == pytest.approx(1001.0)
    assert result.status is ExperimentState.COMPLETED


@pytest.mark.parametrize("missing", [5, 2])
def test_the_watchdog_trips_missing_points_max_intervals_after_the_last_point(tmp_path: Path,
                                                                            missing: int) -> None:
    the_plan = charge_plan(missing_points_max=missing, link_outage_max=1200.0)
    potentiostat = OutagePotentiostat.for_plan_cell(the_plan.cell)
    potentiostat.silent = 1830.0
    result = run_simulated(Experiment(the_plan, potentiostat, tmp_path / "w.h5", poll_interval=60.0).run())
    record = read_experiment(result.path)
    last = record.electrochem["t"][-1]
    assert last == pytest.approx(1800.0)  # a point a minute; the one at 1860 s never came
    fault = record.events_of("fault")[0]
    assert fault["t"] == pytest.approx(last + missing * 60.0)
    assert result.status is ExperimentState.FAILED and result.duration == pytest.approx(fault["t"] + 1200.0)


def test_a_healthy_run_and_a_slow_poll_never_trip_the_watchdog(tmp_path: Path) -> None:
    the_plan = plan(step(0, "rest", "OCV", OpenCircuit(4 * 3600.0, recording=Recording(dt=600.0))),
                    step(1, "charge", "CP", ConstantCurrent(15e-6, 3600.0, recording=Recording(dt=10.0))))
    for poll in (60.0, 1800.0):  # reads far rarer than the charge's points: one a poll at least
        potentiostat = CellPotentiostat.for_plan_cell(the_plan.cell)
        result = run_simulated(Experiment(the_plan, potentiostat, tmp_path / f"h{poll:.0f}.h5",
                                          poll_interval=poll).run())
        record = read_experiment(result.path)
        assert result.status is ExperimentState.COMPLETED
        assert record.events_of("fault") == [] and record.events_of("link_restored") == []
