"""Run the thesis plan at a given speed in another process (for the kill test); print each batch's last time.

Usage: python child_run.py OUT.h5 SPEED. Each stdout line is "<t of the batch's last point>" once the engine
has handed the batch to the file writer.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from operando.clock import run_simulated  # noqa: E402
from operando.engine import Experiment, PointsRecorded  # noqa: E402
from tests.engine.cell_potentiostat import CellPotentiostat  # noqa: E402
from tests.engine.plans import charge_hold_discharge  # noqa: E402


async def main(out: str) -> None:
    plan = charge_hold_discharge(record_every=10.0)
    experiment = Experiment(plan, CellPotentiostat.for_plan_cell(plan.cell), out, poll_interval=60.0)
    progress = experiment.bus.subscribe("progress", maxsize=10, overflow="drop_oldest")

    async def report() -> None:
        async for event in progress:
            if isinstance(event, PointsRecorded):
                print(repr(float(event.points.t[-1])), flush=True)

    import asyncio

    reporter = asyncio.create_task(report())
    await experiment.run()
    await reporter


if __name__ == "__main__":
    run_simulated(main(sys.argv[1]), speed=float(sys.argv[2]))
