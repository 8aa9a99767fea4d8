"""Quantities with units at the boundary ("15 uA", "4.3 V", "2 h", "42.5 nm"); SI floats everywhere inside."""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any

import pint
from pydantic import PlainSerializer, PlainValidator

from operando.errors import QuantityError

# Dimension name -> (pint dimensionality, SI unit, an example a researcher would type).
DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "current": ("[current]", "A", "15 uA"),
    "voltage": ("[mass] * [length] ** 2 / [current] / [time] ** 3", "V", "4.3 V"),
    "time": ("[time]", "s", "2 h"),
    "mass": ("[mass]", "kg", "3.25 mg"),
    "charge": ("[current] * [time]", "C", "0.5 mAh"),
    "specific_capacity": ("[current] * [time] / [mass]", "C/kg", "276.6 mAh/g"),
    "length": ("[length]", "m", "42.5 nm"),
    "area": ("[length] ** 2", "m**2", "0.196 cm^2"),
    "volume": ("[length] ** 3", "m**3", "1 um^3"),
    "molar_volume": ("[length] ** 3 / [substance]", "m**3/mol", "20.5 cm^3/mol"),
    "frequency": ("[time] ** -1", "Hz", "100 mHz"),
    "scan_rate": ("[mass] * [length] ** 2 / [current] / [time] ** 4", "V/s", "100 uV/s"),
    "voltage_rate": ("[mass] * [length] ** 2 / [current] / [time] ** 4", "V/s", "1 mV/h"),
    "resistance": ("[mass] * [length] ** 2 / [current] ** 2 / [time] ** 3", "ohm", "50 kohm"),
    "pressure": ("[mass] / [length] / [time] ** 2", "Pa", "15 kPa"),
    "current_density": ("[current] / [length] ** 2", "A/m**2", "0.05 mA/cm^2"),
    "angle": ("", "rad", "54 deg"),
    "diffusivity": ("[length] ** 2 / [time]", "m**2/s", "1e-15 m^2/s"),
    "velocity_noise": ("[length] ** 2 / [time] ** 3", "m**2/s**3", "1e-23 m^2/s^3"),  # drift model
    "dose": ("[length] ** -2", "1/m**2", "1000 e-/nm^2"),
    "temperature": ("[temperature]", "K", "25 degC"),
}


@functools.cache
def registry() -> pint.UnitRegistry:
    """The one pint registry, with the lab's spellings (uA, mAh, e-/nm^2) understood."""
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("electron_count = [] = e- = electrons")
    return ureg


def _describe(dimensionality: object) -> str:
    ureg = registry()
    for name, (dim, _, _) in DIMENSIONS.items():
        if dim and ureg.get_dimensionality(dim) == dimensionality:
            return f"a {name.replace('_', ' ')}"
    return f"a quantity of dimension {dimensionality}"


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_LEADING_NUMBER = re.compile(rf"^({_NUMBER})\s*(.*)$")
_CLOCK_TIME = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d(?:\.\d*)?)$")  # EC-Lab's h:m:s
_TIME_TERM = re.compile(rf"({_NUMBER})\s*([A-Za-z]+)\s*")


def _compound_time(cleaned: str, field: str) -> float | None:
    """Seconds for "1:30:00" (h:m:s, as EC-Lab writes times) or "2 h 30 min"; None for any other form."""
    clock = _CLOCK_TIME.match(cleaned)
    if clock:
        return int(clock[1]) * 3600.0 + int(clock[2]) * 60.0 + float(clock[3])
    terms = _TIME_TERM.findall(cleaned)
    if (
        len(terms) > 1
        and not any(number[0] in "+-" for number, _ in terms[1:])
        and "".join(_TIME_TERM.sub("", cleaned).split()) == ""
    ):
        return sum(parse_quantity(f"{number} {unit}", "time", field=field) for number, unit in terms)
    return None


def _check_form(cleaned: str, text: str, where: str, dimension: str, example: str) -> None:
    """One number then its unit: pint would also evaluate "3 4 uA" (12 uA), "1,5 V" (15 V) or "uA" (1 uA)."""
    what = dimension.replace("_", " ")
    if re.search(r"\d,\d", cleaned):
        raise QuantityError(f"{where}{text!r}: write decimals with a point, e.g. {example!r}")
    match = _LEADING_NUMBER.match(cleaned)
    if match is None:
        raise QuantityError(
            f"{where}{text!r} does not start with a number; write a {what} such as {example!r}"
        )
    unit = re.sub(r"(\^|\*\*)\s*[-+]?\d+(?:\.\d+)?", "", match[2])  # exponents: cm^2, m**-2
    unit = re.sub(r"^1\s*/", "/", unit)  # "1/nm^2"
    if re.search(r"[\d+,:;()=<>\[\]]", unit):
        hint = " (h:m:s is written like '1:30:00')" if dimension == "time" and ":" in unit else ""
        raise QuantityError(
            f"{where}cannot read {text!r} as a {what}: write one number and its unit, e.g. {example!r}{hint}"
        )


def parse_quantity(text: str | float | int, dimension: str, *, field: str = "") -> float:
    """Read ``text`` as a ``dimension`` (a key of DIMENSIONS) and return its value in SI units.

    A bare number is refused, except zero: a unit must be explicit at the boundary.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
    dim, si_unit, example = DIMENSIONS[dimension]
    where = f"{field}: " if field else ""
    if isinstance(text, bool):
        raise QuantityError(
            f"{where}expected a {dimension.replace('_', ' ')} such as {example!r}, got {text!r}"
        )
    if isinstance(text, int | float):
        if text == 0:
            return 0.0
        raise QuantityError(f"{where}{text!r} has no unit; write it with one, e.g. {example!r}")
    if isinstance(text, pint.Quantity):
        # A pint quantity from Python code: already carries its unit, so only the dimension needs checking.
        text = (
            f"{text.magnitude!r} {text.units:~}" if text.units != registry().dimensionless else text.magnitude
        )
        return parse_quantity(text, dimension, field=field)
    if not isinstance(text, str):
        raise QuantityError(
            f"{where}expected a {dimension.replace('_', ' ')} such as {example!r}, got {text!r}"
        )
    cleaned = text.strip().replace("µ", "u").replace("μ", "u").replace("Ω", "ohm")
    if not cleaned:
        raise QuantityError(
            f"{where}empty value where a {dimension.replace('_', ' ')} such as {example!r} is due"
        )
    ureg = registry()
    if dimension == "dose":
        cleaned = cleaned.replace("e-/", "1/").replace("e/", "1/")
    if dimension == "time":
        total = _compound_time(cleaned, field)
        if total is not None:
            return total
    _check_form(cleaned, text, where, dimension, example)
    try:
        quantity = ureg.Quantity(cleaned)
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError) as exc:
        raise QuantityError(
            f"{where}cannot read {text!r} as a {dimension.replace('_', ' ')} (write e.g. {example!r}): {exc}"
        ) from None
    if not isinstance(quantity, pint.Quantity):
        quantity = ureg.Quantity(float(quantity), "")
    if quantity.dimensionless and dimension != "angle":
        if quantity.magnitude == 0:
            return 0.0
        raise QuantityError(f"{where}{text!r} has no unit; write it with one, e.g. {example!r}")
    if dimension == "angle" and quantity.magnitude != 0 and not _is_angle(quantity):
        # pint calls every dimensionless number an angle in radians: "54" would silently be 54 rad.
        raise QuantityError(f"{where}{text!r} is not an angle; write it with its unit, e.g. {example!r}")
    expected = ureg.get_dimensionality(dim) if dim else ureg.dimensionless.dimensionality
    if quantity.dimensionality != expected:
        raise QuantityError(
            f"{where}expected a {dimension.replace('_', ' ')} such as {example!r}, "
            f"got {text!r}, which is {_describe(quantity.dimensionality)}"
        )
    value = float(quantity.to(si_unit).magnitude)
    if not math.isfinite(value):
        raise QuantityError(f"{where}{text!r} is not a finite number")
    return value


_ANGLE_UNITS = ("radian", "degree", "arcminute", "arcsecond", "turn", "gradian")


def _is_angle(quantity: pint.Quantity) -> bool:
    """True when every unit of ``quantity`` is an angle unit (deg, rad, mrad, arcmin, turn)."""
    units = dict(quantity.unit_items())
    return bool(units) and all(name.endswith(_ANGLE_UNITS) and power == 1 for name, power in units.items())


def format_quantity(value: float, unit: str, digits: int = 4) -> str:
    """Format an SI value in a readable unit, e.g. format_quantity(1.5e-5, 'uA') -> '15 uA'."""
    ureg = registry()
    dims = {spec[1]: spec for spec in DIMENSIONS.values()}
    target = ureg.Unit(unit)
    for si_unit in dims:
        si = ureg.Unit(si_unit)
        if si.dimensionality == target.dimensionality:
            converted = ureg.Quantity(value, si).to(target).magnitude
            return f"{converted:.{digits}g} {unit}"
    raise ValueError(f"no SI base known for unit {unit!r}")


def quantity_type(dimension: str, *, positive: bool = False) -> Any:
    """A pydantic field type: a quantity string such as "15 uA" read as ``dimension``, held as an SI float.

    ``positive`` refuses zero and negative values. Serialised back as a string in the SI unit.
    """
    unit = DIMENSIONS[dimension][1]

    def validate(value: object) -> float:
        number = parse_quantity(value, dimension)  # type: ignore[arg-type]
        if positive and not number > 0:
            raise QuantityError(f"must be positive, got {value!r}")
        return number

    return Annotated[
        float, PlainValidator(validate), PlainSerializer(lambda v: f"{v!r} {unit}", return_type=str)
    ]
