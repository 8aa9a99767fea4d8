"""The run's state table, every state x every request, against expectations written out here by hand.

Not the module's table replayed: the grid below is the behaviour the engine, the GUI (ui/controls.py ALLOWED)
and telemetry rely on, written independently; the module must agree with it cell by cell.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState, StateChanged
from operando.engine.states import TRANSITIONS, InvalidTransition, Request, RunStates, verdict
from operando.storage import read_experiment
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import charge_hold_discharge

REQUESTS = ("start", "pause", "resume", "abort", "acquire", "suspend", "lift")
# Per state, per request in the order above: the state it leads to, "queued", "back" (a lift: to the state the
# suspension found), or "-" (refused).
GRID = {
    "idle":       ("connecting", "-",       "-",        "queued",   "-",       "-",         "-"),
    "connecting": ("-",          "-",       "-",        "aborting", "-",       "-",         "-"),
    "running":    ("-",          "pausing", "-",        "aborting", "running", "suspended", "-"),
    "pausing":    ("-",          "-",       "-",        "aborting", "pausing", "suspended", "-"),
    "paused":     ("-",          "-",       "resuming", "aborting", "-",       "suspended", "-"),
    "resuming":   ("-",          "-",       "-",        "aborting", "-",       "suspended", "-"),
    "suspended":  ("-",          "-",       "queued",   "aborting", "-",       "-",         "back"),
    "aborting":   ("-",) * 7,
    "finishing":  ("-",) * 7,
    "completed":  ("-",) * 7,
    "aborted":    ("-",) * 7,
    "failed":     ("-",) * 7,
}
VERB = {"start": "start", "pause": "pause", "resume": "resume", "abort": "abort", "acquire": "acquire",
        "suspend": "suspend", "lift": "lift a suspension"}
REQUEST = {"start": Request.START, "pause": Request.PAUSE, "resume": Request.RESUME, "abort": Request.ABORT,
           "acquire": Request.ACQUIRE, "suspend": Request.SUSPEND, "lift": Request.LIFT}


def test_the_grid_covers_every_state_and_request() -> None:
    assert set(GRID) == {state.value for state in ExperimentState}
    assert set(REQUEST.values()) == set(Request)


@pytest.mark.parametrize("state", list(GRID))
@pytest.mark.parametrize("request_name", REQUESTS)
def test_every_request_in_every_state(state: str, request_name: str) -> None:
    expected = GRID[state][REQUESTS.index(request_name)]
    answer = verdict(ExperimentState(state), REQUEST[request_name])
    if expected == "-":
        assert answer.outcome == "refused" and answer.to is None
        assert answer.reason.startswith(f"cannot {VERB[request_name]}: the experiment is {state}"), answer.reason
    elif expected == "queued":
        assert answer.outcome == "queued" and answer.to is None and answer.reason
    elif expected == "back":
        assert answer.outcome == "allowed" and answer.to is None
    else:
        assert answer.outcome == "allowed" and answer.to is ExperimentState(expected)


@pytest.mark.parametrize(("state", "request_name", "message"), [
    ("running", "resume", "cannot resume: the experiment is running, not paused"),  # telemetry's refusal
    ("pausing", "pause", "cannot pause: the experiment is pausing"),
    ("idle", "pause", "cannot pause: the experiment is idle"),
    ("paused", "acquire", "cannot acquire: the experiment is paused"),
    ("completed", "start", "cannot start: the experiment is completed; make a new one"),
])
def test_refusals_name_the_state_in_words(state: str, request_name: str, message: str) -> None:
    assert verdict(ExperimentState(state), REQUEST[request_name]).reason == message


# Every move the engine may make, requested or its own progress; any other pair is refused.
MOVES = {
    ("idle", "connecting"),
    ("connecting", "running"), ("connecting", "idle"), ("connecting", "aborting"),
    ("running", "pausing"), ("running", "suspended"), ("running", "aborting"), ("running", "finishing"),
    ("pausing", "paused"), ("pausing", "suspended"), ("pausing", "aborting"), ("pausing", "finishing"),
    ("paused", "resuming"), ("paused", "suspended"), ("paused", "aborting"), ("paused", "finishing"),
    ("resuming", "running"), ("resuming", "suspended"), ("resuming", "aborting"), ("resuming", "finishing"),
    ("suspended", "running"), ("suspended", "pausing"), ("suspended", "paused"), ("suspended", "resuming"),
    ("suspended", "aborting"), ("suspended", "finishing"),
    ("aborting", "finishing"), ("aborting", "idle"),
    ("finishing", "completed"), ("finishing", "aborted"), ("finishing", "failed"),
}


def test_the_moves_are_exactly_these() -> None:
    assert {(old.value, new.value) for old, new in TRANSITIONS} == MOVES


def _at(path: list[str]) -> RunStates:
    states = RunStates()
    for state in path:
        states.move(ExperimentState(state), "test", 0.0)
    return states


@pytest.mark.parametrize("old", list(GRID))
@pytest.mark.parametrize("new", list(GRID))
def test_a_move_outside_the_table_is_a_bug_except_that_an_abort_outranks_progress(old: str, new: str) -> None:
    paths = {"idle": [], "connecting": ["connecting"], "running": ["connecting", "running"],
             "pausing": ["connecting", "running", "pausing"],
             "paused": ["connecting", "running", "pausing", "paused"],
             "resuming": ["connecting", "running", "pausing", "paused", "resuming"],
             "suspended": ["connecting", "running", "suspended"], "aborting": ["connecting", "aborting"],
             "finishing": ["connecting", "running", "finishing"]}
    for final in ("completed", "aborted", "failed"):
        paths[final] = [*paths["finishing"], final]
    states = _at(paths[old])
    assert states.state.value == old
    if (old, new) in MOVES:
        states.move(ExperimentState(new), "test", 1.0)
        assert states.state.value == new
    elif old == "aborting":  # the engine's own progress meets an abort: not made, no error
        assert states.move(ExperimentState(new), "test", 1.0) is None and states.state.value == "aborting"
    else:
        with pytest.raises(InvalidTransition, match=f"no move from {old} to {new}"):
            states.move(ExperimentState(new), "test", 1.0)


def test_only_recorded_states_are_events_and_a_lift_goes_back() -> None:
    """Passing states (connecting, pausing, resuming, aborting) never reach the file: the record keeps the
    sequence it has always had (tests/test_end_to_end_link.py, tests/engine/test_imaging.py)."""
    states = RunStates()
    seen: list[tuple[str, str] | None] = []
    for new in ("connecting", "running", "pausing", "suspended"):
        change = states.move(ExperimentState(new), new, 1.0, by="ana")
        seen.append((change.old.value, change.new.value) if change else None)
    assert states.ask(Request.PAUSE).refused and states.underlying is ExperimentState.PAUSING
    lift = states.ask(Request.LIFT)
    assert lift.to is ExperimentState.PAUSING  # back where the suspension found the run
    change = states.move(lift.to, "link back", 2.0)
    assert change is not None and (change.old.value, change.new.value, change.reason) == (
        "suspended", "running", "link back")  # pausing is recorded as running
    assert states.why[ExperimentState.PAUSING] == ("pausing", "ana")  # the pause's reason and author stand
    for new in ("paused", "resuming", "running", "aborting", "finishing", "aborted"):
        change = states.move(ExperimentState(new), new, 2.0)
        assert change is None or isinstance(change, StateChanged)
        seen.append((change.old.value, change.new.value) if change else None)
    assert seen == [None, ("idle", "running"), None, ("running", "suspended"),
                    ("running", "paused"), None, ("paused", "running"), None, ("running", "finishing"),
                    ("finishing", "aborted")]
    assert states.recorded is ExperimentState.ABORTED


def test_an_abort_asked_before_the_start_is_queued_and_ends_the_run_before_anything_starts(tmp_path: Path) -> None:
    plan = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(plan.cell)
    experiment = Experiment(plan, potentiostat, tmp_path / "run.h5", poll_interval=60.0)
    experiment.request_abort("changed my mind")
    assert experiment.state is ExperimentState.IDLE and experiment.states.state is ExperimentState.IDLE
    result = run_simulated(experiment.run())
    assert result.status is ExperimentState.ABORTED and result.points == 0
    assert result.reason == "changed my mind (before the start: nothing was started)"
    assert "start" not in potentiostat.calls and potentiostat.calls[-2:] == ["safe_state", "disconnect"]
    record = read_experiment(result.path)
    assert [e["new"] for e in record.events_of("state_changed")] == ["finishing", "aborted"]


def test_the_controls_answer_from_the_table_through_a_pause_and_an_abort(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Through the experiment's controls: the passing states refuse a repeated request by name, the record
    keeps running / paused / running / finishing / aborted, a second abort is answered with a line."""
    plan = charge_hold_discharge()
    experiment = Experiment(plan, CellPotentiostat.for_plan_cell(plan.cell), tmp_path / "run.h5",
                            poll_interval=60.0)
    seen: dict[str, object] = {}

    def now() -> tuple[ExperimentState, ExperimentState]:
        return experiment.states.state, experiment.state

    async def main() -> None:
        run = asyncio.create_task(experiment.run())
        await asyncio.sleep(900.0)  # the charge runs
        experiment.request_pause("look", author="ana")
        seen["pausing"] = now()
        with pytest.raises(ValueError, match="cannot pause: the experiment is pausing"):
            experiment.request_pause()
        await asyncio.sleep(600.0)
        seen["paused"] = now()
        experiment.request_resume(author="ana")
        seen["resuming"] = now()
        with pytest.raises(ValueError, match="cannot resume: the experiment is resuming, not paused"):
            experiment.request_resume()
        await asyncio.sleep(600.0)
        seen["running"] = now()
        experiment.request_abort("done")
        seen["aborting"] = now()
        experiment.request_abort("twice")
        seen["result"] = await run

    run_simulated(main())
    s = ExperimentState
    assert seen["pausing"] == (s.PAUSING, s.RUNNING) and seen["paused"] == (s.PAUSED, s.PAUSED)
    assert seen["resuming"] == (s.RESUMING, s.PAUSED) and seen["running"] == (s.RUNNING, s.RUNNING)
    assert seen["aborting"] == (s.ABORTING, s.RUNNING)
    assert seen["result"].status is s.ABORTED  # type: ignore[attr-defined]
    assert "twice: the run is already stopping (done)" in caplog.text
    record = read_experiment(tmp_path / "run.h5")
    changes = [(e["old"], e["new"], e["reason"]) for e in record.events_of("state_changed")]
    assert changes == [("idle", "running", "started"), ("running", "paused", "look (ana)"),
                       ("paused", "running", "resumed (ana)"), ("running", "finishing", "done"),
                       ("finishing", "aborted", "done")]
