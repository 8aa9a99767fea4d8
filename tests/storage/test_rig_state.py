"""/entry/rig_state: a rig with a state to save gets it stored with its points (the last of each flush, in
the same flush), one without gets no such group; a state whose bytes a kill cut short is dropped."""

from pathlib import Path

import h5py
import numpy as np

from operando.clock import run_simulated
from operando.engine import Experiment
from operando.storage import create_rig_state, read_experiment, read_rig_state
from operando.storage._rig_state import RigStateLog
from operando.techniques import ConstantCurrent, Recording
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import plan, step

CHARGE = plan(step(0, "charge", "CP", ConstantCurrent(15e-6, 7200.0, recording=Recording(dt=30.0))))


def test_a_rig_without_a_state_writes_no_rig_state(tmp_path: Path) -> None:
    potentiostat = CellPotentiostat.for_plan_cell(CHARGE.cell)
    run_simulated(Experiment(CHARGE, potentiostat, tmp_path / "real.h5", poll_interval=300.0).run())
    with h5py.File(tmp_path / "real.h5", "r") as file:
        assert "rig_state" not in file["entry"]
    assert read_rig_state(tmp_path / "real.h5") is None


def test_the_state_saved_last_is_the_rigs_after_the_last_point(tmp_path: Path) -> None:
    potentiostat = CellPotentiostat.for_plan_cell(CHARGE.cell)
    cell = potentiostat.cell
    experiment = Experiment(CHARGE, potentiostat, tmp_path / "sim.h5", poll_interval=300.0,
                            rig_state=lambda: {"cell_time": cell.time, "soc": cell.soc})
    run_simulated(experiment.run())
    t, points, state = read_rig_state(tmp_path / "sim.h5")
    ec = read_experiment(tmp_path / "sim.h5").electrochem
    assert points == len(ec["t"]) == 240
    assert state["soc"] == cell.soc and state["cell_time"] == cell.time  # nothing ran after the last read
    assert t == ec["t"][-1] == 7200.0  # the last read brought the last point
    with h5py.File(tmp_path / "sim.h5", "r") as file:
        counts = file["entry/rig_state/points"][:]
    assert 1 <= len(counts) and np.all(np.diff(counts) > 0)  # at most one state per flush, in order


def test_a_state_cut_short_by_a_kill_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "cut.h5"
    with h5py.File(path, "w", libver="latest") as file:
        entry = file.create_group("entry")
        create_rig_state(entry, CHARGE)
        log = RigStateLog(entry)
        log.append(10.0, 5, {"soc": 0.1})
        log.append(20.0, 9, {"soc": 0.2})
        data = entry["rig_state/data"]
        data.resize((data.shape[0] - 3,))  # the second state's last bytes never reached the disk
    t, points, state = read_rig_state(path)  # a reader takes the last whole state
    assert (t, points, state) == (10.0, 5, {"soc": 0.1})
    with h5py.File(path, "r+", libver="latest") as file:
        log = RigStateLog(file["entry"])
        log.truncate()  # as a resume does before appending again
        assert len(log.table) == 1 and file["entry/rig_state/data"].shape[0] == log.table.group["length"][0]
        log.append(30.0, 12, {"soc": 0.3})
    assert read_rig_state(path) == (30.0, 12, {"soc": 0.3})
    assert read_rig_state(path, points=11) == (10.0, 5, {"soc": 0.1})
