"""A truncated or damaged record is refused at once (one line, exit 2) by export, resume, analyse and the reader,
where HDF5's SWMR reader used to retry for hours (a hang in C that Ctrl-C does not stop)."""

from __future__ import annotations

import shutil
import struct
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from operando.plan import ImagingPlan, Trigger
from operando.roles.potentiostat import InstrumentInfo
from operando.storage import ExperimentFile, UnreadableFile, read_experiment, read_frames
from tests.engine.imaging_rig import region
from tests.engine.plans import charge_hold_discharge
from tests.storage import faults
from tests.storage.test_rois import ROW

REFUSED_WITHIN = 2.0  # s


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished record: one region, three frames with contrast, points and events."""
    path = tmp_path_factory.mktemp("finished") / "run.h5"
    plan = replace(charge_hold_discharge(), imaging=ImagingPlan((region("wide", Trigger("every", interval=600.0)),)))
    file = ExperimentFile.create(path, plan=plan, start_utc=datetime(2024, 3, 1, tzinfo=UTC),
                                 instruments={"potentiostat": InstrumentInfo("VMP-300", "1", "1", "x")})
    rng = np.random.default_rng(7)
    for k in range(3):
        file.append_frame("wide", rng.integers(0, 60000, (2, 384, 512), dtype=np.uint16), None,
                          {**ROW, "index": k})
    n = 100
    file.append_points({"t": np.arange(n, dtype=float), "t_device": np.arange(n, dtype=float),
                        "E_we": np.full(n, 3.7), "I": np.full(n, 1e-5), "Q": np.arange(n) * 1e-5,
                        "soc": np.zeros(n), "cycle": np.zeros(n, "i4"), "step": np.zeros(n, "i4"),
                        "technique": np.zeros(n, "u1")})
    file.append_events([(1.0, "note", {"text": "a note"})])
    file.set_status("interrupted")
    file.close()
    assert len(read_experiment(path).rois["wide"]) == 3
    return path


def _cut(source: Path, folder: Path, fraction: float) -> Path:
    path = folder / f"cut-{fraction:.2f}.h5"
    shutil.copy(source, path)
    with open(path, "r+b") as handle:
        handle.truncate(int(source.stat().st_size * fraction))
    return path


def _corrupt_root(source: Path, folder: Path) -> Path:
    """The root group's object header overwritten (its checksum fails): a damaged, not a truncated, file."""
    path = folder / "corrupt.h5"
    shutil.copy(source, path)
    with open(path, "r+b") as handle:
        head = handle.read(48)
        assert head[8] in (2, 3) and head[9] == 8  # superblock version 2/3 with 8-byte addresses
        root = struct.unpack("<Q", head[36:44])[0]
        handle.seek(root + 8)
        handle.write(b"\xff" * 64)
    return path


@pytest.fixture(params=["half", "third", "corrupt"])
def damaged(request: pytest.FixtureRequest, finished: Path, tmp_path: Path) -> Path:
    # cut to a third, or the root's header corrupted, HDF5's SWMR reader hung; cut to half it failed with
    # an unclear message
    if request.param == "corrupt":
        return _corrupt_root(finished, tmp_path)
    return _cut(finished, tmp_path, 0.5 if request.param == "half" else 1 / 3)


def test_the_reader_refuses_a_damaged_file_at_once(damaged: Path) -> None:
    for read in (read_experiment, lambda path: read_frames(path, "wide")):
        start = time.monotonic()
        with pytest.raises(UnreadableFile, match="truncated") as refused:
            read(damaged)
        assert time.monotonic() - start < REFUSED_WITHIN
        assert str(damaged) in str(refused.value) and "\n" not in str(refused.value)


def test_a_cut_file_names_its_missing_bytes(finished: Path, tmp_path: Path) -> None:
    cut = _cut(finished, tmp_path, 0.5)
    with pytest.raises(UnreadableFile) as refused:
        read_experiment(cut)
    size = finished.stat().st_size
    assert str(refused.value) == (f"{cut} is truncated: {size // 2} bytes of the {size} its HDF5 header records "
                                  f"(an incomplete copy or download?); nothing was read")


def test_export_resume_and_analyse_refuse_a_damaged_file_at_once(damaged: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    assert faults.operando("--version").returncode == 0
    startup = time.monotonic() - start  # the interpreter and the CLI's imports, on this machine now
    for command in (("export", damaged, "--csv", tmp_path / "out.csv", "--tiff", tmp_path / "tiff"),
                    ("resume", damaged), ("analyse", damaged)):
        start = time.monotonic()
        result = faults.operando(*command, timeout=60)
        elapsed = time.monotonic() - start
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(damaged) in lines[0] and "truncated" in lines[0], (command, result.stderr)
        assert elapsed < startup + REFUSED_WITHIN, (command, elapsed, startup)
    assert not (tmp_path / "out.csv").exists()


def test_the_whole_file_still_reads(finished: Path) -> None:
    record = read_experiment(finished)
    assert record.status == "interrupted" and len(record.electrochem["t"]) == 100
    assert read_frames(finished, "wide").shape == (3, 2, 384, 512)


def test_the_gui_reader_refuses_a_damaged_file_at_once(damaged: Path) -> None:
    replay = pytest.importorskip("operando.ui.replay")  # the GUI's own reader (runs on its worker threads)
    for read in (replay.load_run, lambda path: replay.read_frame(path, "wide", 0)):
        start = time.monotonic()
        with pytest.raises(UnreadableFile):
            read(damaged)
        assert time.monotonic() - start < REFUSED_WITHIN
