"""Quantities at the boundary: what a researcher types becomes the right SI float, or a clear error."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operando.errors import QuantityError
from operando.units import DIMENSIONS, format_quantity, parse_quantity, registry


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("15 uA", "current", 15e-6),
        ("15 µA", "current", 15e-6),
        ("15uA", "current", 15e-6),
        ("-10 uA", "current", -10e-6),
        ("1e-5 A", "current", 1e-5),
        ("4.3 V", "voltage", 4.3),
        ("-0.6 V", "voltage", -0.6),
        ("10 mV", "voltage", 0.010),
        ("30 min", "time", 1800.0),
        ("2 h", "time", 7200.0),
        ("1 d", "time", 86400.0),
        ("3.254 mg", "mass", 3.254e-6),
        ("0.9 mAh", "charge", 0.9 * 3.6),  # 1 mAh = 3.6 C
        ("276.6 mAh/g", "specific_capacity", 276.6 * 3600.0),  # 1 mAh/g = 3600 C/kg
        ("42.5 nm", "length", 42.5e-9),
        ("0.196 cm^2", "area", 0.196e-4),
        ("61.4 cm^3/mol", "molar_volume", 61.4e-6),
        ("7 MHz", "frequency", 7e6),
        ("100 mHz", "frequency", 0.1),
        ("100 uV/s", "scan_rate", 1e-4),
        ("1 mV/h", "voltage_rate", 1e-3 / 3600),
        ("50 kΩ", "resistance", 5e4),
        ("15 kPa", "pressure", 15e3),
        ("0.05 mA/cm^2", "current_density", 0.5),  # 0.05e-3 A / 1e-4 m^2
        ("1000 e-/nm^2", "dose", 1000 / 1e-18),
        ("25 degC", "temperature", 298.15),
        ("54 deg", "angle", math.radians(54)),
    ],
)
def test_a_quantity_comes_out_in_si_units(text: str, dimension: str, expected: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:30:00", 5400.0),
        ("0:00:30", 30.0),
        ("2 h 30 min", 9000.0),
        ("2h30min", 9000.0),
        ("1 d 2 h", 93600.0),
    ],
)
def test_times_as_ec_lab_writes_them_and_compound_times(text: str, expected: float) -> None:
    assert parse_quantity(text, "time") == pytest.approx(expected)


def test_zero_needs_no_unit_but_any_other_bare_number_does() -> None:
    assert parse_quantity(0, "current") == 0.0
    assert parse_quantity("0", "voltage") == 0.0
    with pytest.raises(QuantityError, match=r"15 has no unit.*'15 uA'"):
        parse_quantity(15, "current")
    with pytest.raises(QuantityError, match=r"'15' has no unit"):
        parse_quantity("15", "current")


def test_wrong_dimension_names_the_value_and_what_it_is() -> None:
    with pytest.raises(QuantityError) as caught:
        parse_quantity("15 V", "current", field="steps[1].current")
    message = str(caught.value)
    assert message.startswith("steps[1].current: ")
    assert "'15 V'" in message and "a voltage" in message and "current" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("3 4 uA", "one number and its unit"),  # pint alone would read 12 uA
        ("2*3 uA", "one number and its unit"),
        ("15 uA + 3 mA", "one number and its unit"),
        ("1,5 V", "decimals with a point"),  # pint alone would read 15 V
        ("uA", "does not start with a number"),  # pint alone would read 1 uA
        ("nan uA", "does not start with a number"),
        ("", "empty value"),
        ("15 wibbles", "cannot read"),
    ],
)
def test_ambiguous_or_malformed_text_is_refused(text: str, fragment: str) -> None:
    dimension = "voltage" if "V" in text else "current"
    with pytest.raises(QuantityError, match=fragment):
        parse_quantity(text, dimension)


def test_clock_time_needs_hours_minutes_and_seconds() -> None:
    with pytest.raises(QuantityError, match=r"1:30:00"):
        parse_quantity("1:30", "time")


def test_non_text_values_are_refused_clearly() -> None:
    for value in (True, None, [15]):
        with pytest.raises(QuantityError, match="expected a current"):
            parse_quantity(value, "current")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dimension"):
        parse_quantity("1 V", "potential")


def test_a_pint_quantity_from_python_is_accepted_and_checked() -> None:
    ureg = registry()
    assert parse_quantity(ureg.Quantity(15, "uA"), "current") == pytest.approx(15e-6)
    with pytest.raises(QuantityError, match="a voltage"):
        parse_quantity(ureg.Quantity(3, "V"), "current")


def test_format_quantity_reads_back() -> None:
    assert format_quantity(1.5e-5, "uA") == "15 uA"
    assert format_quantity(3.68, "V") == "3.68 V"


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda v: v != 0))
def test_any_number_with_a_unit_reads_back_exactly(value: float) -> None:
    assert parse_quantity(f"{value!r} mA", "current") == pytest.approx(value * 1e-3, rel=1e-12)


def test_every_dimension_example_parses() -> None:
    for name, (_, _, example) in DIMENSIONS.items():
        assert math.isfinite(parse_quantity(example, name))
