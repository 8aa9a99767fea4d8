"""The simulated rig: the real BioLogic driver over the fake EClib over a simulated cell, and (for a plan with
imaging) the real Zeiss driver over the fake SmartSEM looking at a cross-section that follows the cell's true
state of charge; all on the loop's clock.

Found by the core through the ``operando.rigs`` entry point ``simulated``; the core never imports it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from operando.drivers.biologic import BiologicPotentiostat
from operando.drivers.zeiss import ZeissMicroscope
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.eclib import DEVICES, FakeEClib
from operando.simulators.sem import FakeCZEMApi
from operando.simulators.state import StateError

from operando.plan import Plan

# One read a simulated minute: the thesis records a point a minute, so each read drains about one point, and
# a 67 h run makes about 4000 reads. Software stops act within a minute of the point that meets them.
SIMULATION_POLL_INTERVAL = 60.0  # s of simulated time
OPTIONS = ("poll_interval", "board", "cell", "microscope")


@dataclass
class SimulatedRig:
    """What ``operando simulate`` runs on: the potentiostat role, and the simulation's ground truth."""

    potentiostat: BiologicPotentiostat
    cell: SimulatedCell  # ground truth: soc, ocv, surface_soc, ...
    eclib: FakeEClib  # the fake vendor seam: channel state, calls made, fault injection
    poll_interval: float
    seed: int
    config: dict[str, Any] = field(default_factory=dict)  # what the file records as the rig config
    microscope: ZeissMicroscope | None = None  # for a plan with imaging
    sem: FakeCZEMApi | None = None  # the fake SmartSEM: ground truth (frames, drift, dose), fault injection

    async def close(self) -> None:
        """Nothing external to release; the engine already disconnected the potentiostat."""

    def snapshot(self) -> dict[str, Any]:
        """The whole simulated state (cell, EClib channel, microscope specimen) as JSON values; the engine
        saves it with each batch of points so ``operando resume`` continues exactly (see :meth:`restore`)."""
        state: dict[str, Any] = {"cell": self.cell.snapshot(), "eclib": self.eclib.snapshot()}
        if self.sem is not None:
            state["sem"] = self.sem.snapshot()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot` of a rig built from the same rig config (seed, cell, board); raises
        :class:`StateError` naming the part that does not fit."""
        if not isinstance(state, dict) or not isinstance(state.get("cell"), dict):
            raise StateError("simulated rig: the saved state holds no cell")
        self.cell.restore(state["cell"])
        self.eclib.restore(state.get("eclib") or {})
        if self.sem is not None and state.get("sem") is not None:
            self.sem.restore(state["sem"])


def build_simulated_rig(plan: Plan, *, seed: int = 0, **options: Any) -> SimulatedRig:
    """Build the rig for ``plan``'s cell. Call it inside the running event loop: the fake instruments keep
    the loop's time, simulated or not. Options: ``poll_interval`` (s), ``board`` (e.g. "VMP300", "SP150"),
    ``cell`` (a dict of :class:`CellParameters` overrides, e.g. ``{"stack_pressure": 25e6}``; a resumed run
    passes ``initial_soc``), ``microscope`` (False: no microscope even for a plan with imaging)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"simulated rig: unknown option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(OPTIONS)}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"simulated rig: seed must be a whole number, got {seed!r}")
    poll_interval = float(options.get("poll_interval", SIMULATION_POLL_INTERVAL))
    if not poll_interval > 0:
        raise ValueError(f"simulated rig: poll_interval must be positive seconds, got {poll_interval!r}")
    board = str(options.get("board", "VMP300"))
    overrides = dict(options.get("cell") or {})
    loop = asyncio.get_running_loop()
    cell = SimulatedCell(CellParameters.from_cell(plan.cell, **overrides), seed=seed)
    # The fake reads loop.time() from the instrument thread while the loop holds simulated time: a plain read.
    eclib = FakeEClib(cell, loop.time, board)
    potentiostat = BiologicPotentiostat(eclib, "USB0", 1)
    config = {"rig": "simulated", "seed": seed, "poll_interval": poll_interval, "board": board,
              "boards_known": sorted(DEVICES), "cell_overrides": overrides,
              "driver": "operando.drivers.biologic over operando.simulators.eclib.FakeEClib"}
    microscope = sem = None
    if plan.imaging is not None and plan.imaging.regions and options.get("microscope", True):
        # The specimen follows the cell's true state of charge (cracks open on charge, close on discharge).
        sem = FakeCZEMApi(loop.time, seed=seed, soc_provider=lambda: cell.soc)
        microscope = ZeissMicroscope(lambda: sem, name="simulated-zeiss")
        config["microscope"] = "operando.drivers.zeiss over operando.simulators.sem.FakeCZEMApi"
    return SimulatedRig(potentiostat, cell, eclib, poll_interval, seed, config, microscope, sem)
