"""A simulated operando run killed with SIGKILL mid-run, then ``operando resume``: nothing recorded before the
kill is lost or changed, the protocol, charge, frame numbers and dose carry on, and the run completes."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from operando.cli import main
from operando.storage import read_experiment
from tests.test_end_to_end import light_thesis, points_in

HOUR = 3600.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("resume")
    protocol = folder / "thesis.toml"
    protocol.write_text(light_thesis())  # smaller and fewer frames, so the test takes seconds
    out = folder / "killed.h5"
    command = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())",
               "simulate", str(protocol), "--out", str(out), "--speed", "20000"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder) as child:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.3)
            if points_in(out) > 0:
                record = read_experiment(out)
                # Well into the charge (about 10 simulated hours), with frames of both regions on disk.
                if len(record.electrochem["t"]) and record.electrochem["t"][-1] > 10 * HOUR and \
                        all(len(region) >= 1 for region in record.rois.values()):
                    break
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    before = read_experiment(out)
    with pytest.raises(OSError, match="h5clear"):  # what a killed SWMR writer leaves behind
        h5py.File(out, "r+", libver="latest").close()
    code = main(["resume", str(out)])
    return before, read_experiment(out, swmr=False), code


def test_the_resumed_run_completes_in_the_same_file(killed_and_resumed) -> None:  # noqa: ANN001
    before, after, code = killed_and_resumed
    assert before.status == "running" and code == 0 and after.status == "completed"
    [resumed] = after.events_of("resumed")
    assert resumed["gap"] == 0.0  # simulated: it continues where the record stops
    assert resumed["last_record"] >= before.electrochem["t"][-1]
    # Every step of the protocol ended, the last one at the discharge's 2.7 V vs Li (2.08 V measured).
    ended = [e for e in after.events_of("step_ended") if e["reason"] in ("limit", "duration")]
    assert ended[-1]["name"] == "discharge" and after.electrochem["E_we"][-1] == pytest.approx(2.08, abs=0.01)


def test_nothing_recorded_before_the_kill_changed(killed_and_resumed) -> None:  # noqa: ANN001
    before, after, _ = killed_and_resumed
    n = len(before.electrochem["t"])
    for name, column in before.electrochem.items():
        np.testing.assert_array_equal(after.electrochem[name][:n], column)
    for region, frames in before.rois.items():
        for name, column in frames.table.items():
            np.testing.assert_array_equal(after.rois[region].table[name][:len(frames)], column)
    assert after.events[:len(before.events)] == before.events


def test_protocol_position_charge_and_frames_carry_on(killed_and_resumed) -> None:  # noqa: ANN001
    before, after, _ = killed_and_resumed
    n = len(before.electrochem["t"])
    ec = after.electrochem
    assert np.all(np.diff(ec["t"]) > 0)
    # The charge that was running continues (same step, counted on): no step restarts from the beginning.
    running_step = int(before.electrochem["step"][-1])
    assert ec["step"][n] == running_step
    [continued] = [e for e in after.events_of("step_started") if e.get("continued")]
    assert continued["step"] == running_step and continued["elapsed_before"] > 0
    # Charge and state of charge go on from the last recorded point (nothing integrated over the gap).
    assert ec["Q"][n] == pytest.approx(ec["Q"][n - 1], abs=15e-6 * 120)
    assert ec["soc"][n] == pytest.approx(ec["soc"][n - 1], abs=1e-3)
    for region, frames in after.rois.items():
        table = frames.table
        assert table["index"].tolist() == list(range(len(frames)))
        assert len(frames) > len(before.rois[region])
        assert np.all(np.diff(table["cumulative_dose"]) > 0)
        np.testing.assert_allclose(table["cumulative_dose"], np.cumsum(table["frame_dose"]), rtol=1e-9)
