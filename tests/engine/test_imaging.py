"""Imaging in the engine, on simulated time: the real Zeiss driver over the fake SmartSEM, a simulated cell.

Expectations come from outside the code under test: the plan's own numbers (every hour, step ends), the
electrochemical record interpolated here with numpy, the fake's ground truth (when it was unblanked, what
it scanned), and hand-computed doses.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from operando.engine import (
    AcquisitionSkipped,
    ExperimentState,
    Fault,
    FrameAcquired,
    RegionLost,
    RegionSuspended,
    TriggerCoalesced,
)
from operando.plan import ELEMENTARY_CHARGE, StagePosition, Trigger
from operando.roles.microscope import MicroscopeSettingError
from operando.storage import read_experiment, read_frames
from operando.techniques import ConstantCurrent, Limit, OpenCircuit, Recording
from tests.engine.imaging_rig import region, run_imaging, with_imaging
from tests.engine.plans import plan, step

HOUR = 3600.0
NM2 = 1e-18


def rest_then_charge(hours: float = 5.0) -> object:
    rec = Recording(dt=60.0)
    return plan(step(0, "rest", "OCV", OpenCircuit(duration=1800.0, recording=rec)),
                step(1, "charge", "CP", ConstantCurrent(15e-6, hours * HOUR, (), rec)))


def of(events: list, kind: type) -> list:
    return [event for event in events if isinstance(event, kind)]


@pytest.fixture(scope="module")
def hourly(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """5.5 h: a frame every hour and at the end of every step; 30 s between points while charging."""
    base = rest_then_charge()
    wide = region("wide", Trigger("every", interval=HOUR), Trigger("step_end"))
    run = run_imaging(with_imaging(base, wide), tmp_path_factory.mktemp("img") / "hourly.h5")
    return run, read_experiment(run.result.path)


def test_frames_are_taken_at_the_planned_moments(hourly) -> None:  # noqa: ANN001
    run, record = hourly
    assert run.result.status is ExperimentState.COMPLETED
    table = record.rois["wide"].table
    labels = record.rois["wide"].trigger_labels
    requested = [(labels[code], round(t))
                 for code, t in zip(table["trigger"], table["t_requested"], strict=True)]
    # every hour from 0 (t = 0 included), and the end of the 30 min rest and of the 5 h charge (at 5.5 h).
    expected = [("every 3600 s", 0), ("step end of every step", 1800), *(("every 3600 s", k * 3600)
                                                                           for k in range(1, 6))]
    assert requested[:len(expected)] == expected
    assert requested[-1][0] == "step end of every step"
    assert requested[-1][1] == pytest.approx(5.5 * HOUR, abs=120)
    # Each frame is scanned within one frame time (plus the 1 s settle) of being asked for.
    frame_time = 512 * 384 * 800e-9 * 1.1 + 0.1
    assert np.all(table["t_start"] - table["t_requested"] < 1.0 + 1.0 + frame_time)
    assert np.all(table["t_start"] >= table["t_requested"])
    assert table["index"].tolist() == list(range(len(table["index"])))


def test_each_frame_carries_the_electrochemical_state_at_its_mid_scan_time(hourly) -> None:  # noqa: ANN001
    _, record = hourly
    ec, table = record.electrochem, record.rois["wide"].table
    inside = (table["t_mid"] > ec["t"][0]) & (table["t_mid"] < ec["t"][-1])
    assert inside.sum() >= 6
    for name in ("E_we", "I", "Q", "soc"):
        expected = np.interp(table["t_mid"][inside], ec["t"], ec[name])
        np.testing.assert_allclose(table[name][inside], expected, rtol=1e-9, atol=1e-12)
    assert np.all(table["ec_source"][inside] == 0)  # interpolated between two points
    charging = table["step"] == 1
    assert np.allclose(table["I"][charging & inside], 15e-6, rtol=1e-3)


def test_the_beam_is_blanked_whenever_no_frame_is_scanned(hourly) -> None:  # noqa: ANN001
    run, record = hourly
    scans = [(f.t_start, f.t_end) for f in run.fake.frames]
    unblanked = run.blanking.unblanked_intervals(run.loop_end)
    assert len(unblanked) == len(record.rois["wide"]) == len(scans)
    for (on, off), (start, end) in zip(unblanked, scans, strict=True):
        # Unblanked just before the scan starts and blanked once SmartSEM reports the frame frozen: the
        # driver waits the frame time + 0.3 s, then polls DP_FROZEN every 0.1 s.
        assert on <= start + 1e-9 and end <= off <= end + 0.3 + 0.8 + 0.2
    assert run.blanking.changes[-1][1] is True  # the last thing SmartSEM was told: blank
    # Dose ground truth: the fake's dose map got exactly the scans (no park dose, no dose while settling).
    assert not any(f.settings["scan"].blanked for f in run.fake.frames)


def test_imaging_never_delays_the_cycling(hourly) -> None:  # noqa: ANN001
    _, record = hourly
    ec = record.electrochem
    for number in (0, 1):
        t = ec["t"][ec["step"] == number]
        assert np.max(np.diff(t)) <= 60.0 + 1e-6  # the recording interval, frames or not
    assert len(ec["t"]) == pytest.approx((1800 + 5 * 3600) / 60, abs=2)


def test_frame_dose_is_current_times_dwell_over_pixel_area(hourly) -> None:  # noqa: ANN001
    _, record = hourly
    table = record.rois["wide"].table
    # 2 nA x 800 ns / e = 9986 electrons per pixel, over (170 nm)^2: 0.3457 e-/nm^2 per frame.
    by_hand = 2e-9 * 800e-9 / ELEMENTARY_CHARGE / 170.0**2  # e-/nm^2
    assert by_hand == pytest.approx(0.3457, rel=1e-3)
    np.testing.assert_allclose(table["frame_dose"] * NM2, by_hand * table["attempts"], rtol=1e-3)
    np.testing.assert_allclose(table["cumulative_dose"], np.cumsum(table["frame_dose"]), rtol=1e-12)
    assert np.allclose(table["pixel_size"], 170e-9, rtol=1e-3)
    assert np.allclose(table["probe_current"], 2e-9)


def test_the_pixels_in_the_file_are_the_microscopes(hourly) -> None:  # noqa: ANN001
    run, record = hourly
    wide = record.rois["wide"]
    assert wide.detectors == ("SE2", "ESB") and wide.frame_shape == (2, 384, 512)
    record_path = run.result.path
    last = read_frames(record_path, "wide", -1)
    grabbed = {g.detector: g for g in run.fake.grabs[-2:]}
    assert set(grabbed) == {"SE2", "ESB"}
    assert last.dtype == np.uint16 and last.shape == (2, 384, 512)
    assert not np.array_equal(last[0], last[1])  # two detectors, two images
    frames = [e for e in run.events if isinstance(e, FrameAcquired)]
    assert frames[-1].thumbnail.dtype == np.uint8 and max(frames[-1].thumbnail.shape) <= 256
    np.testing.assert_array_equal(frames[-1].images, last)
    assert read_frames(record_path, "wide").shape[0] == len(wide)


def test_triggers_during_an_acquisition_are_coalesced(tmp_path: Path) -> None:
    base = rest_then_charge(hours=1.0)
    wide = region("wide", Trigger("every", interval=HOUR), Trigger("manual"))

    async def ask_twice(experiment, fake) -> None:  # noqa: ANN001
        import asyncio

        await asyncio.sleep(600.0)
        experiment.request_acquisition("wide", author="ana")
        await asyncio.sleep(0.5)  # the first request is still settling / scanning
        experiment.request_acquisition(author="ana")

    run = run_imaging(with_imaging(base, wide), tmp_path / "c.h5", during=ask_twice)
    coalesced = of(run.events, TriggerCoalesced)
    assert [(e.region, e.trigger) for e in coalesced] == [("wide", "on request")]
    record = read_experiment(run.result.path)
    table = record.rois["wide"].table
    assert [record.rois["wide"].trigger_labels[c] for c in table["trigger"]].count("on request") == 1
    assert any(note["author"] == "ana" for note in record.events_of("note"))


def test_min_interval_skips_a_trigger_too_soon_after_a_frame(tmp_path: Path) -> None:
    base = rest_then_charge(hours=1.0)
    wide = region("wide", Trigger("every", interval=HOUR), Trigger("step_end"), min_interval=3600.0)
    run = run_imaging(with_imaging(base, wide), tmp_path / "m.h5")
    skipped = of(run.events, AcquisitionSkipped)
    # The rest ends at 30 min, 30 min after the t = 0 frame: skipped. A frame at 1 h; the charge ends 1.5 h.
    assert [round(e.t) for e in skipped][:1] == [1800] and "min_interval" in skipped[0].reason
    table = read_experiment(run.result.path).rois["wide"].table
    assert np.all(np.diff(table["t_requested"]) >= 3600.0)


@pytest.mark.parametrize("policy", ["skip", "stop_region"])
def test_dose_budget_policies(tmp_path: Path, policy: str) -> None:
    base = rest_then_charge(hours=2.0)
    frame = 2e-9 * 800e-9 / ELEMENTARY_CHARGE / (170e-9) ** 2  # e-/m^2
    # Room for three frames; a trigger every 30 min over 2.5 h asks for six.
    wide = region("wide", Trigger("every", interval=1800.0), dose_budget=3.5 * frame,
                  on_budget_exceeded=policy)
    run = run_imaging(with_imaging(base, wide), tmp_path / "b.h5")
    record = read_experiment(run.result.path)
    table = record.rois["wide"].table
    assert len(table["index"]) == 3 and table["cumulative_dose"][-1] <= 3.5 * frame
    assert run.result.status is ExperimentState.COMPLETED
    if policy == "skip":
        skipped = [e for e in of(run.events, AcquisitionSkipped) if "dose budget" in e.reason]
        assert len(skipped) == 3 and not of(run.events, RegionLost)
    else:
        [lost] = of(run.events, RegionLost)
        assert "dose budget" in lost.reason and lost.t == pytest.approx(3 * 1800.0, abs=5)
        later = [e for e in of(run.events, AcquisitionSkipped) if "no longer imaged" in e.reason]
        assert len(later) == 2


def test_a_microscope_fault_costs_frames_never_points(tmp_path: Path) -> None:
    base = rest_then_charge(hours=4.0)
    wide = region("wide", Trigger("every", interval=1800.0))

    async def break_the_microscope(experiment, fake) -> None:  # noqa: ANN001
        import asyncio

        await asyncio.sleep(1.2 * HOUR)
        fake.faults.server_exits()  # every call answers 2030 (remoting lost)
        await asyncio.sleep(1.6 * HOUR)
        fake.faults.server_returns()  # at 2.8 h

    run = run_imaging(with_imaging(base, wide), tmp_path / "f.h5", during=break_the_microscope,
                      safe_state_timeout=30.0)
    assert run.result.status is ExperimentState.COMPLETED
    record = read_experiment(run.result.path)
    ec = record.electrochem
    assert np.max(np.diff(ec["t"])) <= 60.0 + 1e-6 and ec["t"][-1] >= 4.5 * HOUR - 60
    faults = [e for e in of(run.events, Fault) if "frame lost" in e.message]
    assert len(faults) == 3  # 1.5, 2.0, 2.5 h: three in a row, then the region rests
    [suspended] = of(run.events, RegionSuspended)
    assert suspended.t == pytest.approx(2.5 * HOUR, abs=60) and suspended.retry_at == suspended.t + 600.0
    t_requested = record.rois["wide"].table["t_requested"]
    # Frames before the fault and again once the rest is over and the server is back (3.0 h on).
    assert [round(t / 1800.0) for t in t_requested] == [0, 1, 2, 6, 7, 8, 9]
    assert run.blanking.changes[-1][1] is True  # the last thing SmartSEM was told: blank


def test_pause_rests_the_cell_stops_imaging_and_resume_continues_the_step(tmp_path: Path) -> None:
    base = rest_then_charge(hours=2.0)
    wide = region("wide", Trigger("every", interval=1800.0))

    async def pause_for_an_hour(experiment, fake) -> None:  # noqa: ANN001
        import asyncio

        await asyncio.sleep(1.2 * HOUR)
        with pytest.raises(ValueError, match="not paused"):
            experiment.request_resume()
        experiment.request_pause("look at the cell", author="ana")
        with pytest.raises(ValueError, match="pausing"):
            experiment.request_pause()
        await asyncio.sleep(HOUR)
        assert experiment.state is ExperimentState.PAUSED
        with pytest.raises(ValueError, match="paused"):
            experiment.request_acquisition()
        with pytest.raises(ValueError, match="no region 'nowhere'"):
            experiment.imaging.request("nowhere")
        experiment.request_resume(author="ana")

    run = run_imaging(with_imaging(base, wide), tmp_path / "p.h5", during=pause_for_an_hour)
    assert run.result.status is ExperimentState.COMPLETED
    record = read_experiment(run.result.path)
    ec = record.electrochem
    pause_code = record.technique_labels.index("OCV (pause)")
    paused = ec["technique"] == pause_code
    # A point a minute at open circuit (the cell's noise only, nA against the 15 uA of the charge).
    assert paused.sum() == pytest.approx(60, abs=2) and np.all(np.abs(ec["I"][paused]) < 1e-8)
    charging = (ec["step"] == 1) & ~paused
    # The charge ran its full 2 h of current in two parts around the pause: 15 uA x 2 h.
    passed = ec["Q"][charging][-1] - ec["Q"][ec["step"] == 0][-1]
    assert passed == pytest.approx(15e-6 * 2 * HOUR, rel=0.02)
    ended = record.events_of("step_ended")
    assert [e["reason"] for e in ended if e["step"] == 1] == ["paused", "duration", "duration"]
    states = [e["new"] for e in record.events_of("state_changed")]
    assert states[:3] == ["running", "paused", "running"]
    t_pause = record.events_of("state_changed")[1]["t"]
    t_resume = record.events_of("state_changed")[2]["t"]
    frames = record.rois["wide"].table["t_start"]
    assert not np.any((frames > t_pause) & (frames < t_resume))
    skipped = [e for e in of(run.events, AcquisitionSkipped) if "paused" in e.reason]
    assert [round(e.t) for e in skipped] == [5400, 7200]  # 1.5 h and 2.0 h fell in the pause (1.2-2.2 h)
    assert run.result.duration == pytest.approx(0.5 * HOUR + 2 * HOUR + HOUR, abs=120)


def test_controls_refuse_what_makes_no_sense(tmp_path: Path) -> None:
    from operando.engine import Experiment
    from tests.engine.cell_potentiostat import CellPotentiostat

    base = rest_then_charge(hours=1.0)
    experiment = Experiment(base, CellPotentiostat.for_plan_cell(base.cell), tmp_path / "x.h5")
    with pytest.raises(ValueError, match="cannot pause: the experiment is idle"):
        experiment.request_pause()
    with pytest.raises(ValueError, match="no imaging plan"):
        experiment.request_acquisition()
    with pytest.raises(ValueError, match="has no microscope|but the rig has no microscope"):
        Experiment(with_imaging(base, region()), CellPotentiostat.for_plan_cell(base.cell), tmp_path / "y.h5")


@pytest.mark.parametrize(("change", "message"), [
    ({"pixel_size": 1e-3}, "region 'wide': pixel_size"),
    ({"stage_position": StagePosition(0.5, 0.045, 0.035, 0.94, 0.0)}, "region 'wide': stage_position.x"),
    ({"detectors": ("SE2", "EsB-wrong")}, "region 'wide': detectors")])
def test_a_region_the_microscope_cannot_image_is_refused_before_anything_moves(
        tmp_path: Path, change: dict, message: str) -> None:
    from tests.engine.cell_potentiostat import CellPotentiostat

    base = rest_then_charge(hours=1.0)
    cell = CellPotentiostat.for_plan_cell(base.cell)
    with pytest.raises(MicroscopeSettingError, match=message):
        run_imaging(with_imaging(base, region("wide", **change)), tmp_path / "r.h5", potentiostat=cell)
    assert not any(call.startswith("start") for call in cell.calls)  # the cell never moved
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("ending", ["safety", "potentiostat fault", "software error", "abort"])
def test_every_way_out_leaves_the_beam_blanked_and_the_file_closed(tmp_path: Path, ending: str) -> None:
    from tests.engine.cell_potentiostat import CellPotentiostat

    rec = Recording(dt=60.0)
    limits = (Limit("E_we", ">", 9.0),)
    base = plan(step(0, "charge", "CP", ConstantCurrent(15e-6, 3 * HOUR, limits, rec)))
    if ending == "safety":
        from dataclasses import replace

        base = replace(base, safety=replace(base.safety, max_duration=1.5 * HOUR))
    wide = region("wide", Trigger("every", interval=1800.0))
    fail_at = 1.2 * HOUR if ending == "potentiostat fault" else None
    cell = CellPotentiostat.for_plan_cell(base.cell, fail_at=fail_at)

    async def trouble(experiment, fake) -> None:  # noqa: ANN001
        import asyncio

        await asyncio.sleep(1800.0 + 0.5)  # in the middle of the second frame's settle
        if ending == "abort":
            experiment.request_abort("stop, please")
        elif ending == "software error":
            experiment.imaging.offer_points = None  # the next batch of points hits a bug

    run = run_imaging(with_imaging(base, wide), tmp_path / "e.h5", during=trouble, potentiostat=cell)
    expected = {"safety": "aborted", "potentiostat fault": "failed", "software error": "failed",
                "abort": "aborted"}[ending]
    assert run.result.status.value == expected
    record = read_experiment(run.result.path, swmr=False)  # closed properly
    assert record.status == expected
    assert run.blanking.changes[-1][1] is True  # the last thing SmartSEM was told: blank
    assert run.blanking.changes[-1][1] is True
    assert "safe_state" in cell.calls
    assert math.isfinite(record.rois["wide"].table["t_mid"][0])


def test_tracking_frames_count_against_the_region_dose(tmp_path: Path) -> None:
    from dataclasses import replace

    base = rest_then_charge(hours=2.0)
    wide = region("wide", Trigger("every", interval=1800.0))
    tracked = with_imaging(base, wide)
    tracked = replace(tracked, extras={**tracked.extras,
                                       "tracking": {"wide": {"enabled": True, "tracking_frames": 1}}})
    run = run_imaging(tracked, tmp_path / "t.h5")
    table = read_experiment(run.result.path).rois["wide"].table
    science = 2e-9 * 800e-9 / ELEMENTARY_CHARGE / (170e-9) ** 2  # e-/m^2 of one 512 x 384 frame at 170 nm
    # A tracking frame: 512 x 384 px over the same 87 um field (so 170 nm pixels), 100 ns dwell by default.
    tracking = 2e-9 * 100e-9 / ELEMENTARY_CHARGE / (170e-9) ** 2
    steps = np.diff(np.concatenate([[0.0], table["cumulative_dose"]]))
    extra = steps - science
    assert np.all(extra >= -1e-6 * science)
    counts = extra / tracking
    assert np.allclose(counts, np.round(counts), atol=1e-6)  # whole tracking frames, nothing else
    assert np.round(counts)[1:].min() >= 1  # from the second frame on, at least one tracking frame each
    assert table["cumulative_dose"][-1] == pytest.approx(len(steps) * science + counts.sum() * tracking)


def test_a_region_the_tracker_loses_is_reported_and_imaged_again_when_found(tmp_path: Path) -> None:
    from dataclasses import replace

    from operando.simulators.sem import DriftModel

    from operando.engine import Note

    calm = DriftModel(seed=6, thermal_amplitude_nm=(0.0, 0.0), linear_nm_per_min=(2.0, 1.0))
    # The specimen jumps 100 um along x: more than the 87 um field width, no overlap at all.
    away = DriftModel(seed=6, thermal_amplitude_nm=(100_000.0, 0.0), thermal_time_min=0.001,
                      linear_nm_per_min=(2.0, 1.0))

    async def jump_away_and_back(experiment, fake) -> None:  # noqa: ANN001
        import asyncio

        fake.drift = calm
        await asyncio.sleep(1.6 * HOUR)
        fake.drift = away
        await asyncio.sleep(1.5 * HOUR)
        fake.drift = calm

    base = rest_then_charge(hours=4.0)
    wide = region("wide", Trigger("every", interval=1200.0))
    tracked = with_imaging(base, wide)
    tracked = replace(tracked, extras={**tracked.extras, "tracking": {"wide": {
        "enabled": True, "local_fields": False, "max_failures": 3}}})
    run = run_imaging(tracked, tmp_path / "lost.h5", during=jump_away_and_back)
    assert run.result.status is ExperimentState.COMPLETED
    [lost] = of(run.events, RegionLost)
    assert "drift tracker lost" in lost.reason and 1.6 * HOUR < lost.t < 3.1 * HOUR
    found = [e for e in of(run.events, Note) if "found region 'wide' again" in e.text]
    assert len(found) == 1 and found[0].t > lost.t
    # Frames went on through the loss: one every 20 min over 4.5 h (t = 0 included, the end excluded).
    table = read_experiment(run.result.path).rois["wide"].table
    assert len(table["index"]) == 14
