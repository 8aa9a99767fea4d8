"""Add hand-made regions of interest to a copy of a simulated file, laid out as the writer lays them out
(/entry/rois/<name>: frames (n, detector, y, x) uint16, displacement (n, 2, gy, gx), one 1-D column per field,
detectors / trigger_labels / settings attributes as JSON), so the tests know which frame was taken when and
what it shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from operando.storage._rois import FRAME_TABLE

FRAME_HOURS = (0.25, 1.0, 2.0, 3.0)  # mid-scan times of region "cathode"
ANODE_HOURS = (1.5,)
DETECTORS = ("SE2", "InLens")
WIDTH, HEIGHT = 128, 96
PIXEL_SIZE = 10e-9  # m
DRIFT = ((0.0, 0.0), (2e-9, -1e-9), (4e-9, 3e-9), (-5e-9, 6e-9))  # (dy, dx) m per frame
DOSE_PER_FRAME = 3.0e18  # e-/m^2 (3 e-/nm^2)


def frame_value(region_index: int, frame: int, detector: int) -> int:
    """The constant grey level of a hand-made frame: which region, frame and detector it is, at a glance."""
    return 1000 * (region_index + 1) + 100 * frame + 10 * detector


def add_regions(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    with h5py.File(target, "r+") as file:
        ec = file["entry/electrochem"]
        t, columns = ec["t"][:], {name: ec[name][:] for name in ("E_we", "I", "Q", "soc", "cycle", "step")}
        rois = file["entry"].require_group("rois")
        for region_index, (name, hours) in enumerate((("cathode", FRAME_HOURS), ("anode", ANODE_HOURS))):
            group = rois.create_group(name)
            group.attrs["detectors"] = json.dumps(DETECTORS)
            group.attrs["trigger_labels"] = json.dumps(["every 3600 s", "manual request"])
            group.attrs["settings"] = json.dumps({"pixel_size": PIXEL_SIZE, "frame_size": [WIDTH, HEIGHT],
                                                  "dose_budget": 10 * DOSE_PER_FRAME, "detectors": DETECTORS})
            n = len(hours)
            frames = np.empty((n, len(DETECTORS), HEIGHT, WIDTH), np.uint16)
            for k in range(n):
                for d in range(len(DETECTORS)):
                    frames[k, d] = frame_value(region_index, k, d)
                    frames[k, d, :, : WIDTH // 2] += 50  # two levels so contrast has a range
            group["frames"] = frames
            displacement = np.zeros((n, 2, HEIGHT // 64, WIDTH // 64), np.float32)
            displacement[:, 1] = 5e-9
            group["displacement"] = displacement
            for column in FRAME_TABLE:  # every column the writer makes; those below get real values
                integer = column.dtype[0] in "iu"
                group[column.name] = np.zeros(n, column.dtype) if integer else np.full(n, np.nan)
            t_mid = np.asarray(hours) * 3600.0
            rows = np.searchsorted(t, t_mid).clip(0, len(t) - 1)
            group["t_mid"][:] = t_mid
            group["t_start"][:], group["t_end"][:] = t_mid - 10, t_mid + 10
            for column, values in columns.items():
                group[column][:] = values[rows]
            group["pixel_size"][:] = PIXEL_SIZE
            group["frame_dose"][:] = DOSE_PER_FRAME
            group["cumulative_dose"][:] = DOSE_PER_FRAME * np.arange(1, n + 1)
            group["index"][:] = np.arange(n)
            group["drift_y"][:] = np.asarray(DRIFT[:n])[:, 0]
            group["drift_x"][:] = np.asarray(DRIFT[:n])[:, 1]
            group["drift_confidence"][:] = 0.9
            group["trigger"][:] = [0] * (n - 1) + [1]  # the last one asked for by hand
    return target
