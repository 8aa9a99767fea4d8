"""/entry/rois/<name>: the frames of each region of interest, one row per frame, made before SWMR starts.

Every region gets ``frames`` (n, detector, y, x) uint16 chunked one image per chunk, ``displacement``
(n, 2, gy, gx) float32 (the local displacement field on a 64 px grid, NaN without tracking) and the per-frame
table (the columns of :class:`operando.storage.frame_record.FrameRecord`, or of the subclass the run records) as
sibling 1-D datasets of equal length.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from operando.plan import Plan, RegionOfInterest
from operando.storage._events import to_json
from operando.storage._table import Column, Table
from operando.storage.frame_record import EC_SOURCES, FRAME_TABLE, FrameRecord

DISPLACEMENT_CELL = 64  # px: one local displacement vector per 64 x 64 px cell of a frame


def displacement_grid(frame_size: tuple[int, int]) -> tuple[int, int]:
    """(gy, gx) cells of the local displacement field of a (width, height) frame."""
    width, height = frame_size
    return max(height // DISPLACEMENT_CELL, 1), max(width // DISPLACEMENT_CELL, 1)


def frame_bytes(plan: Plan) -> int:
    """Bytes the largest frame of ``plan`` takes in the file (pixels of every detector and its displacement
    field); 0 without imaging."""
    sizes = [2 * len(region.detectors) * region.frame_size[0] * region.frame_size[1]
             + 4 * 2 * math.prod(displacement_grid(region.frame_size))
             for region in (plan.imaging.regions if plan.imaging is not None else ())]
    return max(sizes, default=0)


def check_region_name(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"region name {name!r} cannot name an HDF5 group: use letters, digits, - or _")


def _region_settings(region: RegionOfInterest) -> dict[str, Any]:
    settings = dataclasses.asdict(region)
    settings["frame_dose"] = region.frame_dose
    return settings


def trigger_labels(region: RegionOfInterest) -> tuple[str, ...]:
    """One label per trigger of the region, then "manual request" (a frame asked for by a person)."""
    return (*(trigger.describe() for trigger in region.triggers), "manual request")


def create_rois(entry: h5py.Group, plan: Plan, record: type[FrameRecord] = FrameRecord) -> None:
    """The /entry/rois groups of ``plan``'s imaging plan (an empty /entry/rois without one), with the
    columns of ``record``."""
    rois = entry.create_group("rois")
    if plan.imaging is None:
        return
    for region in plan.imaging.regions:
        check_region_name(region.name)
        width, height = region.frame_size
        detectors = len(region.detectors)
        group = rois.create_group(region.name)
        frames = group.create_dataset("frames", shape=(0, detectors, height, width),
                                      maxshape=(None, detectors, height, width), dtype="u2",
                                      chunks=(1, 1, height, width))
        frames.attrs["units"] = "counts"
        frames.attrs["description"] = "frames (n, detector, y, x): detector order in the detectors attribute"
        gy, gx = displacement_grid(region.frame_size)
        displacement = group.create_dataset("displacement", shape=(0, 2, gy, gx), maxshape=(None, 2, gy, gx),
                                            dtype="f4", chunks=(1, 2, gy, gx), fillvalue=np.nan)
        displacement.attrs["units"] = "m"
        displacement.attrs["description"] = (
            f"local displacement (n, [dy, dx], gy, gx) against the keyframe, one vector per "
            f"{DISPLACEMENT_CELL} x {DISPLACEMENT_CELL} px cell; NaN without tracking")
        Table.add_columns(group, record.columns(), chunk_rows=256)
        group.attrs["detectors"] = json.dumps(list(region.detectors))
        group.attrs["trigger_labels"] = json.dumps(list(trigger_labels(region)))
        group.attrs["ec_sources"] = json.dumps(list(EC_SOURCES))
        group.attrs["settings"] = to_json(_region_settings(region))
        group.attrs["units"] = to_json({"pixel_size": "m", "dwell": "s", "accelerating_voltage": "V",
                                        "probe_current": "A", "dose_budget": "e/m^2", "frame_dose": "e/m^2",
                                        "min_interval": "s", "settle_time": "s", "tilt_correction": "rad",
                                        "scan_rotation": "rad", "stage_position": "m and rad"})
        group.attrs["displacement_cell"] = DISPLACEMENT_CELL


def table_columns(group: h5py.Group) -> tuple[Column, ...]:
    """The frame table's columns a region's group holds: the base record's, then any a subclass added."""
    known = {c.name for c in FRAME_TABLE}
    added = tuple(Column(name, str(dataset.dtype), _text(dataset.attrs.get("units", "")),
                         _text(dataset.attrs.get("description", "")))
                  for name, dataset in group.items()
                  if name not in known and isinstance(dataset, h5py.Dataset) and dataset.ndim == 1)
    return (*FRAME_TABLE, *added)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RegionFrames:
    """One region's datasets: append a frame (pixels, displacement field, table row) together."""

    def __init__(self, group: h5py.Group) -> None:
        self.group = group
        self.table = Table(group, table_columns(group))
        self.frames = group["frames"]
        self.displacement = group["displacement"]
        # After a crash the pixels may be ahead of the table (a frame half written): the table decides.
        self._length = min(len(self.table), self.frames.shape[0], self.displacement.shape[0])

    def __len__(self) -> int:
        return self._length

    def truncate(self) -> None:
        """Cut every dataset to the frames fully written (before appending after a crash)."""
        for dataset in (self.frames, self.displacement):
            if dataset.shape[0] != self._length:
                dataset.resize(self._length, axis=0)
        self.table.truncate(self._length)

    def append(self, images: np.ndarray, displacement: np.ndarray | None, row: Mapping[str, Any]) -> None:
        n = self._length
        if images.shape != self.frames.shape[1:]:
            raise ValueError(f"{self.group.name}: frame of shape {images.shape}, the file holds "
                             f"{self.frames.shape[1:]} (detector, y, x)")
        self.frames.resize(n + 1, axis=0)
        self.frames[n] = images
        self.displacement.resize(n + 1, axis=0)
        if displacement is not None:
            if displacement.shape != self.displacement.shape[1:]:
                raise ValueError(f"{self.group.name}: displacement of shape {displacement.shape}, the file "
                                 f"holds {self.displacement.shape[1:]}")
            self.displacement[n] = displacement
        # The pixels reach the disk before the row that makes them count: a write that fails (disk full)
        # leaves no table row over a blank frame, and readers cut every dataset to the table's length.
        self.frames.flush()
        self.displacement.flush()
        missing = [column.name for column in self.table.columns if column.name not in row]
        if missing:
            raise KeyError(f"{self.group.name}: the frame's row has no {', '.join(missing)}; the file's table "
                           f"has these columns (was it made with another frame record?)")
        self.table.append({column.name: [row[column.name]] for column in self.table.columns})
        self._length = n + 1
