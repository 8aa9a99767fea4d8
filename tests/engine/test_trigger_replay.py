"""Triggers replayed over a record: they end as the interrupted run's did, and exactly the firings the file
shows no outcome for (no frame, no skipped, coalesced or frame-lost event) are owed a frame."""

import numpy as np

from operando.engine.trigger_replay import replay_triggers
from operando.plan import Trigger
from operando.storage import ExperimentRecord, RegionRecord
from tests.engine.imaging_rig import region, with_imaging
from tests.engine.plans import charge_hold_discharge
from tests.engine.test_triggers import points

HOUR = 3600.0
T = np.arange(0.0, 3.5 * HOUR + 1, 60.0)  # a point a minute for 3.5 h
SOC = T / (10 * HOUR)  # 10 % an hour: the 10 % levels are crossed at 1, 2 and 3 h


def record(frames: list[tuple[int, float]], events: list[tuple[float, str, dict]]) -> ExperimentRecord:
    n = len(T)
    ec = {"t": T, "t_device": T, "E_we": np.full(n, 3.5), "I": np.full(n, 15e-6), "Q": SOC * 3.24, "soc": SOC,
          "cycle": np.zeros(n, np.int32), "step": np.ones(n, np.int32), "technique": np.zeros(n, np.uint8)}
    table = {"trigger": np.array([c for c, _ in frames], np.uint8),
             "t_requested": np.array([t for _, t in frames], float)}
    rois = {"r": RegionRecord("r", table, ("SE2",), (), {}, (1, 384, 512))}
    return ExperimentRecord({}, {}, {}, ec, ("CP",), [], {}, events, rois=rois)


def the_plan():  # noqa: ANN201
    return with_imaging(charge_hold_discharge(), region("r", Trigger("soc_step", soc_step=0.1),
                                                        Trigger("every", interval=HOUR)))


def crossing(level: float) -> float:
    return float(T[np.argmax(SOC >= level - 1e-12)])


def test_only_the_firings_without_an_outcome_are_owed_a_frame() -> None:
    plan = the_plan()
    soc_label, every_label = "every 10 % SOC", "every 3600 s"
    assert crossing(0.1) == HOUR
    # Firings: the timer at 0, 1, 2 and 3 h; the levels 10, 20 and 30 % at 1, 2 and 3 h.
    frames = [(1, 0.0), (0, HOUR)]  # the 0 h timer frame, the 10 % frame...
    events = [
        (HOUR + 1.0, "trigger_coalesced", {"region": "r", "trigger": every_label}),  # ...which the 1 h timer shared
        (2 * HOUR + 3.0, "acquisition_skipped", {"region": "r", "trigger": every_label, "reason": "paused"}),
        (2 * HOUR + 30.0, "fault", {"message": "region 'r': frame lost: grab failed (1016)"}),  # the 20 % frame
        (2 * HOUR + 40.0, "fault", {"message": "region 'other': frame lost: grab failed (1016)"}),
    ]
    replayed = replay_triggers(plan, record(frames, events), end=float(T[-1]))["r"]
    owed = [(f.label, f.t) for f in replayed.due]
    assert owed == [(soc_label, crossing(0.3)), (every_label, 3 * HOUR)]
    assert [f.code for f in replayed.due] == [0, 1]


def test_the_triggers_go_on_from_where_the_record_stops() -> None:
    replayed = replay_triggers(the_plan(), record([], []), end=float(T[-1]))["r"]
    triggers = replayed.triggers
    assert triggers.next_due() == 4 * HOUR  # the 2 h grid of the record, not restarted
    later = triggers.points(points([T[-1] + 60, T[-1] + 3600], soc=[0.351, 0.401]))
    assert [(f.label, f.t) for f in later] == [("every 10 % SOC", T[-1] + 3600)]  # 40 %, not 30 % again
    assert len(replayed.due) == 3 + 4  # nothing in the file: every firing is owed


def test_a_region_whose_dose_budget_ran_out_stays_lost() -> None:
    events = [(HOUR, "region_lost", {"region": "r", "reason": "dose budget: 10 + 5 e-/nm^2 would exceed 12"})]
    replayed = replay_triggers(the_plan(), record([], events), end=float(T[-1]))["r"]
    assert replayed.lost.startswith("dose budget")
