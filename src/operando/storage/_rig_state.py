"""The rig's own state, saved beside the points it belongs to: a simulated rig's cell, potentiostat and microscope
state, so ``operando resume`` continues the simulation exactly where the record stops.

Opaque to the core: whatever JSON the rig's ``snapshot()`` returns, stored as UTF-8 bytes in
/entry/rig_state/data with one row per saved state (t, points, offset, length). Written only for rigs that
have a state to save (simulated ones); absent from real instruments' files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from operando.plan import Plan
from operando.storage._table import Column, Table

GROUP = "rig_state"
RIG_STATE = (
    Column("t", "f8", "s", "experiment timeline time at which the state was taken"),
    Column("points", "i8", "", "electrochemical points recorded when it was taken (the state follows them)"),
    Column("offset", "i8", "B", "where its JSON starts in data"),
    Column("length", "i8", "B", "length of its JSON in data"),
)


def create_rig_state(entry: h5py.Group, plan: Plan) -> None:  # noqa: ARG001 - a file section's signature
    """The empty /entry/rig_state table and its byte store (before SWMR starts)."""
    group = Table.create(entry, GROUP, RIG_STATE, chunk_rows=256).group
    data = group.create_dataset("data", shape=(0,), maxshape=(None,), dtype="u1", chunks=(1 << 16,),
                                compression="gzip")
    data.attrs["description"] = "UTF-8 JSON of each saved state, back to back"


class RigStateLog:
    """Appends saved states to an open file's /entry/rig_state (nothing if the file has none)."""

    def __init__(self, entry: h5py.Group) -> None:
        group = entry.get(GROUP)
        self.table = Table(group, RIG_STATE) if group is not None else None
        self.data = group["data"] if group is not None else None

    def truncate(self) -> None:
        """After a kill: rows whose bytes were not all written are dropped."""
        if self.table is None or self.data is None:
            return
        self.table.truncate()
        ends = self.table.group["offset"][: len(self.table)] + self.table.group["length"][: len(self.table)]
        beyond = np.flatnonzero(ends > self.data.shape[0])
        keep = int(beyond[0]) if len(beyond) else len(ends)
        self.table.truncate(keep)
        end = int(ends[keep - 1]) if keep else 0
        if self.data.shape[0] != end:
            self.data.resize((end,))

    def append(self, t: float, points: int, state: Any) -> None:
        if self.table is None or self.data is None:
            return
        encoded = np.frombuffer(json.dumps(state, separators=(",", ":")).encode(), np.uint8)
        start = self.data.shape[0]
        self.data.resize((start + len(encoded),))
        self.data[start:] = encoded
        self.table.append({"t": [t], "points": [points], "offset": [start], "length": [len(encoded)]})


def read_rig_state(path: str | Path, *, points: int | None = None, swmr: bool = True,
                   ) -> tuple[float, int, Any] | None:
    """The last state saved in ``path`` (with ``points``: the last taken with at most that many points
    recorded) as (t, points, state), or None if the file holds none."""
    with h5py.File(path, "r", libver="latest", swmr=swmr) as file:
        group = file["entry"].get(GROUP)
        if group is None:
            return None
        for dataset in group.values():
            dataset.refresh()
        data = group["data"]
        length = min(group[c.name].shape[0] for c in RIG_STATE)
        counts = group["points"][:length]
        offsets, sizes = group["offset"][:length], group["length"][:length]
        usable = np.flatnonzero((offsets + sizes <= data.shape[0]) &
                                (counts <= (points if points is not None else np.iinfo(np.int64).max)))
        if not len(usable):
            return None
        row = int(usable[-1])
        raw = bytes(data[int(offsets[row]): int(offsets[row] + sizes[row])])
        try:
            state = json.loads(raw.decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: the saved rig state at t = {group['t'][row]:.0f} s is damaged ({exc})") \
                from None
        return float(group["t"][row]), int(counts[row]), state
