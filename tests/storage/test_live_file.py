"""The file while a run writes it: another process reads it live (SWMR); a killed run loses at most ~1 s."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import pytest

from operando.clock import run_simulated
from operando.engine import Experiment
from operando.storage import read_experiment
from operando.techniques import ConstantCurrent, Recording
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import plan, step

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_another_process_reads_the_file_while_the_run_writes_it(tmp_path: Path) -> None:
    out, done = tmp_path / "live.h5", tmp_path / "done"
    reader = subprocess.Popen([sys.executable, str(HERE / "swmr_reader.py"), str(out), str(done)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # Two simulated hours at 3600 x: about two seconds of wall time, a batch every 10 simulated seconds.
        cc = plan(step(0, "charge", "CP", ConstantCurrent(15e-6, 7200.0, recording=Recording(dt=10.0))))
        experiment = Experiment(cc, CellPotentiostat.for_plan_cell(cc.cell), out, poll_interval=10.0,
                                flush_interval=0.2)
        result = run_simulated(experiment.run(), speed=3600.0)
        done.touch()
        stdout, stderr = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0, stderr
    looks = [json.loads(line) for line in stdout.splitlines()]
    counts = [look["n"] for look in looks]
    assert all(look["monotonic"] and look["finite"] for look in looks)
    assert counts == sorted(counts) and counts[-1] == result.points == 720
    assert len({n for n in counts if 0 < n < 720}) >= 3, f"the reader never saw the file grow: {counts}"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_leaves_a_readable_file_with_all_but_the_last_second(tmp_path: Path) -> None:
    out = tmp_path / "killed.h5"
    received: list[tuple[float, float]] = []  # (wall time the line arrived, t of the batch's last point)
    with subprocess.Popen([sys.executable, str(HERE / "child_run.py"), str(out), "7200"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as child:

        def collect() -> None:
            for line in child.stdout:  # type: ignore[union-attr]
                received.append((time.monotonic(), float(line)))

        collector = threading.Thread(target=collect, daemon=True)
        collector.start()
        deadline = time.monotonic() + 60.0
        while (not received or time.monotonic() - received[0][0] < 3.5) and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.05)
        killed_at = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        collector.join(timeout=10)
    # Every batch handed over more than 1 s (the flush interval) + 1 s of slack before the kill is on disk.
    safe = [t for arrived, t in received if arrived < killed_at - 2.0]
    assert safe, "the run produced no points in time"
    # A killed SWMR writer leaves its consistency flag set: the file opens for reading in SWMR mode.
    with h5py.File(out, "r", libver="latest", swmr=True) as file:
        assert file["entry"].attrs["status"] == "running"  # it never got to say otherwise
    record = read_experiment(out)
    assert record.electrochem["t"][-1] >= max(safe)
    assert record.electrochem["t"][-1] <= received[-1][1]
