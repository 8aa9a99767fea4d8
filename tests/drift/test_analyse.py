"""``operando analyse`` on a small experiment file laid out as docs/data-format.md describes
(/entry/rois/<name>/frames (n, detector, y, x) with its per-frame columns), made from simulator frames with
known drift and known block displacements."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from operando.simulators.sem import Evolution

from operando.cli import main
from tests.drift.frames import PIXEL, add_noise, render, scene
from tests.drift.test_local import BLOCKS, SIZE, charged, true_field

CENTRE = (-15e-6, 0.0)
DRIFT = [(0.0, 0.0), (2.5, -1.5), (5.1, -3.2), (7.4, -4.6)]  # (dy, dx) px of each frame's content


def experiment_file(path) -> None:
    rng = np.random.default_rng(4)
    # The electrode stays as it is for three frames (drift only), then its blocks move (charged to 95 %).
    pristine = Evolution(scene(), BLOCKS)
    states = [pristine, pristine, pristine, charged(0.95)]
    frames = np.zeros((len(DRIFT), 2, SIZE[1], SIZE[0]), np.uint16)
    for k, (state, drift) in enumerate(zip(states, DRIFT, strict=True)):
        for channel, detector in enumerate(("SE2", "ESB")):
            clean = render(CENTRE, SIZE, evolution=state, shift=drift, detector=detector, seed=k)
            image = add_noise(clean, 9.0, rng)
            frames[k, channel] = np.clip(image * 65535, 0, 65535).astype(np.uint16)
    with h5py.File(path, "w", libver="latest") as file:
        group = file.create_group("entry/rois/composite")
        group.create_dataset("frames", data=frames)
        group.attrs["detectors"] = json.dumps(["SE2", "ESB"])
        group.create_dataset("pixel_size", data=np.full(len(DRIFT), PIXEL))
        group.create_dataset("t_mid", data=np.arange(len(DRIFT)) * 3600.0)


def test_analyse_prints_a_summary_and_writes_drift_and_fields(tmp_path, capsys) -> None:
    source, out = tmp_path / "run.h5", tmp_path / "analysis.h5"
    experiment_file(source)
    assert main(["analyse", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "composite" in printed and "ESB" in printed and f"written: {out}" in printed
    with h5py.File(out, "r") as file:
        group = file["analysis/composite"]
        assert group.attrs["detector"] == "ESB"
        shift = group["shift"][:] / PIXEL
        # The drift put in, recovered: content offsets relative to the first frame, px.
        assert shift[:3] == pytest.approx(np.array(DRIFT[:3]), abs=0.25)
        displacement = group["displacement"][:]
        assert displacement.shape == (4, 2, SIZE[1] // 64, SIZE[0] // 64)
        assert np.isnan(displacement[0]).all()
        assert group["t_mid"][:] == pytest.approx([0, 3600, 7200, 10800])
        # Between the last two frames the blocks moved: the local field plus the global shift between the
        # frames is the true motion of each cell (block displacement plus the drift put in), within 1 px.
        rows = (np.arange(SIZE[1] // 64) + 0.5) * 64 - 0.5
        columns = (np.arange(SIZE[0] // 64) + 0.5) * 64 - 0.5
        moved = (np.array(DRIFT[3]) - DRIFT[2])[:, None, None]
        truth = true_field(charged(0.95), CENTRE, rows, columns) + moved
        measured = displacement[3] / PIXEL + (shift[3] - shift[2])[:, None, None]
        error = np.hypot(*(measured - truth))
        assert np.isfinite(error).mean() > 0.6
        assert np.nanmax(error) < 1.0
    assert main(["analyse", str(source), "--out", str(out)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_analyse_names_what_is_wrong(tmp_path, capsys) -> None:
    assert main(["analyse", str(tmp_path / "missing.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as file:
        file.create_group("entry")
    assert main(["analyse", str(empty)]) == 2
    assert "no regions of interest" in capsys.readouterr().err
    source = tmp_path / "run.h5"
    experiment_file(source)
    assert main(["analyse", str(source), "--region", "separator"]) == 2
    assert "no region 'separator'; the file has composite" in capsys.readouterr().err
    assert main(["analyse", str(source), "--detector", "InLens"]) == 2
    assert "no detector 'InLens'; it has SE2, ESB" in capsys.readouterr().err
