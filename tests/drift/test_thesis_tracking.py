"""The thesis's 67 h operando experiment run by the engine on the simulated rig, its regions held by the drift
tracker, checked against the fake microscope's ground truth.

The protocol is examples/thesis_nmc622.toml with 512 x 384 px frames and the particle imaged every 20 % of
state of charge (as in tests/test_end_to_end_imaging.py, so it takes seconds) and one low-dose tracking frame
before each science frame (``tracking_frames = 1``): frames come hours apart, and the specimen's random walk
over two hours (about 11 nm per axis) and the thermal settling of the first hours cannot be predicted from
earlier frames alone.

Truth: the material point under the centre of a region's first frame (the electrode itself moves as the
cathode delithiates, by up to a few hundred nm) and where it is in every later frame of that region, from the
fake's frame geometry (drift, real stage position, beam shift) and its true material displacement.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from operando.simulators.rig import build_simulated_rig
from operando.simulators.sem import FakeCZEMApi

from operando.clock import run_simulated
from operando.engine import Experiment
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.storage import read_experiment

THESIS = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"
SCAN_RATE_DWELL = 50e-9  # s, SmartSEM scan rate 0; rate n dwells 50 ns x 2^n


def thesis_plan() -> Plan:
    plan = resolve(load_protocol(THESIS))
    regions = tuple(
        replace(region, frame_size=(512, 384),
                triggers=tuple(replace(t, soc_step=0.2) if t.kind == "soc_step" else t for t in region.triggers))
        for region in plan.imaging.regions)
    tracking = {name: {**table, "tracking_frames": 1} for name, table in plan.extras["tracking"].items()}
    return replace(plan, imaging=replace(plan.imaging, regions=regions),
                   extras={**plan.extras, "tracking": tracking})


@dataclass
class Truth:
    """Per region, the offset (px, image rows and columns) of its first frame's centre material point from
    the centre of each of its science frames, in the order taken."""

    plan: Plan
    offsets: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _material: dict[str, np.ndarray] = field(default_factory=dict)  # reference (undisplaced) scene point, m

    def watch(self, fake: FakeCZEMApi) -> None:
        """Record the truth of every science frame the fake hands out."""
        grab, seen = fake.Grab, set()

        def Grab(*args: object, **kwargs: object) -> int:  # noqa: N802 - the seam's name
            count = len(fake.grabs)
            code = grab(*args, **kwargs)
            if len(fake.grabs) > count and fake.grabs[-1].frame.serial not in seen:
                seen.add(fake.grabs[-1].frame.serial)
                self._record(fake, fake.grabs[-1].frame)
            return code

        fake.Grab = Grab  # type: ignore[method-assign]

    def _record(self, fake: FakeCZEMApi, frame: object) -> None:
        geometry = frame.geometry  # type: ignore[attr-defined]
        dwell = SCAN_RATE_DWELL * 2 ** frame.settings["scan"].scan_rate  # type: ignore[attr-defined]
        region = next((r for r in self.plan.imaging.regions
                       if np.isclose(geometry.pixel_size, r.pixel_size, rtol=1e-3)
                       and np.isclose(dwell, r.dwell, rtol=1e-3)), None)
        if region is None:
            return  # a tracking frame (100 ns dwell) or another region's
        centre = np.array([(geometry.height - 1) / 2, (geometry.width - 1) / 2])

        def moved(point: np.ndarray) -> np.ndarray:
            return point + fake.displacement_at(point[None])[0]

        if region.name not in self._material:
            seen = geometry.scene_point(*centre)
            reference = seen.copy()
            for _ in range(6):  # the displacement is smooth: a few fixed-point steps invert it
                reference = reference + (seen - moved(reference))
            self._material[region.name] = reference
        where = geometry.image_position(moved(self._material[region.name]))
        self.offsets.setdefault(region.name, []).append(where - centre)


@pytest.fixture(scope="module")
def thesis(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    plan = thesis_plan()
    truth = Truth(plan)
    out = tmp_path_factory.mktemp("thesis") / "thesis.h5"

    async def main() -> None:
        rig = await build_simulated_rig(plan, seed=0)
        truth.watch(rig.sem)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config, microscope=rig.microscope)
        await experiment.run()
        assert asyncio.get_running_loop().time() > 67 * 3600

    run_simulated(main())
    return plan, truth, read_experiment(out)


def test_every_tracked_region_stays_within_a_pixel_at_the_99th_percentile(thesis) -> None:  # noqa: ANN001
    plan, truth, record = thesis
    names = [region.name for region in plan.imaging.regions]
    assert sorted(truth.offsets) == sorted(names) == ["particle", "wide"]
    for name in names:
        offsets = np.hypot(*np.array(truth.offsets[name]).T)
        # Every science frame of the file, and no other, was checked against the truth.
        assert len(offsets) == len(record.rois[name]) >= 5
        assert offsets[0] < 1e-9
        assert np.percentile(offsets, 99) < 1.0, f"{name}: {np.round(offsets, 2)}"


def test_the_electrode_moved_enough_for_holding_it_to_matter(thesis) -> None:  # noqa: ANN001
    """Without the correction the wide field's centre would have wandered by tens of pixels."""
    plan, _, record = thesis
    events = [e for e in record.events_of("drift_measured") if e["region"] == "wide"]
    corrections = np.array([e["correction"] for e in events])
    wide = next(r for r in plan.imaging.regions if r.name == "wide")
    assert np.max(np.hypot(*(corrections - corrections[0]).T)) / wide.pixel_size > 10


def test_no_frame_was_lost_from_view(thesis) -> None:  # noqa: ANN001
    plan, truth, record = thesis
    assert record.events_of("region_lost") == []
    for region in plan.imaging.regions:
        events = [e for e in record.events_of("drift_measured") if e["region"] == region.name]
        assert len(events) == len(record.rois[region.name])
        assert all(e["valid"] for e in events)
