"""What the GUI shows, Qt-free: growable point columns, per-region frame tables and events, filled whole from
a file (replay) or piece by piece from the engine's telemetry (live)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from operando.storage import FRAME_TABLE

POINT_COLUMNS = ("t", "E_we", "I", "Q", "soc", "cycle", "step")
# Per-frame columns: the frame record's (operando.storage.FrameRecord); a file or a message may carry more, which
# are kept (a record subclass's columns), or fewer (NaN).
FRAME_COLUMNS = tuple(column.name for column in FRAME_TABLE)


class Columns:
    """Equal-length float64 columns that grow by doubling, so a live run appends in amortised O(1). With
    ``open_ended`` a column not known yet is added when it first comes (NaN in the rows before)."""

    def __init__(self, names: tuple[str, ...], capacity: int = 1024, *, open_ended: bool = False) -> None:
        self.names = names
        self.open_ended = open_ended
        self._data = {name: np.full(capacity, math.nan) for name in names}
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, name: str) -> np.ndarray:
        """The filled part of one column (a view: copy it before keeping it past the next append)."""
        return self._data[name][: self._length]

    def extend(self, columns: dict[str, Any]) -> None:
        """Append rows; columns missing here are NaN, unknown ones are ignored (added if open-ended)."""
        if self.open_ended:
            capacity = len(next(iter(self._data.values()))) if self._data else 64
            for name in columns:
                if name not in self._data:
                    self._data[name] = np.full(capacity, math.nan)
                    self.names = (*self.names, name)
        lengths = {len(np.atleast_1d(columns[name])) for name in self.names if name in columns}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        added = lengths.pop() if lengths else 0
        if not added:
            return
        needed = self._length + added
        capacity = len(next(iter(self._data.values())))
        if needed > capacity:
            capacity = max(needed, 2 * capacity)
            for name, old in self._data.items():
                grown = np.full(capacity, math.nan)
                grown[: self._length] = old[: self._length]
                self._data[name] = grown
        for name in self.names:
            if name in columns:
                self._data[name][self._length:needed] = np.asarray(columns[name], dtype=float)
        self._length = needed


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class RegionRecord:
    """One region of interest: its settings and one row per frame taken (drift in m, dose in e-/m^2)."""

    name: str
    detectors: tuple[str, ...] = ()
    pixel_size: float = math.nan  # m
    frame_size: tuple[int, int] = (0, 0)  # (width, height) px
    dose_budget: float | None = None  # e-/m^2 over the run
    frames: Columns = field(default_factory=lambda: Columns(FRAME_COLUMNS, 64, open_ended=True))
    triggers: list[str] = field(default_factory=list)  # per frame: what fired it
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # row -> uint8 (live mode)
    displacement_grids: dict[int, np.ndarray] = field(default_factory=dict)  # row -> (2, gy, gx) m

    def add_frame(self, row: dict[str, Any]) -> None:
        """One frame from a telemetry frames message (docs/telemetry.md): the columns at its top level and the
        other columns of the file's row under ``settings``, numbers only."""
        settings = row.get("settings") if isinstance(row.get("settings"), dict) else {}
        columns = {name: value for name, value in settings.items() if name != "trigger_code" and _number(value)}
        columns.update({name: row[name] for name in FRAME_COLUMNS if _number(row.get(name))})
        drift = row.get("drift")
        if drift is not None and len(drift) == 2:  # the engine's FrameAcquired carries (dy, dx) m
            columns["drift_y"], columns["drift_x"] = drift
        if row.get("confidence") is not None:
            columns.setdefault("drift_confidence", row["confidence"])
        columns.setdefault("index", len(self.frames))
        self.frames.extend({name: [value] for name, value in columns.items()})
        self.triggers.append(str(row.get("trigger", "")))

    def nearest(self, t: float) -> int | None:
        """Row of the frame whose mid-scan time is nearest ``t`` s (None without frames)."""
        times = self.frames["t_mid"]
        if not len(times):
            return None
        return int(np.nanargmin(np.abs(times - t)))


@dataclass
class RunRecord:
    """One experiment as the views see it: points, regions, events, instruments, the file's attributes."""

    name: str = ""
    status: str = "idle"
    attrs: dict[str, Any] = field(default_factory=dict)
    cell: dict[str, Any] = field(default_factory=dict)
    points: Columns = field(default_factory=lambda: Columns(POINT_COLUMNS, 4096))
    regions: dict[str, RegionRecord] = field(default_factory=dict)
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None  # the HDF5 file, when the GUI can read it

    def frame_times(self) -> np.ndarray:
        """Mid-scan time (s) of every frame of every region, sorted: the dashed markers of the E(t) plot."""
        times = [region.frames["t_mid"] for region in self.regions.values()]
        return np.sort(np.concatenate(times)) if times else np.empty(0)

    def nearest_frame(self, t: float) -> tuple[str, int] | None:
        """(region, row) of the frame taken nearest ``t`` s over all regions; None when there is none."""
        best: tuple[float, str, int] | None = None
        for name, region in self.regions.items():
            row = region.nearest(t)
            if row is not None:
                distance = abs(region.frames["t_mid"][row] - t)
                if best is None or distance < best[0]:
                    best = (distance, name, row)
        return None if best is None else (best[1], best[2])

    def state_at(self, t: float) -> dict[str, float]:
        """The electrochemical state at ``t`` s: the recorded point nearest in time (E_we V, I A, Q C...)."""
        times = self.points["t"]
        if not len(times):
            return {}
        after = int(np.searchsorted(times, t))
        candidates = [row for row in (after - 1, after) if 0 <= row < len(times)]
        row = min(candidates, key=lambda row: abs(times[row] - t))
        return {name: float(self.points[name][row]) for name in POINT_COLUMNS}
