"""A potentiostat whose vendor call hangs at the end of a simulated run: the safe-state timeout still ends the run.

Vendor calls hold simulated time, so a timeout counted in simulated time alone could never fire around a hung
one; the engine's safe-state timeout counts the wall time the calls held the clock as well.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState
from operando.instrument_thread import InstrumentThread
from operando.storage import read_experiment
from operando.techniques import OpenCircuit, Recording
from tests.engine.cell_potentiostat import CellPotentiostat
from tests.engine.plans import plan, step


class HangingPotentiostat(CellPotentiostat):
    """Its safe_state goes through a vendor call on the instrument thread that never returns (until freed)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.thread = InstrumentThread("hanging-potentiostat")
        self.freed = threading.Event()

    async def safe_state(self) -> None:
        await super().safe_state()
        await self.thread.call(self.freed.wait, 20.0)  # BL_Stop stuck in the DLL


def test_a_hung_safe_state_call_ends_the_run_after_the_timeout_of_wall_time(tmp_path: Path) -> None:
    rest = plan(step(0, "rest", "OCV", OpenCircuit(3600.0, recording=Recording(60.0))))
    potentiostat = HangingPotentiostat.for_plan_cell(rest.cell, fail_at=1800.0)
    experiment = Experiment(rest, potentiostat, tmp_path / "hung.h5", poll_interval=600.0,
                            safe_state_timeout=0.5)
    started = time.monotonic()
    try:
        result = run_simulated(experiment.run())
        took = time.monotonic() - started
    finally:
        potentiostat.freed.set()
        potentiostat.thread.close()
    assert result.status is ExperimentState.FAILED and "link to the channel lost" in result.reason
    assert took < 5.0  # 0.5 s of safe-state timeout; a simulated-time timeout waited the full 20 s
    record = read_experiment(result.path)
    assert record.status == "failed"
    reasons = [fault["message"] for fault in record.events_of("fault")]
    assert "safe state failed: no answer within 0.5 s" in reasons, reasons
    assert record.electrochem["t"][-1] == 1200.0  # read every 600 s; the read at 1800 s failed
