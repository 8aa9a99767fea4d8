"""Read an experiment file (finished or still written under SWMR) into a RunRecord; frames one at a time.

Called from worker threads: h5py releases nothing to Qt, and a 2048 x 1536 frame takes tens of ms to read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from operando.storage import read_experiment

from .records import POINT_COLUMNS, RegionRecord, RunRecord

# Per-frame tables store drift and correction as (n, 2) pairs (dy, dx) or as separate columns.
_PAIR_COLUMNS = {"drift": ("drift_y", "drift_x")}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _json_or_list(value: Any) -> list[Any]:
    if isinstance(value, bytes | np.bytes_ | str):
        text = _text(value)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return [part.strip() for part in text.split(",") if part.strip()]
        return list(parsed) if isinstance(parsed, list) else [parsed]
    return [_text(item) for item in np.atleast_1d(value)]


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _region_columns(group: h5py.Group) -> tuple[dict[str, np.ndarray], int]:
    """Every per-frame column of a region (1-D, or (n, 2) pairs split), cut to the frames dataset's length."""
    datasets: dict[str, h5py.Dataset] = {}
    group.visititems(lambda name, obj: datasets.setdefault(name.rsplit("/", 1)[-1], obj)
                     if isinstance(obj, h5py.Dataset) else None)
    for dataset in datasets.values():
        dataset.refresh()
    frames = datasets.get("frames")
    table = {name: d for name, d in datasets.items() if name not in ("frames", "displacement")}
    lengths = [d.shape[0] for d in table.values() if d.ndim >= 1]
    if frames is not None:
        lengths.append(frames.shape[0])
    length = min(lengths, default=0)
    columns: dict[str, np.ndarray] = {}
    for name, dataset in table.items():
        if dataset.ndim == 1:
            columns[name] = dataset[:length]
        elif dataset.ndim == 2 and dataset.shape[1] == 2 and name in _PAIR_COLUMNS:
            pair = dataset[:length]
            first, second = _PAIR_COLUMNS[name]
            columns[first], columns[second] = pair[:, 0], pair[:, 1]
    return columns, length


def _read_region(name: str, group: h5py.Group) -> RegionRecord:
    attrs = group.attrs
    region = RegionRecord(name=name)
    if "detectors" in attrs:
        region.detectors = tuple(_json_or_list(attrs["detectors"]))
    elif "frames" in group and "detectors" in group["frames"].attrs:
        region.detectors = tuple(_json_or_list(group["frames"].attrs["detectors"]))
    region.pixel_size = _float(attrs.get("pixel_size")) or math.nan
    region.dose_budget = _float(attrs.get("dose_budget"))
    if "frames" in group:
        shape = group["frames"].shape
        region.frame_size = (int(shape[-1]), int(shape[-2]))
        if not region.detectors:
            region.detectors = tuple(f"detector {k}" for k in range(shape[1]))
    columns, length = _region_columns(group)
    numeric = {key: value for key, value in columns.items() if value.dtype.kind in "fiub"}
    numeric.setdefault("index", np.arange(length))
    region.frames.extend(numeric)
    triggers = columns.get("trigger")
    region.triggers = [_text(item) for item in triggers] if triggers is not None else [""] * length
    if math.isnan(region.pixel_size) and length and "pixel_size" in numeric:
        region.pixel_size = float(numeric["pixel_size"][-1])
    return region


def load_run(path: str | Path) -> RunRecord:
    """Everything the views need from the file except frame pixels (see :func:`read_frame`)."""
    record = read_experiment(path)
    run = RunRecord(name=str(record.attrs.get("name", Path(path).stem)), status=record.status,
                    attrs=record.attrs, cell=record.cell, events=record.events,
                    instruments=record.instruments, steps=record.steps, path=str(path))
    run.points.extend({name: column for name, column in record.electrochem.items() if name in POINT_COLUMNS})
    with h5py.File(path, "r", libver="latest", swmr=True) as file:
        rois = file["entry"].get("rois")
        for name, group in (rois.items() if rois is not None else ()):
            if isinstance(group, h5py.Group):
                run.regions[name] = _read_region(name, group)
    return run


def read_frame(path: str | Path, region: str, row: int) -> tuple[np.ndarray, np.ndarray | None]:
    """One frame's pixels (detector, y, x) and its local displacement field (2, gy, gx) m, or None."""
    with h5py.File(path, "r", libver="latest", swmr=True) as file:
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
