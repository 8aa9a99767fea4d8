"""Bad imaging settings are refused before anything moves, each naming the field, the value and the line."""

import pytest

from operando.errors import ProtocolError, QuantityError
from operando.protocol import loads_protocol, resolve
from operando.units import parse_quantity
from tests.protocol.imaging_cases import WIDE, protocol

CHARGE = """
[[steps]]
name = "charge"
technique = "cccv"
current = "C/10"
until.voltage = "4.3 V vs Li"
hold.current_fraction = 0.2

[[steps]]
name = "discharge"
technique = "constant_current"
current = "D/10"
until.voltage = "3.0 V vs Li"
"""


def refused(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        resolve(loads_protocol(text, source_path="bad.toml"))
    return caught.value


def problem_at(error: ProtocolError, path: str) -> str:
    for where, message, value in error.problems:
        if where == path:
            return f"{message} (got {value!r})" if value is not None else message
    raise AssertionError(f"no problem at {path}; problems: {error.problems}")


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def wide(old: str, new: str) -> str:
    assert old in WIDE
    return protocol(regions=WIDE.replace(old, new))


def test_unknown_detector_lists_the_known_ones() -> None:
    text = wide('detectors = ["SE2", "ESB"]', 'detectors = ["SE2", "BSD"]')
    message = problem_at(refused(text), "imaging.regions[0].detectors[1]")
    assert "unknown detector 'BSD'; known: SE2, InLens, ESB" in message
    assert f"TOML line {line_of(text, 'BSD')}" in message


def test_a_frame_size_that_is_no_frame_store() -> None:
    message = problem_at(refused(wide('"2048x1536"', '"2000x1500"')), "imaging.regions[0].frame_size")
    assert "2000x1500 is not a frame size a Zeiss SEM scans" in message
    assert "512x384, 1024x768, 2048x1536, 3072x2304, 4096x3072" in message


def test_a_frame_size_that_cannot_be_read() -> None:
    message = problem_at(refused(wide('"2048x1536"', '"2048 by 1536"')), "imaging.regions[0].frame_size")
    assert "'width x height'" in message and "'2048 by 1536'" in message


def test_50_kilovolts_is_beyond_any_column() -> None:
    message = problem_at(refused(wide('"2 kV"', '"50 kV"')), "imaging.regions[0].accelerating_voltage")
    assert "50 kV is outside an SEM column's range (0.02-30 kV)" in message


def test_above_2_kilovolts_is_a_warning_only() -> None:
    plan = resolve(loads_protocol(wide('"2 kV"', '"5 kV"')))
    (warning,) = plan.extras["warnings"]
    assert warning.startswith("imaging.regions[0].accelerating_voltage: 5 kV is above the 1.5-2 kV")


def test_negative_dwell() -> None:
    message = problem_at(refused(wide('"800 ns"', '"-1 us"')), "imaging.regions[0].dwell")
    assert "must be positive, got '-1 us'" in message


def test_a_dwell_no_scan_generator_does() -> None:
    message = problem_at(refused(wide('"800 ns"', '"10 ns"')), "imaging.regions[0].dwell")
    assert "10 ns is outside what a Zeiss scan generator does: 50 ns (scan rate 0) to 1.638 ms" in message


def test_dwell_and_scan_rate_together() -> None:
    message = problem_at(
        refused(wide('dwell = "800 ns"', 'dwell = "800 ns"\nscan_rate = 4')), "imaging.regions[0].dwell"
    )
    assert "give either dwell" in message


def test_a_dose_without_its_unit() -> None:
    for written in ('"1000"', "1000"):
        text = wide('probe_current = "2 nA"', f'probe_current = "2 nA"\ndose_budget = {written}')
        message = problem_at(refused(text), "imaging.regions[0].dose_budget")
        assert "has no unit" in message and "'1000 e-/nm^2'" in message
    with pytest.raises(QuantityError, match="has no unit"):
        parse_quantity("1000", "dose")
    assert parse_quantity("1000 e-/nm^2", "dose") == pytest.approx(1e21)


def test_an_unknown_step_in_step_start_lists_the_plans_steps() -> None:
    text = protocol(steps=CHARGE, regions=WIDE.replace('{ every = "2 h" }', '{ step_start = "hold" }'))
    message = problem_at(refused(text), "imaging.regions[0].triggers[0].step_start")
    assert "no step or technique label is called 'hold'" in message
    assert "the plan's steps: charge, charge hold, discharge; technique labels: GCPL, CP" in message
    assert f"TOML line {line_of(text, 'step_start')}" in message


def test_a_probe_current_above_the_operando_ceiling_needs_it_raised() -> None:
    message = problem_at(refused(wide('"2 nA"', '"5 nA"')), "imaging.regions[0].probe_current")
    assert "5 nA is above imaging.max_probe_current 2 nA" in message
    assert "raise imaging.max_probe_current" in message
    raised = protocol(regions=WIDE.replace('"2 nA"', '"5 nA"'), imaging='max_probe_current = "5 nA"')
    assert resolve(loads_protocol(raised)).imaging.regions[0].probe_current == pytest.approx(5e-9)


def test_a_probe_current_no_column_delivers() -> None:
    text = protocol(regions=WIDE.replace('"2 nA"', '"200 nA"'), imaging='max_probe_current = "200 nA"')
    error = refused(text)
    assert "200 nA: no SEM column delivers above 100 nA" in problem_at(error, "imaging.max_probe_current")
    assert "200 nA: no SEM column delivers above 100 nA" in problem_at(
        error, "imaging.regions[0].probe_current"
    )


def test_pixel_size_and_field_of_view_together() -> None:
    text = wide('pixel_size = "42.5 nm"', 'pixel_size = "42.5 nm"\nfield_of_view = "87 um"')
    assert "give either pixel_size or field_of_view" in problem_at(
        refused(text), "imaging.regions[0].pixel_size"
    )


def test_a_stage_position_in_metres_instead_of_millimetres() -> None:
    text = wide(
        "pixel_size", 'stage_position = { x = "12 m", y = "3 mm", z = "5 mm", tilt = "54 deg" }\npixel_size'
    )
    message = problem_at(refused(text), "imaging.regions[0].stage_position.x")
    assert "12 m is beyond any SEM stage's travel (did you mean mm?)" in message


def test_a_stage_tilt_without_its_unit() -> None:
    text = wide(
        "pixel_size", 'stage_position = { x = "1 mm", y = "3 mm", z = "5 mm", tilt = "54" }\npixel_size'
    )
    message = problem_at(refused(text), "imaging.regions[0].stage_position.tilt")
    assert "'54' is not an angle; write it with its unit, e.g. '54 deg'" in message


def test_a_stage_position_that_is_neither_current_nor_a_table() -> None:
    message = problem_at(
        refused(wide("pixel_size", 'stage_position = "here"\npixel_size')),
        "imaging.regions[0].stage_position",
    )
    assert "write 'current'" in message and "'here'" in message


def test_a_trigger_with_two_kinds_or_none() -> None:
    text = wide('{ every = "2 h" }', '{ every = "2 h", soc_step = "5 %" }, { direction = "rising" }')
    error = refused(text)
    assert "a trigger has exactly one of every, soc_step" in problem_at(
        error, "imaging.regions[0].triggers[0]"
    )
    assert "this one has every, soc_step" in problem_at(error, "imaging.regions[0].triggers[0]")
    assert "a trigger has exactly one of" in problem_at(error, "imaging.regions[0].triggers[1]")


def test_a_direction_on_a_trigger_that_is_not_a_voltage() -> None:
    message = problem_at(
        refused(wide('{ every = "2 h" }', '{ every = "2 h", direction = "rising" }')),
        "imaging.regions[0].triggers[0].direction",
    )
    assert "only a voltage trigger has a direction" in message


def test_a_voltage_level_outside_the_safety_window_can_never_be_crossed() -> None:
    message = problem_at(
        refused(wide('{ every = "2 h" }', '{ voltage = "4.5 V vs Li" }')),
        "imaging.regions[0].triggers[0].voltage",
    )
    assert "4.5 V vs Li is 3.88 V as measured (vs Li-In), outside the safety window 0.38..3.78 V" in message


def test_a_state_of_charge_trigger_needs_a_capacity() -> None:
    text = protocol(regions=WIDE.replace('{ every = "2 h" }', '{ soc_step = "5 %" }')).replace(
        'active_mass = "3.2549 mg"', ""
    )
    message = problem_at(refused(text), "imaging.regions[0].triggers[0].soc_step")
    assert "a state-of-charge trigger needs the cell's capacity" in message


def test_a_minimum_interval_shorter_than_a_frame() -> None:
    # 2048 x 1536 px x 800 ns x 1.1 + 0.08 s = 2.85 s, plus 0.5 s settling
    message = problem_at(
        refused(wide("triggers", 'min_interval = "3 s"\ntriggers')), "imaging.regions[0].min_interval"
    )
    assert "3 s is shorter than one acquisition: a frame takes 2.85 s to scan (+0.5 s settling)" in message


def test_every_faster_than_a_frame() -> None:
    message = problem_at(refused(wide('"2 h"', '"2 s"')), "imaging.regions[0].triggers[0].every")
    assert "every 2 s cannot keep up" in message


def test_a_first_frame_over_the_dose_budget() -> None:
    # 2 nA x 800 ns / e / (42.5 nm)^2 = 5.53 e-/nm^2 per frame
    text = wide("triggers", 'dose_budget = "5 e-/nm^2"\ntriggers')
    message = problem_at(refused(text), "imaging.regions[0].dose_budget")
    assert "5 e-/nm^2 is spent by the first frame (5.529 e-/nm^2 each)" in message


def test_a_budget_the_triggers_would_exceed_needs_a_policy() -> None:
    # every 2 h over 10 h: 5 frames of 5.53 = 27.6 e-/nm^2 > 20
    text = wide("triggers", 'dose_budget = "20 e-/nm^2"\ntriggers')
    message = problem_at(refused(text), "imaging.regions[0].dose_budget")
    assert "over its budget of 20 e-/nm^2 after 3 frames of 5.529 e-/nm^2, about 6 h into the run" in message
    assert "on_budget_exceeded = 'skip'" in message
    accepted = resolve(loads_protocol(text.replace("triggers", 'on_budget_exceeded = "skip"\ntriggers', 1)))
    (warning,) = accepted.extras["warnings"]
    assert "imaging.regions[0].dose_budget" in warning and "2 later trigger(s) skipped" in warning


def test_region_names_are_unique_and_fit_a_file_and_a_topic() -> None:
    error = refused(protocol(regions=WIDE + WIDE))
    message = problem_at(error, "imaging.regions[1].name")
    assert "another region has this name" in message and "(got 'wide')" in message
    error = refused(protocol(regions=WIDE.replace('name = "wide"', 'name = "a/b"')))
    assert "'a/b': a region name is 1-64 letters, digits" in problem_at(error, "imaging.regions[0].name")


def test_a_misspelt_field_gets_a_suggestion() -> None:
    message = problem_at(refused(wide("pixel_size", "pixelsize")), "imaging.regions[0].pixelsize")
    assert "unknown field 'pixelsize' (did you mean 'pixel_size'?)" in message


def test_missing_beam_settings_are_named() -> None:
    error = refused(wide('probe_current = "2 nA"\n', ""))
    assert "missing" in problem_at(error, "imaging.regions[0].probe_current")


def test_no_triggers_and_no_regions() -> None:
    assert "at least 1 item" in problem_at(
        refused(wide('[{ every = "2 h" }]', "[]")), "imaging.regions[0].triggers"
    )
    text = protocol(regions="regions = []")
    assert "at least 1 item" in problem_at(refused(text), "imaging.regions")


def test_manual_false_is_no_trigger() -> None:
    message = problem_at(
        refused(wide('{ every = "2 h" }', "{ manual = false }")), "imaging.regions[0].triggers[0].manual"
    )
    assert "false is no trigger" in message


def test_negative_waits() -> None:
    text = wide("triggers", 'min_interval = "-5 min"\nsettle_time = "-1 s"\ntriggers')
    error = refused(text)
    assert "must not be negative, got -300 s" in problem_at(error, "imaging.regions[0].min_interval")
    assert "must not be negative, got -1 s" in problem_at(error, "imaging.regions[0].settle_time")


def test_tracking_settings_are_checked() -> None:
    table = """
[imaging.regions.tracking]
detector = "InLens"
tracking_frame_size = "500x400"
confidence_threshold = 1.5
sharpness = 2
"""
    error = refused(protocol(regions=WIDE + table))
    assert "unknown field 'sharpness'" in problem_at(error, "imaging.regions[0].tracking.sharpness")
    assert "500x400 is not a frame size" in problem_at(
        error, "imaging.regions[0].tracking.tracking_frame_size"
    )
    assert "less than 1" in problem_at(error, "imaging.regions[0].tracking.confidence_threshold")
    error = refused(protocol(regions=WIDE + '[imaging.regions.tracking]\ndetector = "InLens"\n'))
    message = problem_at(error, "imaging.regions[0].tracking.detector")
    assert "the region records SE2, ESB: track on one of them" in message and "'InLens'" in message
