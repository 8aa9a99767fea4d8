"""One experiment's HDF5 file: created whole before the run (SWMR cannot add objects later), then appended to.

Synchronous h5py; the :class:`operando.storage.FileWriter` thread is the only caller during a run.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from operando import __version__
from operando.plan import Plan
from operando.roles.instrument import InstrumentInfo
from operando.storage._events import encode_payload, to_json
from operando.storage._layout import ELECTROCHEM, EVENTS, IMPEDANCE, technique_labels
from operando.storage._open import check_whole, open_to_read
from operando.storage._rig_state import RigStateLog
from operando.storage._rois import RegionFrames, create_rois
from operando.storage._table import Column, Table
from operando.storage._unclosed import keep_open
from operando.storage.frame_record import FrameRecord

FORMAT_VERSION = "1"
_STR = h5py.string_dtype("utf-8")

# A section adds its groups and datasets to /entry before SWMR starts (the regions' are built in).
Section = Callable[[h5py.Group, Plan], None]


def _json(value: Any) -> str:
    return to_json(value if isinstance(value, dict) else {"value": value})


def _write_cell(entry: h5py.Group, plan: Plan) -> None:
    cell = entry.create_group("cell")
    units = {"active_mass": "kg", "specific_capacity": "C/kg", "capacity": "C", "counter_potential": "V",
             "initial_soc": "1", "electrons": ""}
    for field in dataclasses.fields(plan.cell):
        value = getattr(plan.cell, field.name)
        # Absent values are written as empty strings / NaN so every attribute exists in every file.
        if value is None:
            value = float("nan") if field.name in units else ""
        cell.attrs[field.name] = value
    cell.attrs["units"] = _json(units)
    safety = entry.create_group("safety")
    for field in dataclasses.fields(plan.safety):
        safety.attrs[field.name] = getattr(plan.safety, field.name)
    safety.attrs["units"] = _json({"E_min": "V", "E_max": "V", "I_max": "A", "max_duration": "s",
                                   "link_outage_max": "s", "missing_points_max": "recording intervals"})


def _write_instruments(entry: h5py.Group, instruments: Mapping[str, InstrumentInfo]) -> None:
    group = entry.create_group("instruments")
    for name, info in instruments.items():
        instrument = group.create_group(name)
        for attr in ("model", "serial", "firmware", "driver"):
            instrument.attrs[attr] = getattr(info, attr)
        instrument.attrs["settings"] = to_json(dict(info.settings))


def _steps_json(plan: Plan) -> str:
    steps = [{"index": s.index, "name": s.name, "label": s.label, "cycle": s.cycle, "group": s.group,
              "source": s.source, "estimated_duration": s.estimated_duration} for s in plan.steps]
    return json.dumps(steps)


class ExperimentFile:
    """The open file of one experiment: tables to append to, status to keep current."""

    def __init__(self, file: h5py.File) -> None:
        self.file = file
        self.entry = file["entry"]
        self.electrochem = Table(self.entry["electrochem"], ELECTROCHEM)
        self.impedance = Table(self.entry["impedance"], IMPEDANCE)
        self.events = Table(self.entry["events"], EVENTS)
        self._tables: dict[str, Table] = {}  # tables of sections (sensors), opened on first append
        rois = self.entry.get("rois")
        self.rois = {name: RegionFrames(group) for name, group in rois.items()} if rois is not None else {}
        self.rig_state = RigStateLog(self.entry)

    @classmethod
    def create(cls, path: str | Path, *, plan: Plan, instruments: Mapping[str, InstrumentInfo],
               start_utc: datetime, rig_config: Mapping[str, Any] | None = None,
               sections: Sequence[Section] = (), frame_record: type[FrameRecord] = FrameRecord) -> ExperimentFile:
        """Write the whole layout (the regions' tables with ``frame_record``'s columns), then switch to SWMR
        so readers can follow the run."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} already exists; a record is never overwritten: choose another")
        path.parent.mkdir(parents=True, exist_ok=True)
        file = h5py.File(path, "w-", libver="latest")
        try:
            entry = file.create_group("entry")
            attrs = {"format_version": FORMAT_VERSION, "software": "operando-fibsem",
                     "software_version": __version__, "name": plan.name, "start_time": start_utc.isoformat(),
                     "end_time": "", "status": "running", "protocol_text": plan.source_text,
                     "protocol_path": plan.source_path or "", "rig_config": to_json(dict(rig_config or {}))}
            for key, value in attrs.items():
                entry.attrs.create(key, value, dtype=_STR)
            entry.attrs["duration"] = 0.0
            _write_cell(entry, plan)
            _write_instruments(entry, instruments)
            electrochem = Table.create(entry, "electrochem", ELECTROCHEM).group
            electrochem.attrs["technique_labels"] = json.dumps(technique_labels(plan))
            electrochem.attrs["steps"] = _steps_json(plan)
            Table.create(entry, "impedance", IMPEDANCE, chunk_rows=1024)
            Table.create(entry, "events", EVENTS, chunk_rows=64, compression="gzip")
            create_rois(entry, plan, frame_record)
            for section in sections:
                section(entry, plan)
            file.swmr_mode = True
        except BaseException:
            try:
                file.close()
            except Exception:  # noqa: BLE001 - HDF5 cannot close what it could not write (a full disk)
                keep_open(file, str(path))
            path.unlink(missing_ok=True)
            raise
        return cls(file)

    @classmethod
    def reopen(cls, path: str | Path, *, repair: bool = True) -> ExperimentFile:
        """Open an interrupted experiment's file to append to it (resume); status goes back to running.

        A writer that was killed leaves the file marked as open for writing; with ``repair`` its contents are
        copied into a fresh file that then replaces it (see :func:`repair_killed_file`). A truncated file
        raises :class:`operando.storage.UnreadableFile`.
        """
        check_whole(path)
        try:
            file = h5py.File(path, "r+", libver="latest")
        except OSError as exc:
            if "h5clear" not in str(exc) or not repair:
                raise
            repair_killed_file(path)
            file = h5py.File(path, "r+", libver="latest")
        try:
            opened = cls(file)
            opened.electrochem.truncate()
            opened.impedance.truncate()
            opened.events.truncate()
            for region in opened.rois.values():
                region.truncate()
            opened.rig_state.truncate()
            file.swmr_mode = True
            opened.set_status("running")
        except BaseException:
            file.close()
            raise
        return opened

    def append_frame(self, region: str, images: np.ndarray, displacement: np.ndarray | None,
                     row: Mapping[str, Any]) -> None:
        """One frame of ``region``: pixels (detector, y, x), displacement field or None, table row."""
        if region not in self.rois:
            raise KeyError(f"no region {region!r} in this file; it has {sorted(self.rois) or 'none'}")
        self.rois[region].append(images, displacement, row)

    def append_record(self, record: FrameRecord) -> None:
        """One frame: its pixels, displacement field and table row."""
        self.append_frame(record.region, record.images, record.displacement, record.row())

    def append_table(self, path: str, columns: Mapping[str, np.ndarray]) -> None:
        """Append rows to a table a section created under /entry (e.g. ``sensors/<name>``)."""
        tables = self._tables
        if path not in tables:
            if path not in self.entry:
                raise KeyError(f"no table /entry/{path} in this file (it was created without it)")
            group = self.entry[path]
            tables[path] = Table(group, [Column(name, str(group[name].dtype), "", "")
                                         for name in columns])
        tables[path].append(columns)

    def append_points(self, columns: Mapping[str, np.ndarray]) -> None:
        self.electrochem.append(columns)

    def append_impedance(self, columns: Mapping[str, np.ndarray]) -> None:
        self.impedance.append(columns)

    def append_rig_state(self, t: float, points: int, state: Any) -> None:
        """Save the rig's state (JSON values) taken at ``t`` s with ``points`` points recorded; nothing if the
        file has no /entry/rig_state (a real rig's file)."""
        self.rig_state.append(t, points, state)

    def append_events(self, events: Sequence[tuple[float, str, dict[str, Any]]]) -> None:
        """Append (t, kind, payload) rows; kind is at most 32 characters."""
        if not events:
            return
        self.events.append({"t": np.array([t for t, _, _ in events], dtype="f8"),
                            "kind": np.array([kind.encode() for _, kind, _ in events], dtype="S32"),
                            "payload": [encode_payload(payload) for _, _, payload in events]})

    def set_status(self, status: str, *, end_utc: datetime | None = None,
                   duration: float | None = None) -> None:
        self.entry.attrs.modify("status", status)
        if end_utc is not None:
            self.entry.attrs.modify("end_time", end_utc.isoformat())
        if duration is not None:
            self.entry.attrs.modify("duration", float(duration))

    def flush(self) -> None:
        self.file.flush()

    def roll_back(self) -> None:
        """Cut every table and region back to the rows fully written (after a write that failed half-way)."""
        for table in (self.electrochem, self.impedance, self.events, *self._tables.values(), *self.rois.values()):
            table.truncate()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.flush()
            self.file.close()


def repair_killed_file(path: str | Path) -> None:
    """Make a file whose writer was killed writable again: copy everything into a fresh file next to it,
    then atomically replace it. HDF5 marks a file open for (SWMR) writing in its superblock and refuses to
    open it for writing while the mark is set; h5py cannot clear the mark, a copy carries none."""
    path = Path(path)
    fresh = path.with_name(path.name + ".repairing")
    fresh.unlink(missing_ok=True)
    try:
        with open_to_read(path) as source, \
                h5py.File(fresh, "w-", libver="latest") as target:
            for key, value in source.attrs.items():
                target.attrs[key] = value
            for name in source:
                source.copy(source[name], target, name=name)
        with open(fresh, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(fresh, path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
