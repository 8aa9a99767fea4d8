"""A disk that fills, a write that fails, a folder that cannot be written: the run stops cleanly (cell safe,
status failed with the reason, a fault event, exit 1), never a frame row over blank pixels, never a crash."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from operando.roles.potentiostat import InstrumentInfo
from operando.storage import ExperimentFile, FileWriter, SpaceGuard, StorageError, read_experiment, read_frames
from tests.storage import faults
from tests.storage.test_rois import ROW, imaging_plan

MB = 1_000_000


def _no_crash(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode >= 0, f"killed by signal {signal.Signals(-result.returncode).name}: {result.stderr}"
    assert "Traceback" not in result.stderr and "Segmentation" not in result.stderr, result.stderr


def _rows_have_pixels(path: Path, region: str) -> int:
    """Every frame with a table row has every detector's pixels written (a blank image reads all zero)."""
    record = read_experiment(path)
    rows = len(record.rois[region])
    frames = read_frames(path, region)
    with h5py.File(path, "r", libver="latest", swmr=True) as file:
        extent = file[f"entry/rois/{region}/frames"].shape[0]
    assert frames.shape[0] >= rows and extent >= rows
    for k in range(rows):
        for detector in range(frames.shape[1]):
            assert frames[k, detector].any(), f"frame {k} detector {detector} has a row but no pixels"
    return rows


def test_simulate_stops_cleanly_when_the_disk_fills(tmp_path: Path) -> None:
    # 26 MB: the start needs one 3.1 MB frame + 8 MB margin + 8 MB reserve; the 13 frames (41 MB) do not fit.
    with faults.tmpfs(tmp_path / "disk", "26m") as disk:
        out = disk / "run.h5"
        result = faults.operando("simulate", faults.protocol(tmp_path), "--out", out)
        _no_crash(result)
        assert result.returncode == 1, result.stderr
        assert "disk nearly full" in result.stderr and str(disk) in result.stderr
        record = read_experiment(out)
        assert record.status == "failed"
        assert record.attrs["end_time"]
        (fault,) = record.events_of("fault")
        assert "disk nearly full" in fault["message"] and "each frame needs 3.1 MB" in fault["message"]
        assert record.events_of("state_changed")[-1]["new"] == "failed"
        rows = _rows_have_pixels(out, "particle")
        assert 1 <= rows < 13  # some frames fitted, not all
        # the cell was put safe and every point the engine saw is in the file (the summary counts them)
        points = int(next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("points")))
        assert len(record.electrochem["t"]) == points
        assert not (disk / "run.h5.reserve").exists()


def test_a_nearly_full_disk_is_refused_before_the_start(tmp_path: Path) -> None:
    with faults.tmpfs(tmp_path / "disk", "12m") as disk:
        result = faults.operando("simulate", faults.protocol(tmp_path), "--out", disk / "run.h5")
        _no_crash(result)
        assert result.returncode == 2
        assert "disk nearly full" in result.stderr and "nothing was started" in result.stderr
        assert list(disk.iterdir()) == []


def test_a_read_only_folder_is_refused_before_the_start(tmp_path: Path) -> None:
    with faults.tmpfs(tmp_path / "disk", "64m") as disk:
        faults.remount_read_only(disk)
        result = faults.operando("simulate", faults.protocol(tmp_path), "--out", disk / "runs" / "run.h5")
        _no_crash(result)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert "Read-only file system" in lines[-1] and str(disk) in lines[-1]
        assert list(disk.iterdir()) == []


def test_resume_into_a_read_only_filesystem_is_refused_before_the_start(tmp_path: Path) -> None:
    toml = tmp_path / "cycling.toml"
    toml.write_text(faults.PROTOCOL.split("[[imaging.regions]]")[0].replace("storage-faults", "cycling"))
    finished = tmp_path / "run.h5"
    assert faults.operando("simulate", toml, "--out", finished).returncode == 0
    with faults.tmpfs(tmp_path / "disk", "16m") as disk:
        record = disk / "run.h5"
        shutil.copy(finished, record)
        with h5py.File(record, "r+") as file:  # as if its process had died
            file["entry"].attrs.modify("status", "interrupted")
        faults.remount_read_only(disk)
        result = faults.operando("resume", record)
        _no_crash(result)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]  # after the progress line, where one was drawn
        assert str(record) in line and "ead-only" in line and "nothing was started" in line
        assert read_experiment(record).status == "interrupted"


@pytest.mark.parametrize("reserve", [2 * MB, 0])
def test_a_real_enospc_leaves_no_row_over_blank_pixels(tmp_path: Path, reserve: int) -> None:
    # No free-space check: HDF5 itself meets ENOSPC. With a reserve the writer frees it and completes the
    # file (status failed, the fault); without one the file cannot be flushed again: it is left as last
    # flushed (status running) and the process ends with status 1 instead of HDF5 crashing at exit.
    with faults.tmpfs(tmp_path / "disk", "6m") as disk:
        out = disk / "x.h5"
        result = subprocess.run([sys.executable, "-m", "tests.storage.full_disk_writer", str(out), "off",
                                 str(reserve)], capture_output=True, text=True, timeout=60, cwd=faults.ROOT)
        _no_crash(result)
        assert result.returncode == 1, result.stderr
        assert "error: disk full" in result.stdout
        handed = int(result.stdout.split("frames_handed")[1])
        # 1.5 MB a frame (two 512 x 384 detectors, value k + 1 in frame k) on 6 MB: 2 to 4 frames fit
        rows = _rows_have_pixels(out, "wide")
        assert 1 <= rows < handed
        frames = read_frames(out, "wide")
        for k in range(rows):
            assert (frames[k] == k + 1).all()
        record = read_experiment(out)
        assert len(record.electrochem["t"]) >= 10 * rows  # the points handed with each frame
        if reserve:
            assert record.status == "failed" and "disk full" in record.events_of("fault")[0]["message"]
            with h5py.File(out, "r") as file:  # closed cleanly: opens without SWMR, extents rolled back
                assert file["entry/rois/wide/frames"].shape[0] == rows
        else:
            assert record.status == "running" and "not closed" in result.stdout


def test_a_disk_full_hdf5_cannot_survive_ends_the_command_without_a_crash(tmp_path: Path) -> None:
    # No free-space check and no reserve: the run meets ENOSPC inside HDF5 and the file cannot be completed.
    # The command prints the reason and ends with 1 (HDF5's teardown used to segfault, rc 139); the file
    # holds what was flushed, is readable, and has no row over blank pixels nor a blank event.
    with faults.tmpfs(tmp_path / "disk", "8m") as disk:
        out = disk / "run.h5"
        result = subprocess.run([sys.executable, "-m", "tests.storage.unguarded_simulate",
                                 str(faults.protocol(tmp_path)), "--out", str(out)],
                                capture_output=True, text=True, timeout=120, cwd=faults.ROOT)
        _no_crash(result)
        assert result.returncode == 1, result.stderr
        assert "No space left on device" in result.stderr.replace("\n", " ")
        record = read_experiment(out)
        assert record.status == "running"  # as a killed run: resumable once there is room
        assert all(kind for _, kind, _ in record.events) and record.events_of("state_changed")
        assert _rows_have_pixels(out, "particle") >= 1
        assert np.all(np.diff(record.electrochem["t"]) > 0)
        exported = faults.operando("export", out, "--csv", tmp_path / "run.csv")
        assert exported.returncode == 0, exported.stderr


def test_a_failed_frame_write_is_reported_and_the_rest_still_written(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    file = ExperimentFile.create(tmp_path / "x.h5", plan=imaging_plan(), start_utc=datetime(2024, 3, 1, tzinfo=UTC),
                                 instruments={"potentiostat": InstrumentInfo("VMP-300", "1", "1", "x")})
    region = file.rois["wide"]
    real_flush, calls = region.frames.flush, []

    class Frames:  # the frames dataset, whose second flush meets an I/O error
        def __getattr__(self, name: str) -> object:
            return getattr(real_dataset, name)

        def __setitem__(self, key: object, value: object) -> None:
            real_dataset[key] = value

        def flush(self) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise OSError(errno.EIO, "Input/output error")
            real_flush()

    real_dataset = region.frames
    monkeypatch.setattr(region, "frames", Frames())
    reported: list[StorageError] = []
    done = threading.Event()
    writer = FileWriter(file, flush_interval=0.01, space=SpaceGuard(file.file.filename, margin=0, reserve=0),
                        on_error=lambda error: (reported.append(error), done.set()))
    for k in range(3):
        writer.submit("frame", {"region": "wide", "images": np.full((2, 384, 512), k + 1, np.uint16),
                                "displacement": None, "row": {**ROW, "index": k}})
    assert done.wait(10)
    writer.submit("events", [(2.0, "fault", {"message": str(reported[0])})])
    writer.submit("status", {"status": "failed"})
    writer.close()
    assert len(reported) == 1 and "Input/output error" in str(reported[0]) and str(tmp_path) in str(reported[0])
    assert writer.frames_dropped == 2 and not writer.wedged  # frame 1 failed, frame 2 came after it
    record = read_experiment(tmp_path / "x.h5")
    assert record.status == "failed" and record.events_of("fault")
    assert list(record.rois["wide"].table["index"]) == [0]  # frame 1 failed: no row for it
    with h5py.File(tmp_path / "x.h5", "r") as closed:
        assert closed["entry/rois/wide/frames"].shape[0] == 1  # its pixels' extent rolled back too


def test_free_space_is_checked_before_each_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space = SpaceGuard(tmp_path / "x.h5", margin=8 * MB, reserve=0)
    monkeypatch.setattr(space, "free", lambda: 10 * MB)
    space.check(2 * MB, frame=2 * MB)  # 8 MB left after it: allowed
    with pytest.raises(StorageError, match=r"disk nearly full: 10.0 MB left on .*, each frame needs 2.1 MB"):
        space.check(2_100_000, frame=2_100_000)


def test_a_disk_filling_mid_run_fails_the_run_with_the_cell_safe_and_every_point_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The folder looks nearly full (8 MB, the margin) from the first write holding a point after 2 h on.
    from operando.clock import run_simulated
    from operando.engine import Experiment, ExperimentState
    from operando.storage import _writer
    from tests.engine.cell_potentiostat import CellPotentiostat
    from tests.engine.plans import charge_hold_discharge

    check = _writer.FileWriter._check_space

    def filling(self: FileWriter, work: list) -> None:
        if any(kind == "points" and data["t"][-1] > 7200.0 for kind, data in work):
            monkeypatch.setattr(self.space, "free", lambda: 8 * MB + 1000)
        check(self, work)

    monkeypatch.setattr(_writer.FileWriter, "_check_space", filling)
    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)
    experiment = Experiment(thesis, potentiostat, tmp_path / "run.h5", poll_interval=600.0, flush_interval=0.01)
    result = run_simulated(experiment.run(), speed=20 * 3600.0)  # 20 h a second: the writer keeps up
    assert result.status is ExperimentState.FAILED and result.reason.startswith("disk nearly full: 8.0 MB left on")
    assert not potentiostat.running and "safe_state" in potentiostat.calls
    record = read_experiment(result.path, swmr=False)  # closed properly
    assert record.status == "failed" and record.attrs["end_time"]
    (fault,) = record.events_of("fault")
    assert fault["message"] == result.reason
    assert record.events_of("state_changed")[-1]["new"] == "failed"
    assert len(record.electrochem["t"]) == result.points  # the points after the fault were written too
    assert record.electrochem["t"][-1] > 7200.0 and result.duration < 40 * 3600  # it stopped: the plan runs 67 h
    assert not (tmp_path / "run.h5.reserve").exists()


def test_analyse_refuses_a_read_only_out_folder_before_analysing(tmp_path: Path) -> None:
    with faults.tmpfs(tmp_path / "disk", "8m") as disk:
        faults.remount_read_only(disk)
        result = faults.operando("analyse", tmp_path / "missing.h5", "--out", disk / "drift.h5")
        _no_crash(result)
        assert result.returncode == 2
        assert result.stderr.strip() == (f"operando analyse: cannot write --out {disk / 'drift.h5'}: {disk}: "
                                         f"not writable (read-only or not allowed)")


def test_a_run_that_cannot_connect_leaves_no_reserve_behind(tmp_path: Path) -> None:
    from operando.clock import run_simulated
    from operando.engine import Experiment
    from operando.errors import InstrumentError
    from tests.engine.cell_potentiostat import CellPotentiostat
    from tests.engine.plans import charge_hold_discharge

    thesis = charge_hold_discharge()
    potentiostat = CellPotentiostat.for_plan_cell(thesis.cell)

    async def unplugged() -> None:
        raise InstrumentError("no answer on USB0", instrument="potentiostat")

    potentiostat.connect = unplugged  # type: ignore[method-assign]
    with pytest.raises(InstrumentError):
        run_simulated(Experiment(thesis, potentiostat, tmp_path / "run.h5").run())
    assert list(tmp_path.iterdir()) == []
