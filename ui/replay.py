"""Read an experiment file (finished or still written under SWMR) into a RunRecord; frames one at a time.

Called from worker threads: h5py releases nothing to Qt, and a 2048 x 1536 frame takes tens of ms to read.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from operando.storage import read_experiment, reading

from .records import POINT_COLUMNS, RegionRecord, RunRecord

# HDF5 fails ("can't insert duplicate key") when two threads open the same file at once, as two frame loads
# on the pool do when the region and the frame change together: the GUI reads files one at a time.
FILE_LOCK = threading.Lock()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _json_attr(group: h5py.Group, name: str, default: Any) -> Any:
    try:
        return json.loads(_text(group.attrs[name])) if name in group.attrs else default
    except json.JSONDecodeError:
        return default


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_region(name: str, group: h5py.Group) -> RegionRecord:
    """A region's settings and frame table (docs/data-format.md), cut to the frames fully written."""
    columns = {key: dataset for key, dataset in group.items()
               if isinstance(dataset, h5py.Dataset) and key not in ("frames", "displacement")}
    for dataset in (*columns.values(), *(group[key] for key in ("frames", "displacement") if key in group)):
        dataset.refresh()
    lengths = [dataset.shape[0] for dataset in columns.values() if dataset.ndim == 1]
    lengths += [group[key].shape[0] for key in ("frames", "displacement") if key in group]
    length = min(lengths, default=0)
    table = {key: dataset[:length] for key, dataset in columns.items() if dataset.ndim == 1}
    table.setdefault("index", np.arange(length))
    settings = _json_attr(group, "settings", {})
    region = RegionRecord(name=name, detectors=tuple(_json_attr(group, "detectors", [])))
    region.pixel_size = _float(settings.get("pixel_size")) or math.nan
    region.dose_budget = _float(settings.get("dose_budget"))
    if "frames" in group:
        shape = group["frames"].shape
        region.frame_size = (int(shape[-1]), int(shape[-2]))
        if len(region.detectors) != shape[1]:
            region.detectors = tuple(f"detector {k}" for k in range(shape[1]))
    region.frames.extend({key: values for key, values in table.items() if values.dtype.kind in "fiub"})
    labels = _json_attr(group, "trigger_labels", [])
    codes = table.get("trigger", np.zeros(0, int))
    region.triggers = [labels[code] if 0 <= code < len(labels) else f"trigger {code}"
                       for code in codes.tolist()]
    if math.isnan(region.pixel_size) and length:
        region.pixel_size = float(region.frames["pixel_size"][-1])
    return region


def load_run(path: str | Path) -> RunRecord:
    """Everything the views need from the file except frame pixels (see :func:`read_frame`)."""
    with FILE_LOCK:
        return _load_run(path)


def _load_run(path: str | Path) -> RunRecord:
    record = read_experiment(path)
    run = RunRecord(name=str(record.attrs.get("name", Path(path).stem)), status=record.status,
                    attrs=record.attrs, cell=record.cell, events=record.events,
                    instruments=record.instruments, steps=record.steps, path=str(path))
    run.points.extend({name: column for name, column in record.electrochem.items() if name in POINT_COLUMNS})
    with reading(path) as file:
        rois = file["entry"].get("rois")
        for name, group in (rois.items() if rois is not None else ()):
            if isinstance(group, h5py.Group):
                run.regions[name] = _read_region(name, group)
    return run


def read_frame(path: str | Path, region: str, row: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One frame's pixels (detector, y, x) and its local displacement field (2, gy, gx) m, or None."""
    with FILE_LOCK, reading(path) as file:
        group = file["entry"]["rois"][region]
        frames = group["frames"]
        frames.refresh()
        if not 0 <= row < frames.shape[0]:
            raise IndexError(f"region {region!r} has {frames.shape[0]} frames; no frame {row}")
        pixels = frames[row]
        displacement = None
        if "displacement" in group:
            field = group["displacement"]
            field.refresh()
            if row < field.shape[0]:
                values = field[row]
                displacement = values if np.isfinite(values).any() else None
    return pixels, displacement
