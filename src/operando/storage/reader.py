"""Read an experiment file whole, finished or still being written (SWMR), into plain arrays and dicts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from operando.errors import OperandoError
from operando.storage._open import reading
from operando.storage._rois import table_columns
from operando.storage._table import written_rows


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _attrs(group: h5py.Group) -> dict[str, Any]:
    return {key: _text(value) if isinstance(value, bytes | np.bytes_ | str) else value.item()
            if isinstance(value, np.generic) else value for key, value in group.attrs.items()}


def _payload(raw: bytes) -> dict[str, Any]:
    """An event's JSON payload; one a failed write left unreadable is kept as its text, never raised."""
    try:
        return json.loads(raw.decode())
    except ValueError:
        return {"unreadable_payload": raw[:200].decode(errors="replace")}


def _table(group: h5py.Group) -> dict[str, np.ndarray]:
    """Columns cut to a common length: a killed writer may have extended some by a partial last batch."""
    for dataset in group.values():
        dataset.refresh()
    length = min((dataset.shape[0] for dataset in group.values()), default=0)
    columns = {name: dataset[:length] for name, dataset in group.items()}
    # rows a failed flush extended but left blank are not records
    length = written_rows(list(columns.values()), length)
    return {name: values[:length] for name, values in columns.items()}


@dataclass
class RegionRecord:
    """One region's frame table (columns cut to the frames fully written), attributes and frame shape;
    the pixels stay in the file (read them with :func:`read_frames`)."""

    name: str
    table: dict[str, np.ndarray]
    detectors: tuple[str, ...]
    trigger_labels: tuple[str, ...]
    settings: dict[str, Any]
    frame_shape: tuple[int, ...]  # (detector, y, x)

    def __len__(self) -> int:
        return len(self.table["index"])


def _regions(entry: h5py.Group) -> dict[str, RegionRecord]:
    regions = {}
    for name, group in entry.get("rois", {}).items():
        for dataset in group.values():
            dataset.refresh()
        columns = table_columns(group)
        length = min(group["frames"].shape[0], group["displacement"].shape[0],
                     *(group[c.name].shape[0] for c in columns))
        table = {c.name: group[c.name][:length] for c in columns}
        length = written_rows(list(table.values()), length)
        regions[name] = RegionRecord(
            name=name, table={column: values[:length] for column, values in table.items()},
            detectors=tuple(json.loads(group.attrs["detectors"])),
            trigger_labels=tuple(json.loads(group.attrs["trigger_labels"])),
            settings=json.loads(group.attrs["settings"]), frame_shape=tuple(group["frames"].shape[1:]))
    return regions


def read_frames(path: str | Path, region: str, index: int | slice = slice(None), *,
                swmr: bool = True) -> np.ndarray:
    """Pixels of ``region``'s frames (frame, detector, y, x) uint16, or one frame (detector, y, x)."""
    with reading(path, swmr=swmr) as file:
        rois = file["entry"].get("rois", {})
        if region not in rois:
            raise KeyError(f"{path}: no region {region!r}; it has {sorted(rois) or 'none'}")
        return rois[region]["frames"][index]


@dataclass
class ExperimentRecord:
    """Everything in one file: /entry attributes, the cell, the tables, events and instruments."""

    attrs: dict[str, Any]
    cell: dict[str, Any]
    safety: dict[str, Any]
    electrochem: dict[str, np.ndarray]
    technique_labels: tuple[str, ...]
    steps: list[dict[str, Any]]
    impedance: dict[str, np.ndarray]
    events: list[tuple[float, str, dict[str, Any]]]
    instruments: dict[str, dict[str, Any]] = field(default_factory=dict)
    rois: dict[str, RegionRecord] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.attrs["status"]

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        """Payloads of every event of one kind, each with its timeline time as ``t``."""
        return [{"t": t, **payload} for t, k, payload in self.events if k == kind]


class NotARecord(OperandoError, ValueError):
    """An HDF5 file that is not an operando experiment record: a group or attribute every record has is missing."""


def read_experiment(path: str | Path, *, swmr: bool = True) -> ExperimentRecord:
    """Read the file at ``path``; with ``swmr`` (default) this works while a run is still writing it. A
    truncated or damaged file raises :class:`operando.storage.UnreadableFile` at once."""
    try:
        return _read(path, swmr)
    except KeyError as exc:  # h5py: "Unable to synchronously open object (object 'entry' doesn't exist)"
        missing = re.search(r"'([^']+)'", str(exc))
        raise NotARecord(f"{path}: not an operando experiment file (it has no "
                         f"{repr(missing[1]) if missing else str(exc)})") from None


def _read(path: str | Path, swmr: bool) -> ExperimentRecord:
    with reading(path, swmr=swmr) as file:
        entry = file["entry"]
        electrochem = entry["electrochem"]
        events = _table(entry["events"])
        instruments = {}
        for name, group in entry["instruments"].items():
            info = _attrs(group)
            info["settings"] = json.loads(info.get("settings", "{}"))
            instruments[name] = info
        return ExperimentRecord(
            attrs=_attrs(entry),
            cell=_attrs(entry["cell"]),
            safety=_attrs(entry["safety"]),
            electrochem=_table(electrochem),
            technique_labels=tuple(json.loads(electrochem.attrs["technique_labels"])),
            steps=json.loads(electrochem.attrs["steps"]),
            impedance=_table(entry["impedance"]),
            events=[(float(t), _text(kind), _payload(payload))
                    for t, kind, payload in zip(events["t"], events["kind"], events["payload"], strict=True)],
            instruments=instruments,
            rois=_regions(entry),
        )
