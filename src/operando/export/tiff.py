"""Frames of each region as ImageJ hyperstacks (time x channel) that Fiji opens calibrated.

Pixel size goes in the TIFF resolution (pixels per micrometre, unit "um"); the frame interval in ImageJ's
``finterval``; each plane's time, potential and state of charge in its ImageJ label, and a table of every
frame's times in the ``Info`` text (Image > Show Info). Frames are streamed from the HDF5 file one plane at a
time, so a three-day stack never sits in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import tifffile

from operando.storage import open_to_read, read_experiment

UM = 1e-6  # m per micrometre: ImageJ calibrations are in um


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _labels(table: dict[str, np.ndarray], detectors: tuple[str, ...]) -> list[str]:
    labels = []
    for k in range(len(table["index"])):
        when = (f"t={table['t_mid'][k] / 3600.0:.4f} h E={table['E_we'][k]:.4f} V "
                f"SOC={100 * table['soc'][k]:.2f}%")
        labels.extend(f"{detector} frame {int(table['index'][k])} {when}" for detector in detectors)
    return labels


def _info(name: str, table: dict[str, np.ndarray], detectors: tuple[str, ...], pixel_size: float) -> str:
    lines = [f"operando-fibsem region {name}", f"detectors: {', '.join(detectors)}",
             f"pixel size: {pixel_size / 1e-9:.4g} nm",
             "frame\tt_start/s\tt_mid/s\tt_end/s\tEwe/V\tI/A\tQ/C\tSOC\tdose/(e-/nm2)"]
    for k in range(len(table["index"])):
        lines.append("\t".join([str(int(table["index"][k]))] + [
            f"{table[c][k]:.10g}" for c in ("t_start", "t_mid", "t_end", "E_we", "I", "Q", "soc")]
            + [f"{table['cumulative_dose'][k] * 1e-18:.10g}"]))
    return "\n".join(lines)


def _planes(frames: h5py.Dataset, count: int, channels: list[int]) -> Iterator[np.ndarray]:
    """The (y, x) planes in ImageJ's order: time, then channel."""
    for k in range(count):
        for channel in channels:
            yield frames[k, channel]


def write_tiff_stacks(path: str | Path, folder: str | Path, *, per_detector: bool = False) -> list[Path]:
    """Write one hyperstack per region (or one stack per region and detector) into ``folder``; returns the
    files written. Regions without frames are left out."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = read_experiment(path)
    written = []
    with open_to_read(path) as file:
        for name, region in record.rois.items():
            count = len(region)
            if count == 0:
                continue
            frames = file["entry"]["rois"][name]["frames"]
            table = region.table
            pixel_size = float(np.median(table["pixel_size"]))
            per_um = UM / pixel_size
            interval = float(np.median(np.diff(table["t_mid"]))) if count > 1 else 0.0
            _, height, width = region.frame_shape
            groups = [(region.detectors, list(range(len(region.detectors))))]
            if per_detector:
                groups = [((detector,), [k]) for k, detector in enumerate(region.detectors)]
            for detectors, channels in groups:
                suffix = f"-{detectors[0]}" if per_detector else ""
                target = folder / f"{_safe(record.attrs.get('name', 'experiment'))}-{_safe(name)}{suffix}.tif"

                metadata = {"axes": "TCYX" if len(channels) > 1 else "TYX", "unit": "um",
                            "finterval": interval, "Labels": _labels(table, detectors),
                            "Info": _info(name, table, detectors, pixel_size),
                            "Properties": {"operando_region": name,
                                           "operando_detectors": json.dumps(list(detectors))}}
                shape = (count, len(channels), height, width) if len(channels) > 1 else (count, height, width)
                tifffile.imwrite(target, _planes(frames, count, channels), shape=shape, dtype=np.uint16,
                                 imagej=True, resolution=(per_um, per_um), metadata=metadata)
                written.append(target)
    return written
