"""Where an interrupted experiment stands, read back from its file, so a new run can continue it in place.

The protocol position comes from the step events (the step that was running continues with what it had
left), the charge counter and state of charge from the last point, frame numbers and dose totals from each
region's frame table, each region's triggers from the whole record (:mod:`operando.engine.trigger_replay`:
a firing whose frame was not written fires again) and a simulated rig's state from /entry/rig_state. A file
whose run did not end (status ``running`` or ``interrupted``) is resumed; one whose run failed (a full disk, a
link lost for longer than the protocol allows) only when asked for explicitly, once the cause is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from operando.clock import is_simulated
from operando.engine.continuation import Continuation
from operando.engine.imaging import RegionStart
from operando.engine.trigger_replay import replay_triggers
from operando.errors import OperandoError
from operando.plan import Plan
from operando.storage import PAUSE_LABEL, ExperimentRecord, read_experiment, read_rig_state
from operando.timeline import Timeline

RESUMABLE = ("running", "interrupted")
RECENT_POINTS = 500  # points kept for the electrochemical state of the first frames after the resume


class CannotResume(OperandoError):
    """The file cannot be continued (it ended, or it is not an experiment file); says why."""


@dataclass(frozen=True)
class ResumeState:
    """An interrupted run: ``last_record`` s is the last time anything was recorded; ``step_index`` the step
    to run next (with ``continuation`` if it had started); charges in C."""

    start_utc: datetime
    last_record: float
    step_index: int
    continuation: Continuation | None
    charge: float
    charged: float
    discharged: float
    points: int
    impedance_runs: int
    soc: float
    status: str
    regions: dict[str, RegionStart] = field(default_factory=dict)
    recent_points: dict[str, np.ndarray] = field(default_factory=dict)
    rig_state: Any = None  # the rig's saved state after the last recorded point (simulated rigs), opaque here
    rig_state_t: float = float("nan")  # s on the timeline when it was taken
    failure: str = ""  # why the run failed, for a failed run continued on purpose

    @property
    def reason(self) -> str:
        if self.status == "failed":
            return "continued after the run failed" + (f" ({self.failure})" if self.failure else "")
        return f"continued after an interruption (the file said {self.status!r})"

    def timeline(self) -> Timeline:
        """The timeline that continues the record: on from the last record by the wall clock's gap since, none
        on simulated time (a simulated run has no real gap: it continues where the record stops)."""
        gap = 0.0
        if not is_simulated():
            gap = max(0.0, (datetime.now(UTC) - self.start_utc).total_seconds() - self.last_record)
        return Timeline.resumed(self.last_record + gap, self.start_utc)


def _last_start(record: ExperimentRecord) -> dict[str, Any] | None:
    starts = [event for event in record.events_of("step_started") if event.get("label") != PAUSE_LABEL]
    return starts[-1] if starts else None


def _position(plan: Plan, record: ExperimentRecord, ran_until: float = float("nan"),
              ) -> tuple[int, Continuation | None]:
    """The step to run next and what it had done; ``ran_until`` s is when the saved rig state was taken (the
    technique of a step whose point is the file's last ran until then)."""
    start = _last_start(record)
    if start is None:
        return 0, None
    index = int(start["step"])
    ends = [e for e in record.events_of("step_ended")
            if int(e["step"]) == index and e["t"] >= start["t"] and e.get("name") != "pause"]
    finished = [e for e in ends if e["reason"] in ("limit", "duration")]
    if finished:
        end, following = finished[-1], index + 1
        group = plan.steps[index].group if index < len(plan.steps) else None
        if end.get("action") == "end_group" and group is not None:
            while following < len(plan.steps) and plan.steps[following].group == group:
                following += 1
        return following, None
    ec = record.electrochem
    pause_code = record.technique_labels.index(PAUSE_LABEL) if PAUSE_LABEL in record.technique_labels else -1
    in_step = (ec["step"] == index) & (ec["technique"] != pause_code)
    positions = np.flatnonzero(in_step)
    paused = [e for e in ends if e["reason"] == "paused"]
    if paused:
        elapsed = float(paused[-1].get("elapsed", 0.0))
    else:
        active = ec["t"][in_step & (ec["t"] >= start["t"])]
        last = float(active[-1]) if len(active) else float(start["t"])
        if len(active) and active[-1] == ec["t"][-1] and ran_until > last:
            last = ran_until  # the read that brought the last point came later: the technique ran till then
        elapsed = float(start.get("elapsed_before", 0.0)) + (last - float(start["t"]) if len(active) else 0.0)
    if len(positions) == 0:
        before = np.flatnonzero(ec["t"] < start["t"])
        charge_at_start = float(ec["Q"][before[-1]]) if len(before) else 0.0
        return index, Continuation(elapsed, charge_at_start, None, 0, 0.0)
    first = int(positions[0])
    charge_at_start = float(ec["Q"][first - 1]) if first > 0 else 0.0
    charge = float(ec["Q"][-1]) - charge_at_start
    return index, Continuation(elapsed, charge_at_start, abs(float(ec["I"][first])), len(positions), charge)


def _failure(record: ExperimentRecord) -> str:
    """The reason the file gives for its run's failure (its last change of state to failed)."""
    failed = [event for event in record.events_of("state_changed") if event.get("new") == "failed"]
    return str(failed[-1].get("reason", "")) if failed else ""


def read_resume_state(path: str | Path, plan: Plan, *, after_failure: bool = False) -> ResumeState:
    """Read where the run in ``path`` stopped; ``plan`` is its protocol (from the file's protocol text).
    ``after_failure`` lets a failed run be continued (the researcher has fixed what made it fail)."""
    try:
        record = read_experiment(path)
    except (OSError, KeyError) as exc:
        raise CannotResume(f"{path}: not a readable experiment file ({exc})") from exc
    status = record.status
    failure = _failure(record) if status == "failed" else ""
    if status == "failed" and not after_failure:
        because = f" ({failure})" if failure else ""
        raise CannotResume(f"{path}: the run failed{because}; once the cause is fixed, continue it with "
                           f"'operando resume {path} --after-failure'")
    if status not in RESUMABLE and not (status == "failed" and after_failure):
        raise CannotResume(f"{path}: the experiment ended ({status}); only a run that was interrupted "
                           f"(status {' or '.join(RESUMABLE)}) can be continued")
    if record.attrs.get("name") != plan.name:
        raise CannotResume(f"{path}: the file is experiment {record.attrs.get('name')!r}, the protocol is "
                           f"{plan.name!r}")
    ec = record.electrochem
    steps_of_q = np.diff(ec["Q"]) if len(ec["Q"]) > 1 else np.empty(0)
    times = [float(ec["t"][-1])] if len(ec["t"]) else [0.0]
    times += [t for t, _, _ in record.events[-1:]]
    regions = {}
    for name, region in record.rois.items():
        table = region.table
        if len(region):
            times.append(float(table["t_end"][-1]))
            regions[name] = RegionStart(len(region), float(table["cumulative_dose"][-1]),
                                        float(table["t_requested"][-1]))
        else:
            regions[name] = RegionStart()
    try:
        saved = read_rig_state(path, points=len(ec["t"]))
    except (OSError, KeyError, ValueError) as exc:
        raise CannotResume(f"{path}: the saved rig state cannot be read ({exc})") from exc
    if saved is not None:
        times.append(saved[0])  # the rig (a simulated cell) was put in that state at the read after the points
    step_index, continuation = _position(plan, record, saved[0] if saved is not None else float("nan"))
    last_record = max(times)
    for name, replayed in replay_triggers(plan, record, last_record).items():
        regions[name] = replace(regions.get(name, RegionStart()), triggers=replayed.triggers, due=replayed.due,
                                lost=replayed.lost)
    runs = record.impedance["run"]
    return ResumeState(
        start_utc=datetime.fromisoformat(record.attrs["start_time"]), last_record=last_record,
        step_index=step_index, continuation=continuation,
        charge=float(ec["Q"][-1]) if len(ec["Q"]) else 0.0,
        charged=float(steps_of_q[steps_of_q > 0].sum()), discharged=float(-steps_of_q[steps_of_q < 0].sum()),
        points=len(ec["t"]), impedance_runs=int(runs.max()) + 1 if len(runs) else 0,
        soc=float(ec["soc"][-1]) if len(ec["soc"]) else float("nan"), status=status, regions=regions,
        recent_points={name: ec[name][-RECENT_POINTS:]
                       for name in ("t", "E_we", "I", "Q", "soc", "cycle", "step")},
        rig_state=saved[2] if saved is not None else None,
        rig_state_t=saved[0] if saved is not None else float("nan"), failure=failure,
    )
