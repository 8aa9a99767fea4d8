"""How fast the thesis experiment (67 h of cell time in the thesis, ~79 h in the model) runs on the simulator.

Measured in the same run:
  1. operando: the whole stack - protocol, simulated rig (real BioLogic driver over the fake EClib over the
     cell model), engine (stops, safety, charge), HDF5 file with SWMR - as ``operando simulate`` runs it;
  2. peer, the bare cell model: the same steps stepped directly on SimulatedCell, a point a minute, no driver,
     engine or file: what the physics alone costs;
  3. peer, the storage: the run's points handed over batch by batch as the engine does (one batch per read
     that brought points) to our file writer (HDF5 with SWMR, its thread merges what arrives within a
     second into one append and flushes it), against np.savetxt appending each batch to a CSV file.
Target: the whole run under 10 s on 2 cores. Usage: python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from operando.simulators.cell import CellParameters, SimulatedCell

from operando.clock import run_simulated
from operando.engine import Experiment, PointsRecorded
from operando.engine.rigs import build_rig
from operando.protocol import load_protocol, resolve
from operando.storage import ELECTROCHEM, ExperimentFile, FileWriter, read_experiment

THESIS = Path(__file__).resolve().parents[1] / "examples" / "thesis_nmc622.toml"
TARGET = 10.0  # s of wall time for the whole thesis run


def full_stack(plan, out: Path) -> tuple[float, float, int, int]:  # noqa: ANN001
    """Wall s, simulated s, points, and batches (reads that brought points) of one thesis run."""

    async def run():  # noqa: ANN202
        rig = build_rig("simulated", plan, seed=0)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config)
        batches = experiment.bus.subscribe("count", maxsize=1_000_000)
        result = await experiment.run()
        return result, sum(isinstance(event, PointsRecorded) for event in batches.drain_nowait())

    started = time.perf_counter()
    result, reads = run_simulated(run())
    return time.perf_counter() - started, result.duration, result.points, reads


def bare_cell(plan) -> tuple[float, float, int]:  # noqa: ANN001
    """The thesis steps on the cell model alone: wall s, simulated s, points."""
    cell = SimulatedCell(CellParameters.from_cell(plan.cell), seed=0)
    started = time.perf_counter()
    t = points = 0
    for _ in range(180):  # 30 min rest, a point every 10 s
        cell.rest(10.0)
        t, points = t + 10.0, points + 1
    while cell.apply_current(15e-6, 60.0).E_we < 3.68:
        t, points = t + 60.0, points + 1
    first = None
    while True:
        current = cell.apply_voltage(3.68, 60.0).I
        t, points = t + 60.0, points + 1
        first = first or current
        if abs(current) < 0.2 * abs(first):
            break
    for _ in range(30):
        cell.rest(60.0)
        t, points = t + 60.0, points + 1
    while cell.apply_current(-15e-6, 60.0).E_we > 2.08:
        t, points = t + 60.0, points + 1
    return time.perf_counter() - started, t, points


def storage(plan, recorded: dict[str, np.ndarray], batches: int, folder: Path) -> tuple[float, float, int]:  # noqa: ANN001
    """Wall s to hand ``recorded`` over in ``batches`` and have it on disk: our file writer (HDF5, SWMR,
    flushed every second), then np.savetxt appending to a CSV file; and how many appends the writer made."""
    chunks = np.array_split(np.arange(len(recorded["t"])), max(1, batches))
    names = [column.name for column in ELECTROCHEM]
    started = time.perf_counter()
    file = ExperimentFile.create(folder / "storage.h5", plan=plan, instruments={},
                                 start_utc=datetime.now(UTC))
    writer = FileWriter(file)
    for rows in chunks:
        writer.submit("points", {name: recorded[name][rows] for name in names})
    writer.close()
    hdf5 = time.perf_counter() - started
    started = time.perf_counter()
    with open(folder / "storage.csv", "w") as csv:
        csv.write(",".join(names) + "\n")
        for rows in chunks:
            np.savetxt(csv, np.column_stack([recorded[name][rows] for name in names]), delimiter=",")
            csv.flush()
    return hdf5, time.perf_counter() - started, writer.appends


def main() -> None:
    plan = resolve(load_protocol(THESIS))
    with tempfile.TemporaryDirectory() as folder:
        wall, simulated, points, reads = full_stack(plan, Path(folder) / "thesis.h5")
        recorded = read_experiment(Path(folder) / "thesis.h5").electrochem
        bare_wall, bare_simulated, bare_points = bare_cell(plan)
        hdf5, csv, appends = storage(plan, recorded, reads, Path(folder))
    rows = [
        ("operando simulate (driver, fake EClib, engine, HDF5)", wall, simulated, points),
        ("peer: bare cell model, same steps", bare_wall, bare_simulated, bare_points),
        (f"storage: {reads} batches, our writer (HDF5 SWMR, {appends} appends)", hdf5, None, points),
        (f"storage peer: {reads} batches, np.savetxt to CSV", csv, None, points),
    ]
    print(f"{'run':<56} {'wall s':>8} {'cell h':>7} {'points':>7} {'x real time':>12}")
    for name, seconds, cell_time, count in rows:
        factor = f"{cell_time / seconds:12,.0f}" if cell_time else f"{'':>12}"
        hours = f"{cell_time / 3600:7.1f}" if cell_time else f"{'':>7}"
        print(f"{name:<56} {seconds:8.3f} {hours} {count:7d} {factor}")
    verdict = "meets" if wall < TARGET else "MISSES"
    storage_ratio = f"{csv / hdf5:.1f} x faster than" if hdf5 < csv else f"{hdf5 / csv:.1f} x slower than"
    print(f"verdict: the thesis run takes {wall:.1f} s ({simulated / wall:,.0f} x real time) and {verdict} "
          f"the {TARGET:.0f} s target; driver, engine and file cost {wall / bare_wall:.0f} x the bare cell "
          f"model; our file writer stores the run {storage_ratio} np.savetxt CSV.")


if __name__ == "__main__":
    main()
