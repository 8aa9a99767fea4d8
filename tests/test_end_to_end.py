"""End to end on the simulated rig: the real BioLogic driver over the fake EClib over the simulated cell.

The thesis experiment (examples/thesis_nmc622.toml) against the thesis's own figures, a safety trip, an
instrument fault mid-run, determinism, and the ``operando simulate`` command as the README gives it.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from operando.drivers.biologic._structures import ProgramState
from operando.simulators.rig import build_simulated_rig
from scipy.integrate import cumulative_trapezoid

from operando.cli import main
from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState, PointsRecorded
from operando.protocol import load_protocol, loads_protocol, resolve
from operando.storage import read_experiment

ROOT = Path(__file__).resolve().parents[1]
THESIS = ROOT / "examples" / "thesis_nmc622.toml"
HOUR = 3600.0

SHORT = """
name = "short"
[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"
[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "50 uA"
duration_max = "10 h"
[[steps]]
name = "rest"
technique = "rest"
duration = "10 min"
[[steps]]
name = "charge"
technique = "constant_current"
current = "15 uA"
until.voltage = "4.3 V vs Li"
until.time = "2 h"
record.every = "60 s"
"""


def points_in(path: Path) -> int:
    """Points a running child has written so far (0 while it is still creating the file, which it holds
    locked until SWMR starts)."""
    try:
        return len(read_experiment(path).electrochem["t"]) if path.exists() else 0
    except OSError:
        return 0


def light_thesis() -> str:
    """The thesis protocol with 512 x 384 px frames, fewer of them and no tracking frames (so a region's dose is
    its frames' dose): what the CLI tests run, in seconds."""
    text = THESIS.read_text()
    for full, light in (('"2048x1536"', '"512x384"'), ('every = "2 h"', 'every = "6 h"'),
                        ('soc_step = "5 %"', 'soc_step = "20 %"'), ("tracking_frames = 1", "tracking_frames = 0")):
        assert full in text
        text = text.replace(full, light)
    return text


def simulate(plan, out: Path, *, seed: int = 0, during=None):  # noqa: ANN001, ANN201
    """Run ``plan``'s electrochemistry (its imaging is tested in test_end_to_end_imaging.py) on a fresh
    simulated rig; ``during(rig, experiment)`` runs alongside. Returns result, rig, and every point time the
    engine handed to its sinks."""
    plan = replace(plan, imaging=None)

    async def run():  # noqa: ANN202
        rig = await build_simulated_rig(plan, seed=seed)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config)
        watcher = experiment.bus.subscribe("test", maxsize=1_000_000)
        side = asyncio.create_task(during(rig, experiment)) if during else None
        result = await experiment.run()
        if side is not None:
            side.cancel()
        delivered = [t for event in watcher.drain_nowait() if isinstance(event, PointsRecorded)
                     for t in event.points.t.tolist()]
        return result, rig, delivered

    return run_simulated(run())


@pytest.fixture(scope="module")
def thesis_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    plan = resolve(load_protocol(THESIS))
    result, rig, _ = simulate(plan, tmp_path_factory.mktemp("thesis") / "thesis.h5")
    return plan, result, rig, read_experiment(result.path)


def test_thesis_charge_stops_at_4_3_V_vs_Li_measured_as_3_68_V(thesis_run) -> None:  # noqa: ANN001
    plan, result, rig, record = thesis_run
    assert result.status is ExperimentState.COMPLETED and record.status == "completed"
    ec = record.electrochem
    charge = ec["step"] == 1
    assert ec["E_we"][charge][-1] == pytest.approx(4.3 - 0.62, abs=0.01)  # 3.68 V vs Li-In
    assert np.all(ec["E_we"][charge][:-1] < 3.68)
    assert np.allclose(ec["I"][charge], 15e-6, rtol=1e-3)  # C/60 of 0.9 mAh
    ended = {event["name"]: event for event in record.events_of("step_ended")}
    assert ended["charge"]["reason"] == "limit" and ended["charge"]["limit"] == "E_we > 3.68 V"


def test_thesis_hold_ends_below_a_fifth_of_15_uA(thesis_run) -> None:  # noqa: ANN001
    _, _, _, record = thesis_run
    ec = record.electrochem
    hold = ec["step"] == 2
    assert np.allclose(ec["E_we"][hold], 3.68, atol=0.005)
    assert abs(ec["I"][hold][-1]) < 3e-6 <= abs(ec["I"][hold][-2])  # 15 uA / 5 = 3 uA


def test_thesis_discharge_ends_at_2_7_V_vs_Li_and_durations_are_the_thesis_ballpark(thesis_run) -> None:  # noqa: ANN001
    _, result, _, record = thesis_run
    ec = record.electrochem
    discharge = ec["step"] == 4
    assert ec["E_we"][discharge][-1] == pytest.approx(2.7 - 0.62, abs=0.01)  # 2.08 V vs Li-In
    assert np.allclose(ec["I"][discharge], -15e-6, rtol=1e-3)
    # Thesis: charge and hold about 44 h, end of discharge at 67 h. The model's cell is within tens of hours.
    end_of_hold = ec["t"][ec["step"] == 2][-1]
    assert 30 * HOUR < end_of_hold < 60 * HOUR
    assert 50 * HOUR < result.duration < 100 * HOUR
    assert 0 <= result.duration - ec["t"][-1] <= 60.0  # the run ends at the read that saw the last point


def test_thesis_charge_is_the_integral_of_the_recorded_current_and_matches_the_cell(thesis_run) -> None:  # noqa: ANN001
    plan, result, rig, record = thesis_run
    ec = record.electrochem
    np.testing.assert_allclose(ec["Q"], cumulative_trapezoid(ec["I"], ec["t"], initial=0.0), atol=1e-12)
    # Ground truth: the cell's own state of charge, against the SOC counted from the recorded current.
    assert ec["soc"][-1] == pytest.approx(rig.cell.soc, abs=0.01)
    charged = ec["Q"][ec["step"] == 2][-1]
    assert charged == pytest.approx(result.charged, rel=1e-3)
    assert rig.eclib.state() == ProgramState.STOP
    assert record.instruments["potentiostat"]["model"] == "VMP-300"
    assert record.attrs["protocol_text"] == THESIS.read_text()


def test_a_crossed_safety_window_stops_the_channel_and_aborts(tmp_path: Path) -> None:
    plan = resolve(load_protocol(THESIS))
    unsafe = replace(plan, safety=replace(plan.safety, E_max=3.3))  # the charge passes 3.3 V measured
    result, rig, delivered = simulate(unsafe, tmp_path / "trip.h5")
    assert result.status is ExperimentState.ABORTED
    assert rig.eclib.state() == ProgramState.STOP
    record = read_experiment(result.path)
    assert record.status == "aborted"
    trip = record.events_of("safety_tripped")[0]
    assert trip["quantity"] == "E_we" and trip["value"] > 3.3
    assert record.electrochem["t"].tolist() == delivered
    assert record.electrochem["E_we"][-1] > 3.3 and record.events_of("step_ended")[-1]["reason"] == "stopped"


def test_an_instrument_fault_mid_run_keeps_every_point_and_stops_the_channel(tmp_path: Path) -> None:
    plan = resolve(load_protocol(THESIS))

    async def break_data_link(rig, experiment) -> None:  # noqa: ANN001
        await asyncio.sleep(10 * HOUR)
        rig.eclib.fail_calls(code=-404, count=None, calls={"BL_GetData"})  # ERR_TECH_DATACORRUPTED

    result, rig, delivered = simulate(plan, tmp_path / "fault.h5", during=break_data_link)
    assert result.status is ExperimentState.FAILED
    record = read_experiment(result.path)
    assert record.status == "failed"
    assert record.electrochem["t"].tolist() == delivered
    assert 9.9 * HOUR < delivered[-1] <= 10 * HOUR
    assert record.events_of("fault")[0]["code"] == -404
    assert rig.eclib.state() == ProgramState.STOP


def test_same_seed_same_record_other_seed_other_noise(tmp_path: Path) -> None:
    plan = resolve(loads_protocol(SHORT))
    first = read_experiment(simulate(plan, tmp_path / "a.h5", seed=7)[0].path).electrochem
    again = read_experiment(simulate(plan, tmp_path / "b.h5", seed=7)[0].path).electrochem
    other = read_experiment(simulate(plan, tmp_path / "c.h5", seed=8)[0].path).electrochem
    for name in ("t", "E_we", "I", "Q"):
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["E_we"], other["E_we"])


def test_the_readme_quick_start_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # The README's command on the thesis protocol with smaller and fewer frames, so the test takes seconds
    # (the full-size run is timed by benchmarks/bench_simulate.py).
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "thesis_nmc622.toml").write_text(light_thesis())
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "thesis_nmc622.h5"
    assert main(["simulate", "examples/thesis_nmc622.toml", "--out", str(out)]) == 0
    record = read_experiment(out)
    assert record.status == "completed"
    assert set(record.rois) == {"wide", "particle"} and all(len(r) > 5 for r in record.rois.values())
    printed = capsys.readouterr().out
    assert "completed" in printed and str(out) in printed
    [line] = [line for line in printed.splitlines() if line.startswith("frames wide")]
    assert line.split()[2] == str(len(record.rois["wide"]))


def test_simulate_refuses_bad_input_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "short.toml").write_text(SHORT)
    (tmp_path / "broken.toml").write_text(SHORT.replace('current = "15 uA"', 'current = "15 V"'))
    assert main(["simulate", "broken.toml"]) == 2
    assert "steps[1].current" in capsys.readouterr().err
    assert main(["simulate", "short.toml", "--speed", "-5"]) == 2
    assert "--speed" in capsys.readouterr().err
    assert main(["simulate", "short.toml", "--seed", "one"]) == 2
    assert "--seed" in capsys.readouterr().err
    (tmp_path / "taken.h5").write_bytes(b"")
    assert main(["simulate", "short.toml", "--out", "taken.h5"]) == 2
    assert not (tmp_path / "runs").exists()
    assert main(["simulate", "short.toml"]) == 0  # default: runs/<name>-<UTC time>.h5, folder created
    [made] = (tmp_path / "runs").iterdir()
    assert made.name.startswith("short-") and made.suffix == ".h5"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_aborts_safely_with_a_consistent_file(tmp_path: Path) -> None:
    out = tmp_path / "interrupted.h5"
    (tmp_path / "thesis.toml").write_text(light_thesis())
    command = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())",
               "simulate", "thesis.toml", "--out", str(out), "--speed", "36000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONWARNINGS": "error"}) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            if points_in(out) > 50:
                break
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    record = read_experiment(out, swmr=False)  # closed properly: opens without SWMR
    assert record.status == "aborted" and record.attrs["end_time"]
    assert record.events_of("state_changed")[-1]["reason"] == "interrupted (Ctrl-C)"
    assert record.events_of("step_ended")[-1]["reason"] == "stopped"
