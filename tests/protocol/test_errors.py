"""Bad protocols are refused before anything moves, each error naming the field path and the bad value."""

import re
from pathlib import Path

import pytest

from operando.errors import ProtocolError
from operando.protocol import load_protocol, loads_protocol, resolve

GOOD = """\
name = "test"

[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"

[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "50 uA"
duration_max = "150 h"

[[steps]]
technique = "rest"
duration = "30 min"

[[steps]]
technique = "cccv"
current = "C/60"
until.voltage = "4.3 V vs Li"
hold.current_fraction = 0.2
"""


def refused(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        resolve(loads_protocol(text, source_path="bad.toml"))
    return caught.value


def problem_at(error: ProtocolError, path: str) -> str:
    """The message of the problem at ``path``, with its value, as the researcher sees it."""
    for where, message, value in error.problems:
        if where == path:
            return f"{message} (got {value!r})" if value is not None else message
    raise AssertionError(f"no problem at {path}; problems: {error.problems}")


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_good_protocol_resolves() -> None:
    assert len(resolve(loads_protocol(GOOD)).steps) == 3


def test_unknown_technique() -> None:
    text = GOOD.replace('technique = "cccv"', 'technique = "galvanostatik"')
    error = refused(text)
    message = problem_at(error, "steps[1].technique")
    assert "unknown technique 'galvanostatik'" in message and "cccv [GCPL]" in message
    assert f"TOML line {line_of(text, 'galvanostatik')}" in message
    assert str(error).startswith("bad.toml: steps[1].technique:")


def test_ec_lab_names_are_understood() -> None:
    text = GOOD.replace('technique = "cccv"', 'technique = "GCPL"').replace(
        'technique = "rest"', 'technique = "OCV"'
    )
    assert [step.label for step in resolve(loads_protocol(text)).steps] == ["OCV", "GCPL", "GCPL"]


def test_negative_duration() -> None:
    error = refused(GOOD.replace('duration = "30 min"', 'duration = "-2 h"'))
    assert "must be positive, got '-2 h'" in problem_at(error, "steps[0].duration")


def test_missing_duration() -> None:
    error = refused(GOOD.replace('duration = "30 min"\n', ""))
    assert "missing" in problem_at(error, "steps[0].duration")


def test_c_rate_without_active_mass() -> None:
    error = refused(GOOD.replace('active_mass = "3.2549 mg"\n', ""))
    message = problem_at(error, "steps[1].current")
    assert "'C/60'" in message and "active_mass" in message


def test_wrong_unit_dimension() -> None:
    error = refused(GOOD.replace('current = "C/60"', 'current = "15 V"'))
    message = problem_at(error, "steps[1].current")
    assert "'15 V'" in message and "a voltage" in message and "current" in message


def test_a_stop_outside_the_safety_window() -> None:
    error = refused(GOOD.replace('until.voltage = "4.3 V vs Li"', 'until.voltage = "4.5 V vs Li"'))
    message = problem_at(error, "steps[1].until.voltage")
    assert "4.5 V vs Li" in message and "3.88 V" in message and "outside the safety window" in message


def test_a_current_above_the_safety_limit() -> None:
    error = refused(GOOD.replace('current = "C/60"', 'current = "2C"'))
    message = problem_at(error, "steps[1].current")
    assert "2C" in message and "1.8 mA" in message and "safety.current_max" in message


def test_malformed_toml_gives_its_line() -> None:
    text = GOOD.replace('duration = "30 min"', "duration = 30 min")
    error = refused(text)
    assert re.search(rf"malformed TOML on TOML line {line_of(text, 'duration = 30 min')}\b", str(error))
    assert str(error).startswith("bad.toml: ")


def test_a_misspelt_field_is_refused_with_a_suggestion() -> None:
    error = refused(GOOD.replace("until.voltage", "until.voltag"))
    assert "unknown field 'voltag' (did you mean 'voltage'?)" in problem_at(error, "steps[1].until.voltag")


def test_safety_limits_are_mandatory() -> None:
    text = GOOD.replace('current_max = "50 uA"\n', "")
    assert "missing" in problem_at(refused(text), "safety.current_max")
    no_safety = GOOD.split("[safety]")[0] + "[[steps]]" + GOOD.split("[[steps]]", 1)[1]
    assert "missing" in problem_at(refused(no_safety), "safety")


def test_an_inverted_safety_window() -> None:
    error = refused(GOOD.replace('voltage_max = "4.4 V vs Li"', 'voltage_max = "0.9 V vs Li"'))
    assert "above safety.voltage_min" in problem_at(error, "safety.voltage_max")


def test_a_hold_fraction_must_lie_between_0_and_1() -> None:
    error = refused(GOOD.replace("hold.current_fraction = 0.2", "hold.current_fraction = 1.5"))
    assert "1" in problem_at(error, "steps[1].hold.current_fraction")


def test_a_cccv_step_needs_its_voltage_and_a_cc_step_a_stop() -> None:
    error = refused(GOOD.replace('until.voltage = "4.3 V vs Li"', 'until.time = "2 h"'))
    assert "voltage" in problem_at(error, "steps[1].until.voltage")
    text = GOOD.replace('technique = "cccv"', 'technique = "constant_current"')
    text = text.replace('until.voltage = "4.3 V vs Li"\nhold.current_fraction = 0.2\n', "until = {}\n")
    assert "at least one of voltage, time, charge, soc" in problem_at(refused(text), "steps[1].until")


def test_a_reference_for_the_wrong_ion() -> None:
    error = refused(GOOD.replace('until.voltage = "4.3 V vs Li"', 'until.voltage = "4.3 V vs Na"'))
    assert "'4.3 V vs Na'" in problem_at(error, "steps[1].until.voltage")


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace('duration = "30 min"', 'duration = "-2 h"').replace(
        'current = "C/60"', 'current = "15 V"'
    )
    paths = [path for path, _, _ in refused(text).problems]
    assert "steps[0].duration" in paths and "steps[1].current" in paths


def test_validation_errors_carry_the_toml_line() -> None:
    text = GOOD.replace('current = "C/60"', 'current = "15 V"')
    assert f"(TOML line {line_of(text, '15 V')})" in problem_at(refused(text), "steps[1].current")


def test_a_missing_file_is_a_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "nope.toml")


def test_errors_inside_nested_loops_name_the_nested_path_and_line() -> None:
    text = (Path(__file__).resolve().parents[2] / "examples" / "plating_stripping.toml").read_text()
    text = text.replace('current = "10 uA"', 'current = "10 V"')
    message = problem_at(refused(text), "steps[1].steps[0].steps[2].current")
    line = line_of(text, '"10 V"')
    assert "'10 V'" in message and f"(TOML line {line})" in message


def test_link_outage_and_watchdog_settings_default_and_are_checked() -> None:
    safety = resolve(loads_protocol(GOOD)).safety
    assert (safety.link_outage_max, safety.missing_points_max) == (3600.0, 5)
    given = GOOD.replace('duration_max = "150 h"', 'duration_max = "150 h"\nlink_outage_max = "3 h"\n'
                         'missing_points_max = 8')
    safety = resolve(loads_protocol(given)).safety
    assert (safety.link_outage_max, safety.missing_points_max) == (3 * 3600.0, 8)
    for field, value in (("link_outage_max", '"0 s"'), ("link_outage_max", '"5 V"'), ("missing_points_max", "0")):
        error = refused(GOOD.replace('duration_max = "150 h"', f'duration_max = "150 h"\n{field} = {value}'))
        assert problem_at(error, f"safety.{field}")
