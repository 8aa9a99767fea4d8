"""`operando check`'s imaging estimates against frame counts, doses and sizes worked out by hand."""

import json
from pathlib import Path

import pytest

from operando.cli import main
from operando.ocv import curve_for
from operando.protocol import estimate_imaging, load_protocol, loads_protocol, resolve
from operando.protocol.estimates import ImagingEstimate
from tests.protocol.imaging_cases import LCO_VS_LI, WIDE, protocol

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"
HOUR = 3600.0
# 2048 x 1536 px at 800 ns, 10 % line flyback, 0.08 s per frame
FRAME_TIME = 2048 * 1536 * 800e-9 * 1.1 + 0.08  # 2.848 s
SETTLE = 0.5  # s, the default
IMAGE_BYTES = 2048 * 1536 * 2  # one detector, uint16

CHARGE_DISCHARGE = """
[[steps]]
name = "charge"
technique = "constant_current"
current = "C/10"                 # 90 uA: 10 h for the whole capacity
until.voltage = "4.3 V vs Li"

[[steps]]
name = "discharge"
technique = "constant_current"
current = "D/10"
until.voltage = "3.0 V vs Li"
"""


def estimate(text: str) -> ImagingEstimate:
    result = estimate_imaging(resolve(loads_protocol(text)))
    assert result is not None
    return result


def triggers(*tables: str) -> str:
    return WIDE.replace('[{ every = "2 h" }]', "[" + ", ".join(tables) + "]")


def test_every_2_h_over_a_10_h_rest_fires_at_0_2_4_6_and_8_h() -> None:
    # t = 0 fires (a reference frame before anything changes); t = 10 h is the end of the run, which only a
    # step_end trigger images.
    (wide,) = estimate(protocol()).regions
    assert wide.fired == (5,)
    assert wide.frames == 5
    assert wide.frame_times == pytest.approx(
        [hours * HOUR + SETTLE + FRAME_TIME / 2 for hours in (0, 2, 4, 6, 8)]
    )


def test_adding_the_step_end_images_the_end_of_the_run() -> None:
    (wide,) = estimate(protocol(regions=triggers('{ every = "2 h" }', "{ step_end = true }"))).regions
    assert wide.fired == (5, 1) and wide.frames == 6
    assert wide.frame_times[-1] == pytest.approx(10 * HOUR + SETTLE + FRAME_TIME / 2)


def test_a_step_start_at_t0_is_coalesced_with_the_first_every() -> None:
    (wide,) = estimate(protocol(regions=triggers('{ every = "2 h" }', '{ step_start = "rest" }'))).regions
    assert wide.fired == (5, 1) and wide.frames == 5 and wide.coalesced == 1


def test_the_minimum_interval_skips_triggers_too_close_to_the_last_frame() -> None:
    # every 10 min over 1 h: 0, 10, 20, 30, 40, 50 min; 15 min apart at least: 0, 20, 40 are taken
    steps = '[[steps]]\ntechnique = "rest"\nduration = "1 h"\n'
    text = protocol(
        steps=steps,
        regions=triggers('{ every = "10 min" }').replace("triggers", 'min_interval = "15 min"\ntriggers'),
    )
    (wide,) = estimate(text).regions
    assert (wide.frames, wide.skipped_min_interval) == (3, 3)
    assert wide.frame_times == pytest.approx(
        [minutes * 60 + SETTLE + FRAME_TIME / 2 for minutes in (0, 20, 40)]
    )


def test_every_5_percent_of_state_of_charge_on_charge_and_discharge() -> None:
    # NMC622 to 4.3 V vs Li: 0 -> 64 % SOC (12 levels, 5 % .. 60 %), then back to 0 (60 % .. 5 % again; 0 % is
    # where it ends, not a level it falls below). C/10 moves 5 % SOC in 30 min.
    (wide,) = estimate(protocol(steps=CHARGE_DISCHARGE, regions=triggers('{ soc_step = "5 %" }'))).regions
    assert wide.fired == (24,)
    assert wide.frames == 24
    top = curve_for("NMC622").soc_at(4.3)
    charge_end = top * 10 * HOUR
    on_charge = [level * 0.05 * 10 * HOUR for level in range(1, 13)]
    on_discharge = [charge_end + (top - level * 0.05) * 10 * HOUR for level in range(12, 0, -1)]
    delay = SETTLE + FRAME_TIME / 2
    assert wide.frame_times == pytest.approx([t + delay for t in on_charge + on_discharge], rel=1e-6)


def test_every_charge_step_counts_what_passes_either_way() -> None:
    # 10 uA for 10 h, rest 1 h, -10 uA for 5 h: 100 then 50 uAh pass; every 20 uAh: at 2, 4, 6, 8, 10 h,
    # then at 120 and 140 uAh, 2 h and 4 h into the discharge (13 h and 15 h)
    steps = """
[[steps]]
technique = "constant_current"
current = "10 uA"
until.time = "10 h"

[[steps]]
technique = "rest"
duration = "1 h"

[[steps]]
technique = "constant_current"
current = "-10 uA"
until.time = "5 h"
"""
    (wide,) = estimate(protocol(steps=steps, regions=triggers('{ charge_step = "20 uAh" }'))).regions
    assert wide.frames == 7
    hours = [2, 4, 6, 8, 10, 13, 15]
    assert wide.frame_times == pytest.approx([h * HOUR + SETTLE + FRAME_TIME / 2 for h in hours])


def test_voltage_crossings_follow_the_reference_ocv_in_the_direction_asked() -> None:
    # 4.0 V vs Li is reached on charge at the SOC where NMC622's OCV is 4.0 V, and passed again on discharge
    soc = curve_for("NMC622").soc_at(4.0)
    top = curve_for("NMC622").soc_at(4.3)
    rising = soc * 10 * HOUR
    falling = top * 10 * HOUR + (top - soc) * 10 * HOUR
    delay = SETTLE + FRAME_TIME / 2
    for direction, times in (("rising", [rising]), ("falling", [falling]), ("either", [rising, falling])):
        table = f'{{ voltage = "4.0 V vs Li", direction = "{direction}" }}'
        (wide,) = estimate(protocol(steps=CHARGE_DISCHARGE, regions=triggers(table))).regions
        # the estimate follows the curve in 0.5 % SOC chords: within a second of the exact crossing
        assert wide.frame_times == pytest.approx([t + delay for t in times], abs=1.0), direction


def test_a_level_the_plan_never_reaches_fires_never_and_says_so() -> None:
    plan = resolve(
        loads_protocol(protocol(steps=CHARGE_DISCHARGE, regions=triggers('{ voltage = "4.35 V vs Li" }')))
    )
    assert estimate_imaging(plan).regions[0].fired == (0,)
    assert any(
        "not expected to fire" in warning and "triggers[0]" in warning for warning in plan.extras["warnings"]
    )


def test_step_boundaries_by_name_and_by_label() -> None:
    steps = CHARGE_DISCHARGE.replace('technique = "constant_current"', 'technique = "cccv"', 1).replace(
        'until.voltage = "4.3 V vs Li"', 'until.voltage = "4.3 V vs Li"\nhold.time = "1 h"'
    )
    end_of_charge = curve_for("NMC622").soc_at(4.3) * 10 * HOUR
    (wide,) = estimate(protocol(steps=steps, regions=triggers('{ step_end = "charge" }'))).regions
    assert wide.frame_times == pytest.approx([end_of_charge + SETTLE + FRAME_TIME / 2], rel=1e-6)
    (wide,) = estimate(protocol(steps=steps, regions=triggers('{ step_start = "GCPL" }'))).regions
    assert wide.fired == (2,)  # the constant current and its hold are both GCPL
    (wide,) = estimate(protocol(steps=steps, regions=triggers("{ step_end = true }"))).regions
    assert wide.fired == (3,)


def test_manual_triggers_are_not_estimated() -> None:
    (wide,) = estimate(protocol(regions=triggers('{ every = "2 h" }', "{ manual = true }"))).regions
    assert wide.fired == (5, None)


def test_dose_budget_skip_and_stop() -> None:
    # 13.3 nm pixels: 2 nA x 800 ns / e = 9986 electrons per pixel on 176.89 nm^2 = 56.45 e-/nm^2 per frame.
    # Budget 500: 8 frames (451.6), the 9th would make 508. Every hour over 20 h: 20 triggers.
    frame_dose = 2e-9 * 800e-9 / 1.602176634e-19 / 13.3**2
    assert frame_dose == pytest.approx(56.45, rel=1e-3)
    steps = '[[steps]]\ntechnique = "rest"\nduration = "20 h"\n'
    for policy in ("skip", "stop_region"):
        regions = triggers('{ every = "1 h" }').replace('"42.5 nm"', '"13.3 nm"')
        regions = regions.replace(
            "triggers", f'dose_budget = "500 e-/nm^2"\non_budget_exceeded = "{policy}"\ntriggers'
        )
        plan = resolve(loads_protocol(protocol(steps=steps, regions=regions)))
        (wide,) = estimate_imaging(plan).regions
        assert wide.frames == 8 and wide.skipped_budget == 12
        assert wide.frame_dose * 1e-18 == pytest.approx(frame_dose, rel=1e-6)
        assert wide.total_dose * 1e-18 == pytest.approx(8 * frame_dose, rel=1e-6)
        assert wide.budget_reached_at == pytest.approx(8 * HOUR)
        (warning,) = plan.extras["warnings"]
        assert f"after 8 frames of {frame_dose:.4g} e-/nm^2, about 8 h into the run, at 0 % SOC" in warning
        assert ("12 later trigger(s) skipped" if policy == "skip" else "refused: the region stops") in warning


def test_disk_size_by_hand() -> None:
    # 5 frames x 2 detectors x 2048 x 1536 px x 2 B = 62.9 MB, plus 320 B of table row and, tracked, a
    # (2, 24, 32) float32 displacement field (6144 B) per frame
    (tracked,) = estimate(protocol()).regions
    assert tracked.disk_bytes == 5 * (2 * IMAGE_BYTES + 320 + 2 * 24 * 32 * 4)
    untracked_text = protocol(regions=WIDE + "\n[imaging.regions.tracking]\nenabled = false\n")
    (untracked,) = estimate(untracked_text).regions
    assert untracked.disk_bytes == 5 * (2 * IMAGE_BYTES + 320)


def test_two_regions_share_one_microscope() -> None:
    # both due at t = 0: the second region waits for the first to settle and scan
    second = WIDE.replace('name = "wide"', 'name = "second"')
    first_region, second_region = estimate(protocol(regions=WIDE + second)).regions
    assert first_region.frame_times[0] == pytest.approx(SETTLE + FRAME_TIME / 2)
    assert second_region.frame_times[0] == pytest.approx(SETTLE + FRAME_TIME + SETTLE + FRAME_TIME / 2)
    assert second_region.frames == 5


def test_totals_and_acquisition_time() -> None:
    result = estimate(protocol())
    assert result.frames == 5
    assert result.acquisition_time == pytest.approx(5 * (SETTLE + FRAME_TIME))
    assert result.disk_bytes == result.regions[0].disk_bytes
    assert result.duration == pytest.approx(10 * HOUR)


def test_check_prints_the_imaging_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert (
        "wide: 2048x1536 px of 42.5 nm (87.04 x 65.28 um), SE2 + ESB, 2 kV, 2 nA, dwell 800 ns (scan rate 4)"
        in out
    )
    assert "triggers: every 2 h (40x); end of every step (5x)" in out
    # 2 nA x 800 ns / (e x (42.5 nm)^2) per science frame; one 512 x 384 tracking frame over the same 87 um
    # field (170 nm pixels) at 100 ns adds 2 nA x 100 ns / (e x (170 nm)^2).
    assert "dose: 5.529 e-/nm^2 + 0.04319 e-/nm^2 of tracking frames per frame" in out
    assert "every 5 % SOC (24x); end of 'charge hold' (1x); on request (not estimated)" in out
    assert "% of the budget 2000 e-/nm^2" in out
    assert "imaging in all: 70 frames" in out


def test_check_json_holds_the_imaging_plan_and_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--json"]) == 0
    imaging = json.loads(capsys.readouterr().out)["plan"]["imaging"]
    wide, particle = imaging["plan"]["regions"]
    assert wide["pixel_size"] == pytest.approx(42.5e-9) and particle["dose_budget"] == pytest.approx(2000e18)
    assert imaging["estimate"]["frames"] == 70
    regions = imaging["estimate"]["regions"]
    assert [region["frames"] for region in regions] == [45, 25]
    assert regions[1]["fired"] == [24, 1, None]
    assert len(regions[0]["frame_times"]) == 45


def test_the_thesis_plan_in_figures() -> None:
    plan = resolve(load_protocol(EXAMPLE))
    wide, particle = estimate_imaging(plan).regions
    # every 2 h over the 79.8 h estimate: 40; end of OCV, charge, hold, rest, discharge: 5
    assert wide.frames == 45
    # 12 levels on charge, 12 on discharge, the end of the hold
    assert particle.frames == 25
    assert particle.total_dose < particle.dose_budget


def test_voltage_crossings_along_a_cyclic_voltammetry_sweep() -> None:
    # 3.5 -> 4.0 -> 3.0 -> 3.5 V at 1 mV/s: legs of 500, 1000 and 500 s. 3.75 V is passed rising at 250 s and
    # falling at 500 + 250 s. A sweep's voltages are known without an OCV curve (LCO has none).
    steps = """
[[steps]]
technique = "cyclic_voltammetry"
start = "3.5 V"
vertices = ["4.0 V", "3.0 V"]
scan_rate = "1 mV/s"
"""
    text = protocol(steps=steps, regions=triggers('{ voltage = "3.75 V" }'), cell=LCO_VS_LI)
    (wide,) = estimate(text).regions
    assert wide.frame_times == pytest.approx([t + SETTLE + FRAME_TIME / 2 for t in (250.0, 750.0)])


def test_voltage_triggers_are_not_estimated_without_a_reference_curve() -> None:
    # LCO has no reference OCV: a charge to 4.2 V takes the whole capacity (10 h at C/10), voltage unknown
    steps = '[[steps]]\ntechnique = "constant_current"\ncurrent = "C/10"\nuntil.voltage = "4.2 V"\n'
    text = protocol(
        steps=steps, regions=triggers('{ voltage = "4.0 V" }', '{ every = "30 min" }'), cell=LCO_VS_LI
    )
    (wide,) = estimate(text).regions
    assert wide.fired == (None, 20)


def test_tracking_frames_cost_time_and_dose() -> None:
    # 2 tracking frames of 512 x 384 px at 100 ns over the wide field (87.04 um / 512 = 170 nm pixels) before
    # each frame: 0.1016 s and 2 nA x 100 ns / e / (170 nm)^2 = 0.0432 e-/nm^2 each
    table = """
[imaging.regions.tracking]
tracking_frames = 2
tracking_frame_size = "512x384"
tracking_dwell = "100 ns"
"""
    (wide,) = estimate(protocol(regions=WIDE + table)).regions
    tracking_time = 100e-9 * 512 * 384 * 1.1 + 0.08
    tracking_dose = 2e-9 * 100e-9 / 1.602176634e-19 / (2048 * 42.5 / 512) ** 2
    assert tracking_dose == pytest.approx(0.0432, rel=1e-3)
    assert wide.tracking_dose * 1e-18 == pytest.approx(2 * tracking_dose, rel=1e-6)
    assert wide.total_dose == pytest.approx(5 * (wide.frame_dose + wide.tracking_dose))
    assert wide.acquisition_time == pytest.approx(5 * (SETTLE + 2 * tracking_time + FRAME_TIME))
    assert wide.frame_times[0] == pytest.approx(SETTLE + 2 * tracking_time + FRAME_TIME / 2)
