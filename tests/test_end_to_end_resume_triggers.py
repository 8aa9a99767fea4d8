"""A trigger that fired just before the process died, whose frame was never written, fires again on resume;
no trigger fires twice: the resumed run has the frames, by trigger and count, of the same run left alone.

The "kill" is a copy of the file taken while the engine is frozen at the start of the frame the 20 % SOC
trigger asked for, or of the frame the end of the last step asked for (the writer flushes what it was handed,
nothing more reaches it): the bytes a SIGKILL at that moment leaves, writer's open-for-writing mark included.
The run itself then goes on uninterrupted and is the reference.
"""

import asyncio
import shutil
import time
from pathlib import Path

import h5py
import pytest
from operando.simulators.rig import build_simulated_rig

from operando.cli import main
from operando.clock import run_simulated
from operando.engine import Experiment, StepEnded
from operando.protocol import load_protocol, resolve
from operando.storage import read_experiment
from tests.test_end_to_end import light_thesis

LEVEL = 0.2  # the particle region images every 20 % of state of charge (light_thesis)


def run_copying_at_a_frame(protocol: Path, out: Path, killed: Path, moment: str) -> float:
    """Run the protocol to its end; at the first frame taken once the cell is past ``LEVEL`` (``moment``
    "soc") or once the last step has ended ("end"), copy the file as a kill would leave it. Returns the
    timeline time of the copy."""
    plan = resolve(load_protocol(protocol))
    copied: list[float] = []

    async def run() -> None:
        rig = await build_simulated_rig(plan, seed=0)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config, microscope=rig.microscope, rig_state=rig.snapshot)
        grab = rig.microscope.grab
        steps = experiment.bus.subscribe("steps", maxsize=1_000_000)
        ended: list[str] = []

        def now_is_the_moment() -> bool:
            if moment == "soc":
                return rig.cell.soc >= LEVEL
            ended.extend(e.name for e in steps.drain_nowait() if isinstance(e, StepEnded))
            return "discharge" in ended

        async def grab_then_maybe_copy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if not copied and now_is_the_moment():
                time.sleep(2.5)  # noqa: ASYNC251 - the loop frozen on purpose: the writer flushes (every 1 s) what it was handed
                shutil.copyfile(out, killed)
                copied.append(experiment._now())
            return await grab(*args, **kwargs)

        rig.microscope.grab = grab_then_maybe_copy
        result = await experiment.run()
        assert result.status.value == "completed"
        await asyncio.sleep(0)

    run_simulated(run())
    return copied[0]


@pytest.fixture(scope="module", params=["soc", "end"])
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("triggers")
    protocol = folder / "light.toml"
    protocol.write_text(light_thesis())
    out, killed = folder / "uninterrupted.h5", folder / "killed.h5"
    t_kill = run_copying_at_a_frame(protocol, out, killed, request.param)
    with pytest.raises(OSError, match="h5clear"):  # as a killed SWMR writer leaves it
        h5py.File(killed, "r+", libver="latest").close()
    before = read_experiment(killed)
    assert main(["resume", str(killed)]) == 0
    return read_experiment(out, swmr=False), before, read_experiment(killed, swmr=False), t_kill, request.param


def owed(runs) -> tuple[str, int]:  # noqa: ANN001
    """The region and frame number of the frame due at the kill."""
    reference, before, _, _, moment = runs
    name = "particle" if moment == "soc" else "wide"
    return name, len(before.rois[name])


def test_the_trigger_due_at_the_kill_had_no_frame_on_disk(runs) -> None:  # noqa: ANN001
    reference, before, _, t_kill, moment = runs
    name, k = owed(runs)
    ec = before.electrochem
    expected = reference.rois[name].table
    assert before.status == "running" and len(reference.rois[name]) > k
    assert expected["t_requested"][k] < t_kill  # fired before the kill, frame not on disk
    if moment == "soc":  # the crossing point is on disk, its frame is not
        assert ec["soc"][-1] >= LEVEL and all(soc < LEVEL - 0.01 for soc in before.rois[name].table["soc"])
        assert expected["soc"][k] == pytest.approx(LEVEL, abs=0.005)
    else:  # every step ended on disk, the last step's end frame is not
        assert before.events_of("step_ended")[-1]["name"] == "discharge"
        assert expected["trigger"][k] == 1 and k == len(reference.rois[name]) - 1


def test_the_resumed_run_has_the_same_frames_none_twice(runs) -> None:  # noqa: ANN001
    reference, before, after, _, _ = runs
    assert after.status == "completed"
    for name, region in reference.rois.items():
        expected, got = region.table, after.rois[name].table
        # Same triggers in the same order, same count: nothing lost, nothing twice.
        assert got["trigger"].tolist() == expected["trigger"].tolist(), name
        assert got["index"].tolist() == list(range(len(region)))
        pairs = list(zip(got["trigger"].tolist(), got["t_requested"].tolist(), strict=True))
        assert len(set(pairs)) == len(pairs), f"{name}: a trigger fired twice"
        # Each frame asked for at the same moment (within a poll interval) and state of charge as uninterrupted.
        assert got["t_requested"] == pytest.approx(expected["t_requested"], abs=61.0), name
        assert got["soc"] == pytest.approx(expected["soc"], abs=0.005), name



def test_the_due_trigger_fired_at_once_after_the_resume(runs) -> None:  # noqa: ANN001
    reference, _, after, _, moment = runs
    [resumed] = after.events_of("resumed")
    name, k = owed(runs)
    refired = after.rois[name].table
    # The owed frame: requested by the firing before the kill (same time), scanned right after the resume.
    assert refired["t_requested"][k] == reference.rois[name].table["t_requested"][k]
    assert resumed["t"] <= refired["t_start"][k] < resumed["t"] + 600.0
    notes = [n for n in after.events_of("note") if "fired again" in n.get("text", "")]
    assert len(notes) == 1 and ("20 % SOC" if moment == "soc" else "step end") in notes[0]["text"]
