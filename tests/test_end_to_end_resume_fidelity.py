"""A simulated thesis run killed with SIGKILL and resumed ends as the same run left alone would: the simulated
cell (contact loss, LPS oxidation, diffusion, noise) is put back from the state saved with the last recorded
point, not rebuilt from its state of charge (which ended 5.6 h late: 73.2 h against 67.6 h)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from operando.cli import main
from operando.storage import read_experiment, read_rig_state
from operando.storage._rig_state import RigStateLog
from tests.test_end_to_end import THESIS, points_in

HOUR = 3600.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def cycling_only() -> str:
    """The thesis protocol without its imaging plan: its cycling simulates in seconds."""
    text = THESIS.read_text()
    return text[:text.index("[imaging]")]


def kill_when(protocol: Path, out: Path, hours: float, speed: str = "20000") -> dict:
    """Run ``operando simulate`` in a child and SIGKILL it once its file holds a point past ``hours``."""
    command = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())",
               "simulate", str(protocol), "--out", str(out), "--speed", speed]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out.parent) as child:
        deadline = time.monotonic() + 50
        while time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.1)
            if points_in(out) and read_experiment(out).electrochem["t"][-1] > hours * HOUR:
                break
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    with pytest.raises(OSError, match="h5clear"):  # really killed: the SWMR writer's mark is still set
        h5py.File(out, "r+", libver="latest").close()
    return read_experiment(out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fidelity")
    (folder / "cycling.toml").write_text(cycling_only())
    return folder


@pytest.fixture(scope="module")
def uninterrupted(folder: Path):  # noqa: ANN201
    out = folder / "uninterrupted.h5"
    assert main(["simulate", str(folder / "cycling.toml"), "--out", str(out)]) == 0
    return read_experiment(out)


def totals(record) -> tuple[float, float, float]:  # noqa: ANN001
    """Duration (s), charge passed in charge and in discharge (C), from the points."""
    ec = record.electrochem
    dq = np.diff(ec["Q"])
    return float(ec["t"][-1]), float(dq[dq > 0].sum()), float(-dq[dq < 0].sum())


# Killed in the constant-current charge (contact loss growing, LPS oxidising) and in the discharge (the
# lithiated shell throttling diffusion at its end).
@pytest.mark.parametrize("hours", [30.0, 55.0])
def test_a_killed_and_resumed_run_ends_as_the_uninterrupted_one(folder: Path, uninterrupted, hours: float) -> None:
    out = folder / f"killed-{hours:g}h.h5"
    before = kill_when(folder / "cycling.toml", out, hours)
    saved = read_rig_state(out)
    assert saved is not None and saved[1] == len(before.electrochem["t"])  # the state of the last point on disk
    assert main(["resume", str(out)]) == 0
    after = read_experiment(out, swmr=False)
    assert after.status == "completed" and len(after.events_of("resumed")) == 1
    duration, charged, discharged = totals(after)
    expected_duration, expected_charged, expected_discharged = totals(uninterrupted)
    assert expected_duration == pytest.approx(67.6 * HOUR, abs=0.1 * HOUR)  # the thesis's 67 h
    assert duration == pytest.approx(expected_duration, rel=0.01)
    assert charged == pytest.approx(expected_charged, rel=0.01)
    assert discharged == pytest.approx(expected_discharged, rel=0.01)
    # Each step ends where it ended uninterrupted (the hold by its current, the discharge at 2.7 V vs Li).
    ends = {e["name"]: e["t"] for e in after.events_of("step_ended") if e["reason"] in ("limit", "duration")}
    expected_ends = {e["name"]: e["t"] for e in uninterrupted.events_of("step_ended")}
    assert ends.keys() == expected_ends.keys()
    for name, t in expected_ends.items():
        assert ends[name] == pytest.approx(t, abs=max(0.01 * t, 120.0)), name


def test_a_simulated_run_saves_its_state_with_its_last_point(folder: Path, uninterrupted) -> None:  # noqa: ARG001
    """The finished file's last saved state is the one taken after its last point."""
    with h5py.File(folder / "uninterrupted.h5", "r") as file:
        assert len(file["entry/rig_state/points"]) >= 1
        assert file["entry/rig_state/points"][-1] == len(file["entry/electrochem/t"])


def test_a_saved_state_that_does_not_fit_the_rig_is_refused(folder: Path, uninterrupted, capsys) -> None:  # noqa: ANN001, ARG001
    """A file whose last saved cell is of another capacity: one line naming the field, nothing started."""
    path = folder / "foreign-state.h5"
    shutil.copyfile(folder / "uninterrupted.h5", path)
    t, points, state = read_rig_state(path)
    state["cell"]["capacity"] *= 2
    with h5py.File(path, "r+", libver="latest") as file:
        file["entry"].attrs.modify("status", "running")  # as if it had been killed
        RigStateLog(file["entry"]).append(t, points, state)
    assert main(["resume", str(path)]) == 1
    message = capsys.readouterr().err
    assert "cell.capacity" in message and "Traceback" not in message
    assert read_experiment(path).status == "running"  # the file is left as it was
