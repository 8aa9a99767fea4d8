"""Drift and local displacement fields computed afterwards on a finished (or growing) experiment file.

Reads every region's frames from ``/entry/rois/<name>/frames`` (n, detector, y, x), registers each frame
against a keyframe exactly as the live tracker does (hand-over when the similarity degrades, offsets added up)
and measures the local displacement field between successive registered frames on the 64 px grid. The
result goes to a new HDF5 file (never into the experiment file, which stays as it was recorded).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from operando.errors import OperandoError
from operando.storage import is_damage, open_to_read

from ._local import displacement_field
from ._registration import Reference, RegistrationError


class AnalysisError(OperandoError, ValueError):
    """A file or region that cannot be analysed; names the file, the region and what is missing."""


@dataclass(frozen=True)
class RegionAnalysis:
    """Per frame of one region: ``shift`` (n, 2) (dy, dx) m of the content relative to the first frame
    (NaN where the registration failed), ``confidence``, ``keyframe`` index, local ``displacement``
    (n, 2, gy, gx) m relative to the previous registered frame (NaN for the first and failed ones),
    ``divergence`` (n, gy, gx) area strain and ``max_local_displacement`` (n,) m."""

    name: str
    detector: str
    pixel_size: float
    t_mid: np.ndarray
    shift: np.ndarray
    confidence: np.ndarray
    keyframe: np.ndarray
    displacement: np.ndarray
    divergence: np.ndarray
    max_local_displacement: np.ndarray

    @property
    def registered(self) -> int:
        return int(np.isfinite(self.shift[:, 0]).sum())

    @property
    def total_drift(self) -> float:
        """Largest distance (m) the content moved from the first frame."""
        finite = self.shift[np.isfinite(self.shift[:, 0])]
        return float(np.max(np.hypot(finite[:, 0], finite[:, 1]))) if len(finite) else math.nan


def analyse_frames(name: str, frames: Iterable[np.ndarray], pixel_size: float, *, detector: str = "",
                   t_mid: Sequence[float] | None = None, grid: int = 64, confidence_threshold: float = 0.5,
                   keyframe_similarity_threshold: float = 0.5) -> RegionAnalysis:
    """Drift and local fields of a sequence of 2-D frames of one region (``pixel_size`` m)."""
    if not (isinstance(pixel_size, int | float) and math.isfinite(pixel_size) and pixel_size > 0):
        raise AnalysisError(f"region {name!r}: pixel size must be a positive length in m, got {pixel_size!r}")
    shifts, confidences, keys, fields, divergences, largest = [], [], [], [], [], []
    keyframe: tuple[Reference, np.ndarray, np.ndarray] | None = None
    baseline = 0.0
    key_index = 0
    last: tuple[np.ndarray, np.ndarray] | None = None
    grid_shape: tuple[int, int] | None = None
    for image in frames:
        image = np.asarray(image)
        if grid_shape is None:
            grid_shape = (image.shape[0] // grid, image.shape[1] // grid)
        empty = np.full((2, *grid_shape), np.nan, np.float32)
        if keyframe is None:
            keyframe = (Reference(image, pixel_size), image, np.zeros(2))
            shifts.append(np.zeros(2))
            confidences.append(1.0)
            keys.append(0)
            fields.append(empty)
            divergences.append(empty[0])
            largest.append(math.nan)
            last = (image, np.zeros(2))
            continue
        result = keyframe[0].register(image, pixel_size)
        if result.confidence < confidence_threshold:
            shifts.append(np.full(2, np.nan))
            confidences.append(result.confidence)
            keys.append(key_index)
            fields.append(empty)
            divergences.append(empty[0])
            largest.append(math.nan)
            continue
        offset = keyframe[2] + np.asarray(result.shift)
        field, strain, most = empty, empty[0], math.nan
        if last is not None:
            moved = tuple(offset - last[1])
            try:
                measured = displacement_field(last[0], image, grid=grid, shift=moved).relative(moved)
                field, strain = measured.in_metres(pixel_size), measured.divergence().astype(np.float32)
                most = measured.largest * pixel_size
            except RegistrationError:
                pass
        shifts.append(offset)
        confidences.append(result.confidence)
        fields.append(field)
        divergences.append(strain)
        largest.append(most)
        if result.peak_to_noise > baseline:
            baseline = result.peak_to_noise
        elif result.peak_to_noise < keyframe_similarity_threshold * baseline:
            key_index += 1
            keyframe, baseline = (Reference(image, pixel_size), image, offset), 0.0
        keys.append(key_index)
        last = (image, offset)
    if keyframe is None:
        raise AnalysisError(f"region {name!r}: no frames to analyse")
    count = len(shifts)
    times = np.asarray(t_mid, float) if t_mid is not None else np.full(count, np.nan)
    return RegionAnalysis(name=name, detector=detector, pixel_size=float(pixel_size), t_mid=times[:count],
                          shift=np.array(shifts) * pixel_size, confidence=np.array(confidences),
                          keyframe=np.array(keys), displacement=np.array(fields),
                          divergence=np.array(divergences), max_local_displacement=np.array(largest))


MIN_GRID = 4  # px: the smallest displacement cell displacement_field accepts


def _open(path: Path) -> h5py.File:
    try:
        return open_to_read(path, locking=False)
    except OSError as exc:  # truncated, damaged, not HDF5: refused at once (see operando.storage.open_to_read)
        raise AnalysisError(str(exc)) from None


@contextlib.contextmanager
def _damaged_as_analysis_error(path: Path) -> Iterator[None]:
    """An HDF5 error while reading the frames (a damaged chunk) becomes one line naming the file."""
    try:
        yield
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, KeyError) and not is_damage(exc):
            raise
        raise AnalysisError(f"{path} is damaged (truncated or corrupt): "
                            f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None


def analyse_file(path: str | Path, *, regions: Sequence[str] | None = None, detector: str | None = None,
                 grid: int = 64) -> list[RegionAnalysis]:
    """Analyse the regions (all, or those named) of an experiment file; ``detector`` picks the channel
    (default: ESB if recorded, it keeps its contrast, else the first)."""
    path = Path(path)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < MIN_GRID:
        raise AnalysisError(f"grid: must be a whole number of pixels, at least {MIN_GRID}, got {grid!r}")
    if not path.is_file():
        raise AnalysisError(f"{path}: {'a folder, not an experiment file' if path.is_dir() else 'no such file'}")
    results = []
    with _open(path) as file, _damaged_as_analysis_error(path):
        group = file["entry"].get("rois") if "entry" in file.keys() else None  # .get hides damage
        if not isinstance(group, h5py.Group) or not len(group):
            raise AnalysisError(f"{path}: no regions of interest (/entry/rois is missing or empty)")
        names = list(group) if not regions else list(regions)
        for name in names:
            if name not in group:
                raise AnalysisError(f"{path}: no region {name!r}; the file has {', '.join(group)}")
            results.append(_analyse_region(path, group[name], name, detector, grid))
    return results


def _analyse_region(path: Path, group: h5py.Group, name: str, detector: str | None,
                    grid: int) -> RegionAnalysis:
    if "frames" not in group:
        raise AnalysisError(f"{path}: region {name!r} has no frames dataset")
    frames = group["frames"]
    if frames.ndim != 4:
        raise AnalysisError(f"{path}: region {name!r}: frames must be (frame, detector, y, x), got shape "
                            f"{frames.shape}")
    try:
        detectors = json.loads(group.attrs.get("detectors", "[]")) or [f"detector {k}" for k in
                                                                          range(frames.shape[1])]
    except (json.JSONDecodeError, TypeError):
        raise AnalysisError(f"{path}: region {name!r}: its 'detectors' attribute is not a JSON list") from None
    lowered = [d.lower() for d in detectors]
    if detector is not None:
        if detector.lower() not in lowered:
            raise AnalysisError(f"{path}: region {name!r} has no detector {detector!r}; it has "
                                f"{', '.join(detectors)}")
        channel = lowered.index(detector.lower())
    else:
        channel = lowered.index("esb") if "esb" in lowered else 0
    count = frames.shape[0]
    if count == 0:
        raise AnalysisError(f"{path}: region {name!r} has no frames yet")
    pixel = _column(group, "pixel_size", count)
    pixel_size = float(np.nanmedian(pixel)) if np.isfinite(pixel).any() else math.nan
    if not np.allclose(pixel[np.isfinite(pixel)], pixel_size, rtol=1e-6):
        raise AnalysisError(f"{path}: region {name!r} changed pixel size during the run "
                            f"({np.nanmin(pixel) * 1e9:.4g} to {np.nanmax(pixel) * 1e9:.4g} nm)")

    def images() -> Iterator[np.ndarray]:
        for index in range(count):
            yield frames[index, channel]

    return analyse_frames(name, images(), pixel_size, detector=detectors[channel],
                          t_mid=_column(group, "t_mid", count), grid=grid)


def _column(group: h5py.Group, name: str, count: int) -> np.ndarray:
    if name not in group:
        return np.full(count, np.nan)
    return np.asarray(group[name][:count], float)


def write_analysis(results: Sequence[RegionAnalysis], path: str | Path, source: str = "") -> None:
    """Write the results to a new HDF5 file ``path`` (/analysis/<region>/...); an existing file is refused."""
    path = Path(path)
    if path.exists():
        raise AnalysisError(f"{path}: exists; give another --out (results never overwrite a file)")
    with h5py.File(path, "w") as file:
        top = file.create_group("analysis")
        top.attrs["source"] = source
        top.attrs["description"] = ("drift against keyframes and local displacement fields between "
                                    "successive registered frames, computed by operando analyse")
        for result in results:
            group = top.create_group(result.name)
            group.attrs["detector"] = result.detector
            group.attrs["pixel_size"] = result.pixel_size
            for key, data, unit, text in (
                ("t_mid", result.t_mid, "s", "timeline time of mid-scan"),
                ("shift", result.shift, "m", "(n, 2) content offset (dy, dx) relative to the first frame"),
                ("confidence", result.confidence, "1", "registration confidence 0..1"),
                ("keyframe", result.keyframe, "", "keyframe each frame was registered against"),
                ("displacement", result.displacement, "m",
                 "(n, 2, gy, gx) local displacement (dy, dx) since the previous registered frame, the global "
                 "shift taken out; one vector per 64 x 64 px cell"),
                ("divergence", result.divergence, "1",
                 "(n, gy, gx) area strain: > 0 swelling, < 0 shrinking"),
                ("max_local_displacement", result.max_local_displacement, "m", "largest local displacement"),
            ):
                dataset = group.create_dataset(key, data=data)
                dataset.attrs["units"] = unit
                dataset.attrs["description"] = text
