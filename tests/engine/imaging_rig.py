"""Imaging test set-up: the real Zeiss driver over the simulator's fake SmartSEM, small frames, and a log of
every blanking change the fake saw (its ground truth of when the beam could reach the specimen)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from operando.drivers.zeiss import ZeissMicroscope
from operando.simulators.sem import CrossSection, CrossSectionSpec, FakeCZEMApi, cross_section

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentResult
from operando.plan import ImagingPlan, Plan, RegionOfInterest, Trigger
from tests.engine.cell_potentiostat import CellPotentiostat

_SCENE: list[CrossSection] = []


def scene() -> CrossSection:
    """One procedural cross-section for the whole test session (building it is the slow part)."""
    if not _SCENE:
        _SCENE.append(cross_section(CrossSectionSpec()))
    return _SCENE[0]


def region(name: str = "wide", *triggers: Trigger, **changes: Any) -> RegionOfInterest:
    """A 512 x 384 px region at 170 nm (the wide field's 87 um), 800 ns dwell, SE2 + ESB, 2 kV, 2 nA."""
    settings: dict[str, Any] = dict(
        name=name, stage_position=None, pixel_size=170e-9, frame_size=(512, 384), dwell=800e-9,
        detectors=("SE2", "ESB"), accelerating_voltage=2000.0, probe_current=2e-9,
        triggers=triggers or (Trigger("every", interval=3600.0),), tilt_correction=None, min_interval=0.0,
        settle_time=1.0)
    settings.update(changes)
    return RegionOfInterest(**settings)


def with_imaging(plan: Plan, *regions: RegionOfInterest) -> Plan:
    return replace(plan, imaging=ImagingPlan(regions=regions))


@dataclass
class BlankLog:
    """Every DP_BEAM_BLANKING the fake accepted, as (fake clock s, blanked) in order."""

    changes: list[tuple[float, bool]] = field(default_factory=list)

    def unblanked_intervals(self, end: float) -> list[tuple[float, float]]:
        intervals, since = [], None
        for t, blanked in self.changes:
            if not blanked and since is None:
                since = t
            elif blanked and since is not None:
                intervals.append((since, t))
                since = None
        if since is not None:
            intervals.append((since, end))
        return intervals


def log_blanking(fake: FakeCZEMApi, clock: Callable[[], float]) -> BlankLog:
    log = BlankLog()
    original = fake.Set

    def Set(name: str, value: float | str) -> int:  # noqa: N802 - the seam's name
        code = original(name, value)
        if name == "DP_BEAM_BLANKING" and code == 0:
            log.changes.append((clock(), bool(float(value))))
        return code

    fake.Set = Set  # type: ignore[method-assign]
    return log


@dataclass
class ImagingRun:
    result: ExperimentResult
    fake: FakeCZEMApi
    blanking: BlankLog
    potentiostat: CellPotentiostat
    events: list[Any]
    loop_end: float


def run_imaging(plan: Plan, out: Path, *, seed: int = 0, poll_interval: float = 60.0,
                during: Callable[[Experiment, FakeCZEMApi], Awaitable[None]] | None = None,
                potentiostat: CellPotentiostat | None = None, **experiment_options: Any) -> ImagingRun:
    """Run ``plan`` on the cell potentiostat and the fake SmartSEM on simulated time."""

    async def main() -> ImagingRun:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=seed)
        blanking = log_blanking(fake, loop.time)
        cell = potentiostat or CellPotentiostat.for_plan_cell(plan.cell, seed=seed)
        microscope = ZeissMicroscope(lambda: fake, name="test-zeiss")
        experiment = Experiment(plan, cell, out, poll_interval=poll_interval, microscope=microscope,
                                **experiment_options)
        watcher = experiment.bus.subscribe("test", maxsize=1_000_000)
        side = asyncio.create_task(during(experiment, fake)) if during else None
        result = await experiment.run()
        if side is not None:
            side.cancel()
        return ImagingRun(result, fake, blanking, cell, watcher.drain_nowait(), loop.time())

    return run_simulated(main())
