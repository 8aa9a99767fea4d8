"""Run the thesis example's cycling on the simulated rig at a given speed (for the kill test); print each
batch's time. Its imaging is left out here (the kill-and-resume test with frames: test_end_to_end_resume.py).

Usage: python child_run.py OUT.h5 SPEED. Each stdout line is "<t of the batch's last point>" once the engine
has handed the batch to the file writer.
"""

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from operando.simulators.rig import build_simulated_rig

from operando.clock import run_simulated
from operando.engine import Experiment, PointsRecorded
from operando.protocol import load_protocol, resolve

THESIS = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"


async def main(out: str) -> None:
    plan = replace(resolve(load_protocol(THESIS)), imaging=None)
    rig = await build_simulated_rig(plan, seed=0)
    experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                            rig_config=rig.config)
    progress = experiment.bus.subscribe("progress", maxsize=10, overflow="drop_oldest")

    async def report() -> None:
        async for event in progress:
            if isinstance(event, PointsRecorded):
                print(repr(float(event.points.t[-1])), flush=True)

    reporter = asyncio.create_task(report())
    await experiment.run()
    await reporter


if __name__ == "__main__":
    run_simulated(main(sys.argv[1]), speed=float(sys.argv[2]))
