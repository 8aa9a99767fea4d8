"""The experiment file: layout and attributes, appending, status, resume, events that always parse."""

import json
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from operando.roles.potentiostat import InstrumentInfo
from operando.storage import ExperimentFile, read_experiment
from operando.storage._events import encode_payload
from tests.engine.plans import charge_hold_discharge

START = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
VMP300 = InstrumentInfo("VMP-300", "0123", "6.11", "operando.drivers.biologic",
                        {"channel": 1, "I_range": "1 mA"})


def points(t: list[float], step: int = 1) -> dict[str, np.ndarray]:
    n = len(t)
    return {"t": np.array(t), "t_device": np.array(t) - 600.0, "E_we": np.full(n, 3.1),
            "I": np.full(n, 15e-6), "Q": np.arange(n) * 1e-3, "soc": np.arange(n) * 0.01,
            "cycle": np.zeros(n, np.int32), "step": np.full(n, step, np.int32),
            "technique": np.full(n, 1, np.uint8)}


def make(path: Path) -> ExperimentFile:
    return ExperimentFile.create(path, plan=charge_hold_discharge(), instruments={"potentiostat": VMP300},
                                 start_utc=START, rig_config={"rig": "simulated", "seed": 0})


def test_layout_units_and_attributes(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    file.close()
    with h5py.File(tmp_path / "x.h5", "r") as f:
        entry = f["entry"]
        assert entry.attrs["status"] == "running" and entry.attrs["start_time"] == "2024-03-01T09:30:00+00:00"
        assert entry.attrs["protocol_text"] == "# built in a test\n"
        assert json.loads(entry.attrs["rig_config"]) == {"rig": "simulated", "seed": 0}
        units = {name: entry["electrochem"][name].attrs["units"] for name in entry["electrochem"]}
        assert units == {"t": "s", "t_device": "s", "E_we": "V", "I": "A", "Q": "C", "soc": "1", "cycle": "",
                         "step": "", "technique": ""}
        assert set(entry["impedance"]) == {"run", "t", "frequency", "Z_re", "Z_im", "E_dc", "I_dc"}
        assert set(entry["events"]) == {"t", "kind", "payload"}
        labels = json.loads(entry["electrochem"].attrs["technique_labels"])
        assert labels == ["OCV", "CP", "CA", "OCV (pause)"]
        steps = json.loads(entry["electrochem"].attrs["steps"])
        assert [s["name"] for s in steps][:3] == ["rest", "charge", "hold"]
        cell = entry["cell"].attrs
        assert cell["material"] == "NMC622" and cell["counter_electrode"] == "Li-In"
        assert cell["active_mass"] == pytest.approx(3.254e-6) and cell["counter_potential"] == 0.62
        assert cell["capacity"] == pytest.approx(0.9 * 3.6, rel=1e-3)  # 0.9 mAh
        assert json.loads(cell["units"])["capacity"] == "C"
        assert entry["safety"].attrs["E_max"] == 4.2
        instrument = entry["instruments"]["potentiostat"].attrs
        identity = (instrument["model"], instrument["serial"], instrument["firmware"])
        assert identity == ("VMP-300", "0123", "6.11")
        assert json.loads(instrument["settings"]) == {"channel": 1, "I_range": "1 mA"}


def test_append_status_and_resume_into_the_same_file(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    file.append_points(points([610.0, 620.0]))
    file.append_events([(600.0, "step_started", {"step": 1, "name": "charge"})])
    file.set_status("aborted", end_utc=START, duration=620.0)
    file.close()
    resumed = ExperimentFile.reopen(tmp_path / "x.h5")
    assert read_experiment(tmp_path / "x.h5").status == "running"  # visible to readers at once
    resumed.append_points(points([630.0]))
    resumed.set_status("completed", end_utc=START, duration=630.0)
    resumed.close()
    record = read_experiment(tmp_path / "x.h5")
    assert record.electrochem["t"].tolist() == [610.0, 620.0, 630.0]
    assert record.events == [(600.0, "step_started", {"step": 1, "name": "charge"})]
    assert record.status == "completed" and record.attrs["duration"] == 630.0


def test_columns_of_different_lengths_are_refused(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    broken = points([1.0, 2.0])
    broken["E_we"] = np.array([3.0])
    with pytest.raises(ValueError, match="different lengths"):
        file.append_points(broken)
    with pytest.raises(KeyError, match="needs exactly"):
        file.append_points({"t": np.array([1.0])})
    file.close()


def test_a_partly_written_last_batch_is_cut_off_when_read_and_when_resumed(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    file.append_points(points([1.0, 2.0]))
    file.close()
    with h5py.File(tmp_path / "x.h5", "r+") as f:  # as if killed between two columns of the next batch
        f["entry/electrochem/t"].resize((3,))
    assert read_experiment(tmp_path / "x.h5").electrochem["t"].tolist() == [1.0, 2.0]
    resumed = ExperimentFile.reopen(tmp_path / "x.h5")
    resumed.append_points(points([3.0]))
    resumed.close()
    ec = read_experiment(tmp_path / "x.h5").electrochem
    assert ec["t"].tolist() == [1.0, 2.0, 3.0] and len(ec["E_we"]) == 3


def test_an_existing_file_is_refused(tmp_path: Path) -> None:
    make(tmp_path / "x.h5").close()
    with pytest.raises(FileExistsError):
        make(tmp_path / "x.h5")


def test_event_payloads_always_fit_and_parse() -> None:
    long_message = "E" * 10_000
    encoded = encode_payload({"message": long_message, "code": -200, "value": float("nan")}, limit=4096)
    payload = json.loads(encoded)
    assert len(encoded) <= 4096 and payload["truncated"] is True and payload["code"] == -200
    assert payload["value"] is None and payload["message"].startswith("EEE")
    encoded = encode_payload({f"k{i}": "ü" * 500 for i in range(40)}, limit=4096)
    assert len(encoded) <= 4096 and json.loads(encoded)["truncated"] is True


def test_rows_a_failed_flush_left_blank_are_cut_when_read_and_when_resumed(tmp_path: Path) -> None:
    file = make(tmp_path / "x.h5")
    file.append_points(points([1.0, 2.0]))
    file.append_events([(1.0, "note", {"text": "first"})])
    file.close()
    with h5py.File(tmp_path / "x.h5", "r+") as f:  # extents flushed, values never written (a disk full)
        for name in f["entry/electrochem"]:
            f["entry/electrochem"][name].resize((4,))
        for name in f["entry/events"]:
            f["entry/events"][name].resize((2,))
    record = read_experiment(tmp_path / "x.h5")
    assert record.electrochem["t"].tolist() == [1.0, 2.0]
    assert record.events == [(1.0, "note", {"text": "first"})]
    resumed = ExperimentFile.reopen(tmp_path / "x.h5")
    resumed.append_points(points([3.0]))
    resumed.close()
    ec = read_experiment(tmp_path / "x.h5").electrochem
    assert ec["t"].tolist() == [1.0, 2.0, 3.0] and ec["Q"].tolist() == [0.0, 1e-3, 0.0]
