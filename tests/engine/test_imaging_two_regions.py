"""Two tracked regions at their own stage positions, 60 um apart, through the operando engine: each is held at
its first frame while the stage goes back and forth between them and takes over drift corrections (ground
truth: the specimen point under each science frame's centre, from the fake SmartSEM's own records)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from operando.simulators.sem import DriftModel

from operando.engine import ExperimentState
from operando.plan import StagePosition, Trigger
from tests.engine.imaging_rig import region, run_imaging, with_imaging
from tests.engine.test_imaging import rest_then_charge

PIXEL = 42.5e-9
DWELL = 400e-9  # science frames; tracking frames (after stage moves) use 100 ns
START = (0.0612, 0.0453, 0.0351)  # the fake stage's start (m); its tilt is 54 deg
PLACES = {"near": (-25e-6, 2e-6), "far": (35e-6, -4e-6)}  # scene points of the fields' centres (m)


def test_two_regions_at_their_own_stage_positions_stay_in_place(tmp_path: Path) -> None:
    regions = [region(name, Trigger("every", interval=1800.0), pixel_size=PIXEL, dwell=DWELL,
                      detectors=("ESB",), stage_position=StagePosition(START[0] + x, START[1] + y, START[2],
                                                                       math.radians(54.0), 0.0))
               for name, (x, y) in PLACES.items()]
    plan = with_imaging(rest_then_charge(hours=6.0), *regions)
    plan = replace(plan, extras={**plan.extras, "tracking": {
        name: {"enabled": True, "local_fields": False} for name in PLACES}})

    async def creep(experiment, fake) -> None:  # noqa: ANN001 - 40 nm/min: the beam shift runs out in hours
        fake.drift = DriftModel(seed=4, linear_nm_per_min=(40.0, -25.0))
        await asyncio.sleep(0)

    run = run_imaging(plan, tmp_path / "two.h5", during=creep)
    assert run.result.status is ExperimentState.COMPLETED
    centres: dict[str, list[np.ndarray]] = {name: [] for name in PLACES}
    for grab in run.fake.grabs:
        frame = grab.frame
        if not math.isclose(frame.settings["scan"].dwell, DWELL):
            continue  # a tracking frame
        geometry = frame.geometry
        point = geometry.scene_point((geometry.height - 1) / 2, (geometry.width - 1) / 2)
        name = min(PLACES, key=lambda n: np.hypot(*(point - np.asarray(PLACES[n]))))
        centres[name].append(point)
    for name, points in centres.items():
        assert len(points) == 14, name  # every 30 min over 6.5 h, t = 0 included
        offsets = np.hypot(*((np.array(points) - points[0]) / PIXEL).T)
        # The first two corrections learn the drift's velocity; from then on within a pixel.
        assert np.max(offsets[3:]) < 1.0, (name, offsets.round(2))
    assert sum(1 for grab in run.fake.grabs if not math.isclose(grab.frame.settings["scan"].dwell, DWELL)) > 0
