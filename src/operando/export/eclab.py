"""The electrochemical record as EC-Lab-like text: a CSV, an EC-Lab ASCII .mpt (what galvani and other
EC-Lab readers load), and the frame table as CSV.

EC-Lab's columns and units: time/s, Ewe/V, I/mA, (Q-Qo)/mA.h, x (here the state of charge, 0..1),
cycle number, Ns (the planned step). Ewe is as measured (vs the counter electrode), like EC-Lab's.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from operando.storage import FRAME_TABLE, PAUSE_LABEL, ExperimentRecord, read_experiment

MAH = 3.6  # C per mA.h
COLUMNS = ("time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h", "x", "cycle number", "Ns")

# EC-Lab's mode column: 1 galvanostatic, 2 potentiostatic, 3 rest
_MODES = {"CP": 1, "GCPL": 1, "CC": 1, "CA": 2, "CV": 2, "CCCV": 2, "PEIS": 2, "OCV": 3, PAUSE_LABEL: 3}


def _columns(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], ExperimentRecord]:
    record = read_experiment(path)
    ec = record.electrochem
    columns = {"time/s": ec["t"], "Ewe/V": ec["E_we"], "I/mA": ec["I"] * 1e3, "(Q-Qo)/mA.h": ec["Q"] / MAH,
               "x": ec["soc"], "cycle number": ec["cycle"], "Ns": ec["step"]}
    return columns, ec, record


def write_csv(path: str | Path, target: str | Path) -> int:
    """The electrochemical record as CSV with EC-Lab's column names; returns the rows written."""
    columns, _, _ = _columns(path)
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in zip(*(columns[name] for name in COLUMNS), strict=True):
            writer.writerow([f"{value:.10g}" if isinstance(value, float | np.floating) else int(value)
                             for value in row])
    return len(columns["time/s"])


def write_mpt(path: str | Path, target: str | Path) -> int:
    """An EC-Lab ASCII file (.mpt): the EC-Lab header lines, then tab-separated columns; returns the rows."""
    columns, ec, record = _columns(path)
    labels = record.technique_labels
    mode = np.array([_MODES.get(labels[code], 1) for code in ec["technique"]], dtype=int)
    cell = record.cell
    comments = [
        "", "operando-fibsem export of an operando FIB-SEM experiment",
        f"Experiment : {record.attrs.get('name', '')}",
        f"Acquisition started on : {record.attrs.get('start_time', '')}",
        f"Electrode material : {cell.get('material', '')}",
        f"Mass of active material : {cell.get('active_mass', float('nan')) * 1e6:.4f} mg",
        f"Reference electrode : {cell.get('counter_electrode', '')}",
        "x : state of charge (0..1); Ewe vs the counter electrode", "",
    ]
    header = ["mode", "ox/red", "error", *COLUMNS]
    lines = ["EC-Lab ASCII FILE", f"Nb header lines : {len(comments) + 3}", *comments, "\t".join(header)]
    with open(target, "w", newline="", encoding="ascii", errors="replace") as handle:
        handle.write("\r\n".join(lines) + "\r\n")
        for k in range(len(columns["time/s"])):
            values = [str(mode[k]), "1" if ec["I"][k] > 0 else "0", "0"]
            values += [f"{columns[name][k]:.10g}" for name in COLUMNS[:5]]
            values += [str(int(columns["cycle number"][k])), str(int(columns["Ns"][k]))]
            handle.write("\t".join(values) + "\r\n")
    return len(columns["time/s"])


def write_frames_csv(path: str | Path, target: str | Path) -> int:
    """Every region's frame table in one CSV (a ``region`` column first, units in the header)."""
    record = read_experiment(path)
    rows = 0
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["region", *(f"{c.name}/{c.unit}" if c.unit else c.name for c in FRAME_TABLE)])
        for name, region in record.rois.items():
            for k in range(len(region)):
                writer.writerow([name, *(f"{region.table[c.name][k]:.10g}" for c in FRAME_TABLE)])
                rows += 1
    return rows
