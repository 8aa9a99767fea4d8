"""Exports read back with the tools their users have: tifffile (what Fiji sees), csv, galvani's MPTfile."""

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
from galvani.BioLogic import MPTfile

from operando.cli import main
from operando.plan import Trigger
from operando.storage import read_experiment, read_frames
from operando.techniques import ConstantCurrent, OpenCircuit, Recording
from tests.engine.imaging_rig import region, run_imaging, with_imaging
from tests.engine.plans import plan, step


@pytest.fixture(scope="module")
def record_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = Recording(dt=60.0)
    base = plan(step(0, "rest", "OCV", OpenCircuit(duration=600.0, recording=rec)),
                step(1, "charge", "CP", ConstantCurrent(15e-6, 2 * 3600.0, (), rec)), name="export test")
    regions = (region("wide", Trigger("every", interval=1800.0)),
               region("particle", Trigger("every", interval=3600.0), pixel_size=53.2e-9, detectors=("ESB",)))
    run = run_imaging(with_imaging(base, *regions), tmp_path_factory.mktemp("export") / "run.h5")
    return run.result.path


def test_tiff_hyperstacks_open_calibrated_with_frame_times(record_path: Path, tmp_path: Path) -> None:
    assert main(["export", str(record_path), "--tiff", str(tmp_path / "tiff")]) == 0
    record = read_experiment(record_path)
    wide = record.rois["wide"]
    with tifffile.TiffFile(tmp_path / "tiff" / "export_test-wide.tif") as tif:
        assert tif.is_imagej
        series = tif.series[0]
        assert series.axes == "TCYX" and series.shape == (len(wide), 2, 384, 512)
        np.testing.assert_array_equal(series.asarray(), read_frames(record_path, "wide"))
        x_resolution = tif.pages[0].tags["XResolution"].value
        pixels_per_um = x_resolution[0] / x_resolution[1]
        assert 1.0 / pixels_per_um == pytest.approx(np.median(wide.table["pixel_size"]) * 1e6, rel=1e-5)
        meta = tif.imagej_metadata
        assert meta["unit"] == "um" and meta["frames"] == len(wide) and meta["channels"] == 2
        assert meta["finterval"] == pytest.approx(1800.0, abs=1.0)
        assert len(meta["Labels"]) == 2 * len(wide)
        first = f"t={wide.table['t_mid'][0] / 3600.0:.4f} h"
        assert meta["Labels"][0].startswith("SE2 frame 0 ") and first in meta["Labels"][0]
        info_rows = meta["Info"].splitlines()[4:]
        t_mid = [float(row.split("\t")[2]) for row in info_rows]
        np.testing.assert_allclose(t_mid, wide.table["t_mid"], rtol=1e-9)
    with tifffile.TiffFile(tmp_path / "tiff" / "export_test-particle.tif") as tif:
        assert tif.series[0].axes == "TYX" and tif.series[0].shape[0] == len(record.rois["particle"])
        x_resolution = tif.pages[0].tags["XResolution"].value
        assert x_resolution[1] / x_resolution[0] == pytest.approx(0.0532, rel=1e-5)


def test_tiff_per_detector(record_path: Path, tmp_path: Path) -> None:
    assert main(["export", str(record_path), "--tiff", str(tmp_path), "--per-detector"]) == 0
    esb = tifffile.imread(tmp_path / "export_test-wide-ESB.tif")
    np.testing.assert_array_equal(esb, read_frames(record_path, "wide")[:, 1])


def test_csv_has_ec_lab_columns_and_units(record_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "run.csv"
    assert main(["export", str(record_path), "--csv", str(target)]) == 0
    ec = read_experiment(record_path).electrochem
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time/s", "Ewe/V", "I/mA", "(Q-Qo)/mA.h", "x", "cycle number", "Ns"]
    column = {name: np.array([float(row[name]) for row in rows]) for name in rows[0]}
    np.testing.assert_allclose(column["time/s"], ec["t"], rtol=1e-9)
    np.testing.assert_allclose(column["I/mA"], ec["I"] * 1000.0, rtol=1e-9)
    # 15 uA for 2 h is 0.030 mA.h: the last (Q-Qo) in mA.h, from the file's coulombs / 3.6.
    assert column["(Q-Qo)/mA.h"][-1] == pytest.approx(0.030, rel=0.01)
    assert column["Ns"].tolist() == ec["step"].tolist()


def test_mpt_loads_in_galvani(record_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "run.mpt"
    assert main(["export", str(record_path), "--mpt", str(target)]) == 0
    with open(target, "rb") as handle:  # given a path, MPTfile leaves the file open
        data, comments = MPTfile(handle)
    ec = read_experiment(record_path).electrochem
    np.testing.assert_allclose(data["time/s"], ec["t"], rtol=1e-9)
    np.testing.assert_allclose(data["Ewe/V"], ec["E_we"], rtol=1e-9)
    np.testing.assert_allclose(data["I/mA"], ec["I"] * 1e3, rtol=1e-9)
    np.testing.assert_allclose(data["(Q-Qo)/mA.h"], ec["Q"] / 3.6, rtol=1e-9, atol=1e-15)
    assert data["Ns"].tolist() == ec["step"].tolist()
    assert data["mode"].tolist()[:2] == [3, 3] and data["mode"][-1] == 1  # rest, then constant current
    assert any(b"NMC622" in line for line in comments)


def test_frames_csv_and_refusals(record_path: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "frames.csv"
    assert main(["export", str(record_path), "--frames-csv", str(target)]) == 0
    record = read_experiment(record_path)
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(len(r) for r in record.rois.values())
    wide = [row for row in rows if row["region"] == "wide"]
    E_we = [float(row["E_we/V"]) for row in wide]
    np.testing.assert_allclose(E_we, record.rois["wide"].table["E_we"], rtol=1e-9)
    assert main(["export", str(record_path), "--frames-csv", str(target)]) == 2  # never overwritten
    assert "already exist" in capsys.readouterr().err
    assert main(["export", str(record_path)]) == 2
    assert main(["export", str(tmp_path / "missing.h5"), "--csv", str(tmp_path / "x.csv")]) == 2
