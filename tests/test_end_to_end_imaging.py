"""The thesis's operando experiment on the simulated rig with imaging: real BioLogic and Zeiss drivers over
their fakes, the specimen following the cell's true state of charge.

The protocol is examples/thesis_nmc622.toml with 512 x 384 px frames, the particle imaged every 20 % of
state of charge (instead of 5 %) so the test takes seconds, and no low-dose tracking frames so every scan the
fake sees is a science frame (tests/drift/test_thesis_tracking.py runs the plan with them); everything else is
the thesis plan.
"""

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from operando.simulators.rig import build_simulated_rig

from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState
from operando.plan import ELEMENTARY_CHARGE
from operando.protocol import load_protocol, resolve
from operando.storage import read_experiment
from tests.engine.imaging_rig import log_blanking

ROOT = Path(__file__).resolve().parents[1]
THESIS = ROOT / "examples" / "thesis_nmc622.toml"
HOUR = 3600.0


def thesis_plan():  # noqa: ANN201
    plan = resolve(load_protocol(THESIS))
    regions = []
    for region in plan.imaging.regions:
        triggers = tuple(replace(t, soc_step=0.2) if t.kind == "soc_step" else t for t in region.triggers)
        regions.append(replace(region, frame_size=(512, 384), triggers=triggers))
    tracking = {name: {**settings, "tracking_frames": 0} for name, settings in plan.extras["tracking"].items()}
    return replace(plan, imaging=replace(plan.imaging, regions=tuple(regions)),
                   extras={**plan.extras, "tracking": tracking})


def run(plan, out: Path, during=None):  # noqa: ANN001, ANN201
    async def main():  # noqa: ANN202
        rig = await build_simulated_rig(plan, seed=0)
        blanking = log_blanking(rig.sem, asyncio.get_running_loop().time)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config, microscope=rig.microscope)
        side = asyncio.create_task(during(rig, experiment)) if during else None
        result = await experiment.run()
        if side is not None:
            side.cancel()
        return result, rig, blanking, asyncio.get_running_loop().time()

    return run_simulated(main())


@pytest.fixture(scope="module")
def thesis(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    plan = thesis_plan()
    result, rig, blanking, end = run(plan, tmp_path_factory.mktemp("operando") / "thesis.h5")
    return plan, result, rig, blanking, end, read_experiment(result.path)


def test_the_wide_field_is_imaged_every_2_h_and_at_every_step_end(thesis) -> None:  # noqa: ANN001
    plan, result, _, _, _, record = thesis
    assert result.status is ExperimentState.COMPLETED
    wide = record.rois["wide"]
    labels = [wide.trigger_labels[c] for c in wide.table["trigger"]]
    timed = wide.table["t_requested"][[label == "every 7200 s" for label in labels]]
    # Every 2 h from t = 0 to the end of the run (about 67 h): one frame per 2 h mark, none missed.
    marks = np.arange(0.0, result.duration, 7200.0)
    assert len(marks) > 25
    ends = [e["t"] for e in record.events_of("step_ended")]
    skipped = [e for e in record.events_of("acquisition_skipped") if e["region"] == "wide"]
    taken_or_skipped = sorted([*timed.tolist(), *(e["t"] for e in skipped if e["trigger"] == "every 7200 s")])
    np.testing.assert_allclose(taken_or_skipped, marks, atol=1.0)
    # At the end of every step, within one frame time (or skipped within min_interval of a 2 h frame).
    by_step_end = wide.table["t_requested"][[label == "step end of every step" for label in labels]]
    for t in ends:
        frame_near = np.any(np.abs(by_step_end - t) < 61.0)
        within_min = any(abs(s["t"] - t) < 61.0 and "min_interval" in s["reason"] for s in skipped)
        assert frame_near or within_min, f"no frame for the step that ended at {t / HOUR:.2f} h"
    assert np.all(wide.table["t_start"] - wide.table["t_requested"] < 1.0 + 1.0 + 0.3)


def test_frames_carry_e_i_q_of_the_record_at_mid_scan(thesis) -> None:  # noqa: ANN001
    _, _, _, _, _, record = thesis
    ec = record.electrochem
    for name, region in record.rois.items():
        table = region.table
        inside = (table["t_mid"] >= ec["t"][0]) & (table["t_mid"] <= ec["t"][-1])
        assert inside.sum() >= len(table["t_mid"]) - 2, name
        for column in ("E_we", "I", "Q"):
            expected = np.interp(table["t_mid"][inside], ec["t"], ec[column])
            np.testing.assert_allclose(table[column][inside], expected, rtol=1e-9, atol=1e-12)


def test_the_particle_is_imaged_every_20_percent_of_state_of_charge(thesis) -> None:  # noqa: ANN001
    _, _, _, _, _, record = thesis
    particle = record.rois["particle"]
    labels = [particle.trigger_labels[c] for c in particle.table["trigger"]]
    by_soc = np.array([label == "every 20 % SOC" for label in labels])
    soc, step = particle.table["soc"][by_soc], particle.table["step"][by_soc]
    # SOC counts charge against NMC622's theoretical 276.6 mAh/g; the simulated cell, like the thesis's,
    # delivers about two thirds of it: 20, 40, 60 % on charge, then 60 and 40 % again on discharge.
    levels = np.round(soc / 0.2) * 0.2
    assert np.all(np.abs(soc - levels) < 0.01)
    charging, discharging = levels[step < 3], levels[step == 4]
    assert charging.tolist() == pytest.approx([0.2, 0.4, 0.6])
    assert discharging[:2].tolist() == pytest.approx([0.6, 0.4])
    # and once at the end of the hold, the most delithiated state (widest cracks, the NMC/LPS gap)
    assert labels.count("step end of charge hold") == 1


def test_the_beam_is_blanked_whenever_no_frame_is_taken(thesis) -> None:  # noqa: ANN001
    _, _, rig, blanking, end, record = thesis
    scans = [(f.t_start, f.t_end) for f in rig.sem.frames]
    unblanked = blanking.unblanked_intervals(end)
    assert len(unblanked) == len(scans) == sum(len(r) for r in record.rois.values())
    for (on, off), (start, stop) in zip(unblanked, scans, strict=True):
        assert on <= start + 1e-9 and stop <= off <= stop + 1.3
    total_unblanked = sum(off - on for on, off in unblanked)
    assert total_unblanked < 3.0 * len(scans)  # seconds a frame, out of 67 h
    assert blanking.changes[-1][1] is True


def test_cycling_is_never_held_up_by_imaging(thesis) -> None:  # noqa: ANN001
    _, _, _, _, _, record = thesis
    ec = record.electrochem
    # The protocol records a point a minute (and on 5 mV changes): no step has a longer gap, frames or not.
    for step in np.unique(ec["step"]):
        t = ec["t"][ec["step"] == step]
        if len(t) > 1:
            assert np.max(np.diff(t)) <= 60.0 + 0.01  # the device clock's rounding


def test_dose_is_current_times_dwell_over_pixel_area(thesis) -> None:  # noqa: ANN001
    plan, _, _, _, _, record = thesis
    for region in plan.imaging.regions:
        table = record.rois[region.name].table
        by_hand = 2e-9 * 800e-9 / ELEMENTARY_CHARGE / region.pixel_size**2  # e-/m^2 per scan
        np.testing.assert_allclose(table["frame_dose"], by_hand * table["attempts"], rtol=1e-3)
        np.testing.assert_allclose(table["cumulative_dose"][-1], table["frame_dose"].sum(), rtol=1e-12)
    # The thesis's figures: 5.5 e-/nm^2 a frame at 42.5 nm, 56 e-/nm^2 at 13.3 nm.
    wide, particle = record.rois["wide"].table, record.rois["particle"].table
    assert wide["frame_dose"][0] * 1e-18 == pytest.approx(5.5, rel=0.03)
    assert particle["frame_dose"][0] * 1e-18 == pytest.approx(56.5, rel=0.03)


def test_a_microscope_fault_mid_run_costs_frames_not_points(tmp_path: Path) -> None:
    plan = thesis_plan()  # the wide field only, over the rest and the charge (38 h)
    wide = replace(plan.imaging, regions=plan.imaging.regions[:1])
    plan = replace(plan, steps=plan.steps[:2], imaging=wide)

    async def fail_grabs(rig, experiment) -> None:  # noqa: ANN001
        await asyncio.sleep(9.5 * HOUR)
        rig.sem.faults.fail_grabs(3 * 3)  # three frames' worth of 1016s (each frame tries three scans)

    result, rig, blanking, _ = run(plan, tmp_path / "fault.h5", during=fail_grabs)
    assert result.status is ExperimentState.COMPLETED
    record = read_experiment(result.path)
    faults = [f for f in record.events_of("fault") if "frame lost" in f["message"]]
    assert [round(f["t"] / HOUR) for f in faults] == [10, 12, 14]
    # SmartSEM's own code reaches the record (docs/drivers: API_E_GRAB_FAIL = 1016)
    assert [(f["code"], f["name"]) for f in faults] == [(1016, "API_E_GRAB_FAIL")] * 3
    assert record.events_of("region_suspended")[0]["region"] == "wide"
    t = record.rois["wide"].table["t_requested"]
    assert not np.any((t > 9.5 * HOUR) & (t < 14.5 * HOUR))
    assert np.any(t > 16 * HOUR)  # imaging came back after the rest
    ec = record.electrochem
    assert np.max(np.diff(ec["t"][ec["step"] == 1])) <= 60.0 + 0.01
    assert blanking.changes[-1][1] is True
