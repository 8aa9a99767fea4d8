"""`operando simulate` gives the same record at any --speed: simulated time never counts the machine's own time.

At --speed 1e9 a 30 s instrument-call timeout once fired before the call had started (the selector counted a
few microseconds of wall time as thousands of simulated seconds), and at 1e6 most frames timed out.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from operando.cli import main

PROTOCOL = Path(__file__).with_name("speed_invariance.toml")
SPEEDS = ("1e6", "1e9", "max")
REGIONS = ("wide", "particle")
FAULTS = {"fault", "acquisition_skipped", "region_lost", "region_suspended", "safety_tripped"}


def _record(path: Path) -> dict[str, object]:
    """What a run wrote: status, points, events and each region's frames (pixels and times)."""
    with h5py.File(path, "r") as file:
        entry = file["entry"]
        electrochem = entry["electrochem"]
        events = entry["events"]
        record: dict[str, object] = {
            "status": entry.attrs["status"],
            "points": {name: electrochem[name][()] for name in ("t", "E_we", "I")},
            "events": list(zip(events["t"][()].tolist(), events["kind"][()].tolist(), strict=True)),
        }
        for region in REGIONS:
            group = entry["rois"][region]
            record[region] = {name: group[name][()] for name in ("frames", "t_requested", "t_start", "t_mid",
                                                                 "t_end", "stage_x", "beam_shift_x")}
    return record


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("speeds")
    found = {}
    for speed in SPEEDS:
        out = folder / f"run-{speed}.h5"
        assert main(["simulate", str(PROTOCOL), "--speed", speed, "--out", str(out)]) == 0, speed
        found[speed] = _record(out)
    return found


def test_every_speed_completes_without_a_fault(records: dict[str, dict[str, object]]) -> None:
    for speed, record in records.items():
        assert record["status"] == "completed", speed
        kinds = {kind.decode() for _, kind in record["events"]}
        assert not kinds & FAULTS, (speed, kinds)


def test_frames_come_when_the_plan_says(records: dict[str, dict[str, object]]) -> None:
    # wide: every 40 min from the start. particle: every 5 % of charge; C/10 after a 10 min rest reaches 5 % at
    # 600 + 0.05 * 36000 = 2400 s and 10 % at 4200 s (the charge stops at 1.5 h, 15 %, ending the run).
    for speed, record in records.items():
        assert np.array_equal(record["wide"]["t_requested"], [0.0, 2400.0, 4800.0]), speed
        assert record["particle"]["t_requested"] == pytest.approx([2400.0, 4200.0], abs=60.0), speed
        assert record["wide"]["frames"].shape == (3, 2, 384, 512)
        assert record["particle"]["frames"].shape == (2, 1, 384, 512)


def test_points_are_identical_at_every_speed(records: dict[str, dict[str, object]]) -> None:
    reference = records["max"]
    assert len(reference["points"]["t"]) > 100
    for speed in SPEEDS:
        for name, values in reference["points"].items():
            assert np.array_equal(records[speed]["points"][name], values), (speed, name)
        assert records[speed]["events"] == reference["events"], speed


def test_frames_are_identical_at_every_speed(records: dict[str, dict[str, object]]) -> None:
    reference = records["max"]
    for speed in SPEEDS:
        for region in REGIONS:
            for name, values in reference[region].items():
                assert np.array_equal(records[speed][region][name], values), (speed, region, name)
