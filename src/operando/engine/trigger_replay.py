"""Where each region's triggers stood when a run was interrupted, and which firings still owe a frame.

The recorded points, step boundaries and timer grid are fed again, in the order the engine fed them, through a
fresh :class:`RegionTriggers`: it ends in the state the interrupted run's triggers had (levels crossed, charge
counted, voltage side, next timer), and lists every firing the run made. A firing is settled when the file
shows what became of it: its frame (same trigger, same request time), or an event saying it was skipped,
coalesced into another frame, lost to a microscope fault, or refused by the dose budget. The others were due
when the process died (their frame was queued, being scanned, or waiting for its electrochemical state): a
resumed run fires them at once. Frames asked for by a person are not replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from operando.engine.events import PointBatch
from operando.engine.triggers import Firing, RegionTriggers
from operando.plan import Plan, RegionOfInterest
from operando.storage import PAUSE_LABEL, ExperimentRecord

TIME_MATCH = 1e-6  # s: a frame's t_requested is the firing's own time, stored exactly


@dataclass(frozen=True)
class ReplayedTriggers:
    """One region's triggers as the record leaves them, and the firings that are still owed a frame."""

    triggers: RegionTriggers
    due: tuple[Firing, ...]
    lost: str = ""  # the region was no longer imaged (dose budget spent with stop_region)


def _batch(record: ExperimentRecord) -> PointBatch:
    ec = record.electrochem
    return PointBatch(*(np.asarray(ec[name]) for name in PointBatch.COLUMNS))


def _firings(region: RegionOfInterest, plan: Plan, record: ExperimentRecord, end: float,
             ) -> tuple[RegionTriggers, list[Firing]]:
    """Every firing of ``region``'s triggers over the record (up to ``end`` s), and the triggers after it."""
    triggers = RegionTriggers(region, start=0.0, soc=math.nan)
    fired: list[Firing] = []
    if len(record.electrochem["t"]):
        fired += triggers.points(_batch(record))
    for t, kind, payload in record.events:
        if kind == "step_started" and not payload.get("continued") and payload.get("label") != PAUSE_LABEL:
            fired += triggers.step_boundary("step_start", t, payload["name"], payload["label"])
        elif kind == "step_ended" and payload.get("reason") in ("limit", "duration") \
                and payload.get("name") != "pause":
            index = int(payload["step"])
            label = plan.steps[index].label if 0 <= index < len(plan.steps) else ""
            fired += triggers.step_boundary("step_end", t, payload["name"], label)
    while triggers.next_due() <= end + 1e-9:
        fired += triggers.due(triggers.next_due())
    return triggers, sorted(fired, key=lambda f: f.t)


def _outcomes(name: str, record: ExperimentRecord) -> list[tuple[float, str | None]]:
    """(time, trigger label or None for any) of every event that settled a firing of region ``name``."""
    frame_lost, budget = f"region {name!r}: frame lost", "dose budget"
    settled = []
    for t, kind, payload in record.events:
        if payload.get("region") == name and kind in ("acquisition_skipped", "trigger_coalesced"):
            settled.append((t, payload.get("trigger")))
        elif kind == "region_lost" and payload.get("region") == name and \
                str(payload.get("reason", "")).startswith(budget):
            settled.append((t, None))
        elif kind == "fault" and str(payload.get("message", "")).startswith(frame_lost):
            settled.append((t, None))
    return sorted(settled, key=lambda item: item[0])


def _unsettled(firings: list[Firing], frames: dict[str, np.ndarray], outcomes: list[tuple[float, str | None]],
               ) -> list[Firing]:
    settled = [False] * len(firings)
    for code, requested in zip(frames["trigger"].tolist(), frames["t_requested"].tolist(), strict=True):
        for k, firing in enumerate(firings):
            if not settled[k] and firing.code == code and abs(firing.t - requested) <= TIME_MATCH:
                settled[k] = True
                break
    for t, label in outcomes:
        # The latest firing not yet settled, fired before the event: the one the scheduler was deciding on.
        for k in range(len(firings) - 1, -1, -1):
            firing = firings[k]
            if not settled[k] and firing.t <= t + TIME_MATCH and label in (None, firing.label):
                settled[k] = True
                break
    return [firing for k, firing in enumerate(firings) if not settled[k]]


def replay_triggers(plan: Plan, record: ExperimentRecord, end: float) -> dict[str, ReplayedTriggers]:
    """Each region's triggers after the record (last record at ``end`` s) and the firings owed a frame."""
    if plan.imaging is None:
        return {}
    replayed = {}
    for region in plan.imaging.regions:
        triggers, firings = _firings(region, plan, record, end)
        stored = record.rois.get(region.name)
        frames = stored.table if stored is not None else {"trigger": np.empty(0), "t_requested": np.empty(0)}
        due = _unsettled(firings, frames, _outcomes(region.name, record))
        lost = [e["reason"] for e in record.events_of("region_lost")
                if e.get("region") == region.name and str(e.get("reason", "")).startswith("dose budget")]
        replayed[region.name] = ReplayedTriggers(triggers, tuple(due), lost[-1] if lost else "")
    return replayed
