"""The simulated rig with its ground truth at hand, for tests and benchmarks: the built-in simulated rig file
(:mod:`operando.simulated_rig`) built by :func:`operando.rigfile.build`, as ``operando simulate`` builds it,
with the simulation's own objects (cell, fake EClib, fake SmartSEM) beside the instruments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from operando.drivers.biologic import BiologicPotentiostat
from operando.drivers.zeiss import ZeissMicroscope
from operando.simulators.cell import SimulatedCell
from operando.simulators.eclib import FakeEClib
from operando.simulators.sem import FakeCZEMApi

from operando.plan import Plan
from operando.rigfile import BuiltRig, build
from operando.simulated_rig import simulated_rig

OPTIONS = ("poll_interval", "board", "cell")


@dataclass
class SimulatedRig:
    """The built rig (what the engine runs on) and the simulation's ground truth."""

    rig: BuiltRig

    @property
    def potentiostat(self) -> BiologicPotentiostat:
        return self.rig.potentiostat  # type: ignore[return-value]

    @property
    def microscope(self) -> ZeissMicroscope | None:
        """The microscope, for a plan with imaging (None otherwise, as the engine sees it)."""
        return self.rig.microscope if self.sem is not None else None  # type: ignore[return-value]

    @property
    def cell(self) -> SimulatedCell:
        return self.rig.context.shared["cell"]  # ground truth: soc, ocv, surface_soc, ...

    @property
    def eclib(self) -> FakeEClib:
        return self.rig.context.shared["eclib"]  # the fake vendor seam: channel state, calls, fault injection

    @property
    def sem(self) -> FakeCZEMApi | None:
        return self.rig.context.shared.get("sem")  # ground truth (frames, drift, dose), fault injection

    @property
    def poll_interval(self) -> float:
        return self.rig.poll_interval

    @property
    def seed(self) -> int:
        return self.rig.context.seed

    @property
    def config(self) -> dict[str, Any]:
        return self.rig.config

    @property
    def snapshot(self) -> Callable[[], dict[str, Any]]:
        return self.rig.snapshot

    def restore(self, state: dict[str, Any]) -> None:
        self.rig.restore(state)

    async def close(self) -> None:
        await self.rig.close()


async def build_simulated_rig(plan: Plan, *, seed: int = 0, **options: Any) -> SimulatedRig:
    """Build the simulated rig for ``plan`` inside the running loop. Options: ``poll_interval`` (s), ``board``
    (e.g. "VMP300", "SP150"), ``cell`` (CellParameters overrides, e.g. ``{"stack_pressure": 25e6}``)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"simulated rig: unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    return SimulatedRig(await build(simulated_rig(seed=seed, **options), plan))
