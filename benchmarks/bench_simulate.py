"""How fast the thesis experiment (67 h of cell time in the thesis, ~79 h in the model) runs on the simulator.

Measured in the same run:
  1. operando: the whole stack - protocol, simulated rig (real BioLogic driver over the fake EClib over the
     cell model), engine (stops, safety, charge), HDF5 file with SWMR - as ``operando simulate`` runs it;
  2. peer, the bare cell model: the same steps stepped directly on SimulatedCell, a point a minute, no driver,
     engine or file: what the physics alone costs;
  3. peer, the storage: the run's points handed over batch by batch as the engine does (one batch per read
     that brought points) to our file writer (HDF5 with SWMR, its thread merges what arrives within a
     second into one append and flushes it), against np.savetxt appending each batch to a CSV file;
  4. operando with imaging: the same run with the thesis imaging plan (two regions, 2048 x 1536 px, SE2 +
     ESB, the real Zeiss driver over the fake SmartSEM), frames written to the file as they come;
  5. peer, the microscope alone: the same frame grabbed by the Zeiss driver over the fake with no engine,
     file or cell, a few times: what rendering and the seam cost per frame.
Targets: the cycling alone under 10 s, the whole operando run under 2 minutes on 2 cores.
Usage: python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from operando.drivers.zeiss import ZeissMicroscope
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.rig import build_simulated_rig
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run_simulated
from operando.engine import Experiment, FrameAcquired, PointsRecorded
from operando.protocol import load_protocol, resolve
from operando.storage import ELECTROCHEM, ExperimentFile, FileWriter, read_experiment

THESIS = Path(__file__).resolve().parents[1] / "examples" / "thesis_nmc622.toml"
TARGET = 10.0  # s of wall time for the thesis cycling
IMAGING_TARGET = 120.0  # s of wall time for the whole operando run with imaging


def resident_mib() -> float:
    """Resident memory now (MiB), from /proc (Linux); NaN elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError):
        return float("nan")


def full_stack(plan, out: Path, memory: list[float] | None = None) -> tuple[float, float, int, int, int]:  # noqa: ANN001
    """Wall s, simulated s, points, batches (reads that brought points) and frames of one thesis run;
    ``memory`` gets the resident MiB after each frame."""

    async def run():  # noqa: ANN202
        rig = await build_simulated_rig(plan, seed=0)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config, microscope=rig.microscope)
        subscription = experiment.bus.subscribe("count", maxsize=1_000)

        async def count() -> int:  # consumed as it comes: holding every frame event would hold its pixels
            batches = 0
            async for event in subscription:
                batches += isinstance(event, PointsRecorded)
                if isinstance(event, FrameAcquired) and memory is not None:
                    memory.append(resident_mib())
            return batches

        counting = asyncio.create_task(count())
        result = await experiment.run()
        frames = sum(r.frames for r in experiment.imaging.regions.values()) if experiment.imaging else 0
        return result, await counting, frames

    started = time.perf_counter()
    result, reads, frames = run_simulated(run())
    return time.perf_counter() - started, result.duration, result.points, reads, frames


def microscope_alone(plan, grabs: int = 4) -> float:  # noqa: ANN001
    """Wall s per frame of the plan's first region grabbed by the driver over the fake, nothing else."""
    region = plan.imaging.regions[0]

    async def run() -> float:
        fake = FakeCZEMApi(asyncio.get_running_loop().time, seed=0)
        microscope = ZeissMicroscope(lambda: fake)
        await microscope.connect()
        await microscope.set_beam(voltage=region.accelerating_voltage, current=region.probe_current)
        await microscope.set_scan(frame_size=region.frame_size, dwell=region.dwell,
                                  pixel_size=region.pixel_size)
        await microscope.select_detectors(region.detectors)
        started = time.perf_counter()
        for _ in range(grabs):
            await microscope.grab()
        elapsed = time.perf_counter() - started
        await microscope.disconnect()
        return elapsed / grabs

    return run_simulated(run())


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
    operando = resolve(load_protocol(THESIS))
    plan = replace(operando, imaging=None)
    with tempfile.TemporaryDirectory() as folder:
        wall, simulated, points, reads, _ = full_stack(plan, Path(folder) / "thesis.h5")
        recorded = read_experiment(Path(folder) / "thesis.h5").electrochem
        bare_wall, bare_simulated, bare_points = bare_cell(plan)
        hdf5, csv, appends = storage(plan, recorded, reads, Path(folder))
        imaging = operando.imaging is not None
        if imaging:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            memory: list[float] = []
            op_wall, op_simulated, op_points, _, frames = full_stack(operando, Path(folder) / "operando.h5",
                                                                     memory)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            size = (Path(folder) / "operando.h5").stat().st_size
            per_frame = microscope_alone(operando)
    rows = [
        ("operando simulate, cycling only (driver, engine, HDF5)", wall, simulated, points),
        ("peer: bare cell model, same steps", bare_wall, bare_simulated, bare_points),
        (f"storage: {reads} batches, our writer (HDF5 SWMR, {appends} appends)", hdf5, None, points),
        (f"storage peer: {reads} batches, np.savetxt to CSV", csv, None, points),
    ]
    if imaging:
        rows.append((f"operando simulate with imaging: {frames} frames", op_wall, op_simulated, op_points))
    print(f"{'run':<56} {'wall s':>8} {'cell h':>7} {'points':>7} {'x real time':>12}")
    for name, seconds, cell_time, count in rows:
        factor = f"{cell_time / seconds:12,.0f}" if cell_time else f"{'':>12}"
        hours = f"{cell_time / 3600:7.1f}" if cell_time else f"{'':>7}"
        print(f"{name:<56} {seconds:8.3f} {hours} {count:7d} {factor}")
    verdict = "meets" if wall < TARGET else "MISSES"
    storage_ratio = f"{csv / hdf5:.1f} x faster than" if hdf5 < csv else f"{hdf5 / csv:.1f} x slower than"
    print(f"verdict: the thesis cycling takes {wall:.1f} s ({simulated / wall:,.0f} x real time) and "
          f"{verdict} the {TARGET:.0f} s target; driver, engine and file cost {wall / bare_wall:.0f} x the "
          f"bare cell model; our file writer stores the run {storage_ratio} np.savetxt CSV.")
    if imaging:
        # ru_maxrss is in KiB on Linux.
        verdict = "meets" if op_wall < IMAGING_TARGET else "MISSES"
        print(f"verdict: the whole operando run takes {op_wall:.1f} s ({op_simulated / op_wall:,.0f} x real "
              f"time, {frames / op_wall:.2f} frames/s, {size / 2**30:.2f} GiB written, peak memory "
              f"{peak / 1024:.0f} MiB, {(peak - before) / 1024:+.0f} MiB over the cycling run; resident "
              f"{memory[min(9, len(memory) - 1)]:.0f} MiB at frame 10, {memory[-1]:.0f} MiB at the last) "
              f"and {verdict} "
              f"the {IMAGING_TARGET:.0f} s target; the microscope alone takes {per_frame:.2f} s a frame, so "
              f"rendering is {frames * per_frame / op_wall:.0%} of the run.")


if __name__ == "__main__":
    main()
