"""A region tracked in closed loop: the real Zeiss driver over the simulated FIB-SEM, on simulated time.

Ground truth: the specimen point under the centre of each grabbed frame at mid-scan (the simulator's frame
geometry, drift and real stage position included). A region held in place keeps that point still.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from operando.drivers.zeiss import ZeissConfig, ZeissMicroscope
from operando.simulators.sem import CrossSection, DriftModel, FakeCZEMApi, cross_section

from operando.clock import run_simulated
from operando.drift import DriftResult, RegionTracker, TrackingSettings
from operando.plan import RegionOfInterest, Trigger

PIXEL = 42.5e-9


@functools.cache
def scene() -> CrossSection:
    return cross_section()


def region(frame_size: tuple[int, int] = (512, 384),
           detectors: tuple[str, ...] = ("ESB",)) -> RegionOfInterest:
    return RegionOfInterest(name="composite", stage_position=None, pixel_size=PIXEL, frame_size=frame_size,
                            dwell=400e-9, detectors=detectors, accelerating_voltage=2000.0,
                            probe_current=2e-9, triggers=(Trigger(kind="every", interval=600.0),))


@dataclass
class Run:
    """What happened: per frame the tracker's result, the true centre point (m) and true drift (m)."""

    results: list[DriftResult] = field(default_factory=list)
    centres: list[np.ndarray] = field(default_factory=list)
    true_drift: list[np.ndarray] = field(default_factory=list)
    beam_shift: list[tuple[float, float]] = field(default_factory=list)
    stage: list[np.ndarray] = field(default_factory=list)

    def offsets_px(self) -> np.ndarray:
        """(n, 2) distance of each frame's centre point from the first frame's, px (x, y scene axes)."""
        centres = np.array(self.centres)
        return (centres - centres[0]) / PIXEL


async def grab_truth(fake: FakeCZEMApi, run: Run) -> None:
    record = fake.grabs[-1].frame
    geometry = record.geometry
    run.centres.append(geometry.scene_point((geometry.height - 1) / 2, (geometry.width - 1) / 2))
    run.true_drift.append(np.asarray(record.drift_mid, float))
    run.stage.append(np.asarray(record.stage_mid, float))


def closed_loop(frames: int, interval: float, *, drift: DriftModel | None = None,
                settings: TrackingSettings | dict[str, Any] | None = None, seed: int = 0,
                frame_size: tuple[int, int] = (512, 384),
                between: Callable[[int, FakeCZEMApi], Awaitable[None] | None] | None = None,
                config: ZeissConfig | None = None) -> Run:
    """Take ``frames`` frames ``interval`` s apart with the tracker in the loop; returns what happened."""
    async def main() -> Run:
        loop = asyncio.get_running_loop()
        fake = FakeCZEMApi(loop.time, scene(), seed=seed, drift=drift or DriftModel(seed=seed))
        sem = ZeissMicroscope(lambda: fake, config or ZeissConfig())
        await sem.connect()
        roi = region(frame_size)
        await sem.set_beam(voltage=roi.accelerating_voltage, current=roi.probe_current)
        await sem.set_scan(frame_size=frame_size, dwell=roi.dwell, pixel_size=roi.pixel_size)
        await sem.select_detectors(roi.detectors)
        tracker = RegionTracker(roi, settings)
        run = Run()
        try:
            for index in range(frames):
                await tracker.before_frame(sem, loop.time())
                taken = await sem.grab()
                await grab_truth(fake, run)
                run.beam_shift.append(taken[0].metadata.beam_shift)
                run.results.append(await tracker.after_frame(sem, taken))
                if between is not None:
                    maybe = between(index, fake)
                    if maybe is not None:
                        await maybe
                await asyncio.sleep(interval)
        finally:
            await sem.disconnect()
        run.tracker = tracker  # type: ignore[attr-defined]
        return run
    return run_simulated(main())


def nm_per_min(value: float) -> float:
    return value * 1e-9 / 60.0


__all__ = ["Run", "closed_loop", "region", "scene", "PIXEL", "math"]
