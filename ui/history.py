"""Merge the history read from an engine's file into the record a live GUI has built from telemetry since it
attached: the file's points and frames from before the attach, the live ones after, none twice (points by time,
frames by region and index). Qt-free; the file itself is read on a worker (operando.ui.replay.load_run)."""

from __future__ import annotations

import math

import numpy as np

from .records import POINT_COLUMNS, Columns, RegionRecord, RunRecord

SAME_TIME = 1e-6  # s: a published point and a written one this close are the same measurement


def merge_points(history: Columns, live: Columns) -> Columns:
    """The file's points, then the live ones it does not hold yet, sorted by time."""
    known = np.sort(history["t"])
    times = live["t"]
    fresh = np.ones(len(times), bool)
    if len(known):
        after = np.searchsorted(known, times)
        before = known[np.clip(after - 1, 0, len(known) - 1)]
        following = known[np.clip(after, 0, len(known) - 1)]
        fresh = np.minimum(np.abs(before - times), np.abs(following - times)) > SAME_TIME
    merged = Columns(POINT_COLUMNS, max(4096, 2 * (len(history) + len(live))))
    columns = {name: np.concatenate([history[name], live[name][fresh]]) for name in POINT_COLUMNS}
    order = np.argsort(columns["t"], kind="stable")
    merged.extend({name: values[order] for name, values in columns.items()})
    return merged


def merge_region(history: RegionRecord, live: RegionRecord | None) -> RegionRecord:
    """The file's frames of one region, then the live frames whose index the file does not hold yet."""
    if live is None:
        return history
    merged = RegionRecord(name=history.name, detectors=live.detectors or history.detectors,
                          pixel_size=live.pixel_size if math.isfinite(live.pixel_size) else history.pixel_size,
                          frame_size=live.frame_size if live.frame_size[0] else history.frame_size,
                          dose_budget=live.dose_budget if live.dose_budget is not None else history.dose_budget)
    merged.frames.extend({name: history.frames[name] for name in history.frames.names})
    merged.triggers = list(history.triggers)
    merged.displacement_grids = dict(history.displacement_grids)
    merged.thumbnails = dict(history.thumbnails)
    in_file = {int(index) for index in history.frames["index"] if math.isfinite(index)}
    for row in range(len(live.frames)):
        index = live.frames["index"][row]
        if math.isfinite(index) and int(index) in in_file:
            continue
        new_row = len(merged.frames)
        merged.frames.extend({name: [live.frames[name][row]] for name in live.frames.names})
        merged.triggers.append(live.triggers[row] if row < len(live.triggers) else "")
        if row in live.thumbnails:
            merged.thumbnails[new_row] = live.thumbnails[row]
        if row in live.displacement_grids:
            merged.displacement_grids[new_row] = live.displacement_grids[row]
    return merged


def merge_history(live: RunRecord, history: RunRecord) -> None:
    """Fill ``live`` (in place: the link keeps appending to it) with what ``history`` holds from before."""
    live.points = merge_points(history.points, live.points)
    names = [*history.regions, *(name for name in live.regions if name not in history.regions)]
    live.regions = {name: merge_region(history.regions[name], live.regions.get(name))
                    if name in history.regions else live.regions[name] for name in names}
    seen = {(round(t, 6), kind) for t, kind, _ in history.events}
    events = [*history.events, *(event for event in live.events if (round(event[0], 6), event[1]) not in seen)]
    live.events = sorted(events, key=lambda event: event[0])
    live.instruments = live.instruments or history.instruments
    live.steps = live.steps or history.steps
    live.cell = live.cell or history.cell
    live.attrs = {**history.attrs, **live.attrs}
