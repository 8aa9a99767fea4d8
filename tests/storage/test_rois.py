"""/entry/rois: made with the file, one row per frame, cut back to whole frames after a crash; a file whose
writer was killed is repaired (copied afresh) so a resumed run can append to it."""

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from operando.plan import ImagingPlan, Plan, StagePosition, Trigger
from operando.roles.potentiostat import InstrumentInfo
from operando.storage import FRAME_TABLE, ExperimentFile, read_experiment, read_frames
from tests.engine.imaging_rig import region
from tests.engine.plans import charge_hold_discharge

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ROW = {column.name: 1.0 for column in FRAME_TABLE} | {"trigger": 0, "ec_source": 0, "attempts": 1}


def imaging_plan() -> Plan:
    wide = region("wide", Trigger("every", interval=7200.0), Trigger("step_end", step="charge"))
    particle = region("particle", Trigger("soc_step", soc_step=0.05), frame_size=(2048, 1536),
                      detectors=("InLens",), stage_position=StagePosition(0.06, 0.045, 0.035, 0.94, 0.0))
    return replace(charge_hold_discharge(), imaging=ImagingPlan((wide, particle)))


def make(path: Path) -> ExperimentFile:
    return ExperimentFile.create(path, plan=imaging_plan(), start_utc=datetime(2024, 3, 1, tzinfo=UTC),
                                 instruments={"potentiostat": InstrumentInfo("VMP-300", "1", "1", "x")})


def test_every_region_is_laid_out_before_the_run(tmp_path: Path) -> None:
    make(tmp_path / "x.h5").close()
    with h5py.File(tmp_path / "x.h5", "r") as f:
        wide, particle = f["entry/rois/wide"], f["entry/rois/particle"]
        assert wide["frames"].shape == (0, 2, 384, 512) and wide["frames"].maxshape == (None, 2, 384, 512)
        assert wide["frames"].chunks == (1, 1, 384, 512) and wide["frames"].dtype == np.uint16
        # one displacement vector per 64 x 64 px cell: 2048 x 1536 -> 24 x 32
        assert particle["displacement"].shape == (0, 2, 24, 32)
        assert particle["displacement"].dtype == np.float32
        assert wide["displacement"].shape == (0, 2, 6, 8)
        assert json.loads(wide.attrs["detectors"]) == ["SE2", "ESB"]
        assert json.loads(wide.attrs["trigger_labels"]) == ["every 7200 s", "step end of charge",
                                                            "manual request"]
        settings = json.loads(particle.attrs["settings"])
        assert settings["stage_position"]["x"] == 0.06 and settings["pixel_size"] == 170e-9
        assert settings["frame_dose"] == pytest.approx(2e-9 * 800e-9 / 1.602176634e-19 / (170e-9) ** 2)
        assert {c.name for c in FRAME_TABLE} <= set(wide)
        assert wide["cumulative_dose"].attrs["units"] == "e/m^2" and wide["t_mid"].attrs["units"] == "s"


def test_frames_append_with_their_row_and_read_back(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    field = np.arange(2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8) * 1e-9
    file.append_frame("wide", np.full((2, 384, 512), 7, np.uint16), field, {**ROW, "index": 0, "t_mid": 9.5})
    file.append_frame("wide", np.full((2, 384, 512), 8, np.uint16), None, {**ROW, "index": 1, "t_mid": 20.0})
    with pytest.raises(ValueError, match="shape"):
        file.append_frame("wide", np.zeros((1, 384, 512), np.uint16), None, ROW)
    with pytest.raises(KeyError, match="no region 'nowhere'"):
        file.append_frame("nowhere", np.zeros((2, 384, 512), np.uint16), None, ROW)
    file.close()
    record = read_experiment(tmp_path / "x.h5")
    assert record.rois["wide"].table["t_mid"].tolist() == [9.5, 20.0] and len(record.rois["particle"]) == 0
    assert read_frames(tmp_path / "x.h5", "wide", 1)[0, 0, 0] == 8
    with h5py.File(tmp_path / "x.h5", "r") as f:
        displacement = f["entry/rois/wide/displacement"]
        np.testing.assert_array_equal(displacement[0], field)
        assert np.all(np.isnan(displacement[1]))  # no tracking for that frame


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_writers_file_is_repaired_and_cut_to_whole_frames(tmp_path: Path) -> None:
    out = tmp_path / "killed.h5"
    child = subprocess.run([sys.executable, "-m", "tests.storage.killed_frame_writer", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -9, child.stderr
    with pytest.raises(OSError, match="h5clear"):
        h5py.File(out, "r+", libver="latest")
    assert len(read_experiment(out).rois["wide"]) == 2  # readers cut to whole frames already
    resumed = ExperimentFile.reopen(out)  # repairs: copies into a fresh file, then replaces it
    assert resumed.rois["wide"].frames.shape[0] == 2
    resumed.append_frame("wide", np.full((2, 384, 512), 3, np.uint16), None, {**ROW, "index": 2})
    resumed.set_status("completed")
    resumed.close()
    assert not (tmp_path / "killed.h5.repairing").exists()
    record = read_experiment(out, swmr=False)
    assert record.status == "completed" and record.rois["wide"].table["index"].tolist() == [0, 1, 2]
    assert [int(frame[0, 0, 0]) for frame in read_frames(out, "wide")] == [1, 2, 3]
    assert record.technique_labels == ("OCV", "CP", "CA", "OCV (pause)")
