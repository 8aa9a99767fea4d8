"""The cell under test: active material, mass, capacity, counter electrode; C-rates and potentials resolved.

A researcher writes currents as "15 uA" or as C-rates ("C/20", "D/20", "2C"), and potentials against Li+/Li,
Na+/Na or the counter electrode ("4.3 V vs Li", "3.68 V vs Li-In", bare "3.68 V" = as measured).
The cell turns them into what the potentiostat applies: amperes, and volts of the working electrode vs
the counter electrode.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

from operando.errors import ProtocolError, QuantityError
from operando.materials import MAH_PER_G, FormulaError, Material, find_material, material_names, molar_mass
from operando.materials import specific_capacity as theoretical_capacity
from operando.plan import CellSummary
from operando.units import parse_quantity, quantity_type

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class CounterElectrode:
    """A counter (in a two-electrode cell, also reference) electrode; its potential vs the ion's metal."""

    name: str
    working_ion: str
    potential: float  # V vs Li+/Li or Na+/Na
    description: str = ""
    aliases: tuple[str, ...] = ()


COUNTER_ELECTRODES: tuple[CounterElectrode, ...] = (
    CounterElectrode("Li", "Li", 0.0, "lithium metal", ("Li metal", "lithium")),
    CounterElectrode(
        "Li-In",
        "Li",
        0.62,
        "lithium-indium alloy (Li0.3In, two-phase plateau)",
        ("In-Li", "LiIn", "Li0.3In", "Li-In alloy"),
    ),
    CounterElectrode("Na", "Na", 0.0, "sodium metal", ("Na metal", "sodium")),
)
_METAL_REFERENCES = {"li": "Li", "li+/li": "Li", "li/li+": "Li", "na": "Na", "na+/na": "Na", "na/na+": "Na"}
_AS_MEASURED = {"counter", "counter electrode", "ce", "measured"}


def _key(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


_COUNTERS = {_key(alias): ce for ce in COUNTER_ELECTRODES for alias in (ce.name, *ce.aliases)}


def find_counter_electrode(name: str) -> CounterElectrode | None:
    """The table entry for ``name`` ("Li-In", "In-Li", "Li", "Na", ...), or None for a custom electrode."""
    return _COUNTERS.get(_key(name))


@dataclass(frozen=True)
class Potential:
    """A potential as written: ``value`` V against ``reference`` ("Li", "Na", a counter electrode's name,
    or None for "as measured", i.e. vs the cell's counter electrode). Convert with :meth:`Cell.measured`."""

    value: float
    reference: str | None
    text: str

    def __str__(self) -> str:
        return self.text


def parse_potential(text: str | Potential) -> Potential:
    """Read "4.3 V vs Li", "4.3 V vs Li+/Li", "2.9 V vs Na", "3.68 V vs Li-In", bare "3.68 V" (measured)."""
    if isinstance(text, Potential):
        return text
    if not isinstance(text, str):
        return Potential(parse_quantity(text, "voltage"), None, repr(text))
    quantity, *rest = re.split(r"\s+vs\.?\s+", text.strip(), maxsplit=1, flags=re.IGNORECASE)
    value = parse_quantity(quantity, "voltage")
    if not rest:
        return Potential(value, None, text.strip())
    reference = rest[0].strip()
    key = _key(reference)
    if key in _METAL_REFERENCES:
        return Potential(value, _METAL_REFERENCES[key], text.strip())
    if reference.lower() in _AS_MEASURED:
        return Potential(value, None, text.strip())
    counter = find_counter_electrode(reference)
    # An unknown reference may be the cell's own custom counter electrode: checked when converted.
    return Potential(value, counter.name if counter else reference, text.strip())


@dataclass(frozen=True)
class CRate:
    """A current as a multiple of the capacity per hour: "C/20" -> 0.05, "D/20" -> -0.05 (discharge)."""

    multiple: float
    text: str

    def __str__(self) -> str:
        return self.text


_C_RATE = re.compile(
    r"^(?P<sign>[+-]?)\s*(?P<factor>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?\s*\*?\s*"
    r"(?P<letter>[CD])\s*(?:/\s*(?P<divisor>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?))?$"
)


def parse_current(text: str | float | CRate) -> float | CRate:
    """Read a current ("15 uA", "-10 uA": A) or a C-rate ("C/20", "0.05C", "2C", "D/20": a :class:`CRate`).

    Positive current charges the working electrode (oxidation); "D" is a discharge rate, i.e. negative.
    """
    if isinstance(text, CRate):
        return text
    if isinstance(text, str):
        match = _C_RATE.match(text.strip())
        if match:
            if match["sign"] and match["letter"] == "D":
                raise QuantityError(
                    f"{text!r}: a D-rate is already a discharge; write 'D/20' or '-C/20', not both"
                )
            factor, divisor = float(match["factor"] or 1.0), float(match["divisor"] or 1.0)
            multiple = factor / divisor if divisor else 0.0
            if not multiple > 0 or not math.isfinite(multiple):
                raise QuantityError(f"{text!r}: a C-rate must be above zero")
            negative = (match["sign"] == "-") != (match["letter"] == "D")
            return CRate(-multiple if negative else multiple, text.strip())
    try:
        return parse_quantity(text, "current")
    except QuantityError as exc:
        raise QuantityError(f"{exc}; or a C-rate such as 'C/20', 'D/20', '0.05C'") from None


def _check_potential(value: object) -> Potential:
    return parse_potential(value)  # type: ignore[arg-type]


PotentialValue = Annotated[Potential, PlainValidator(_check_potential), PlainSerializer(str, return_type=str)]
CurrentValue = Annotated[
    float | CRate,
    PlainValidator(parse_current),
    PlainSerializer(lambda v: str(v) if isinstance(v, CRate) else f"{v!r} A", return_type=str),
]


def _fraction(value: object) -> float:
    """A fraction 0..1 written as 0.7, "0.7", "70 %" or "70 wt%"."""
    if isinstance(value, bool):
        raise ValueError(f"expected a fraction such as 0.7 or '70 %', got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        match = re.fullmatch(r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(%|wt\s*%|wt%)?", text)
        if not match:
            raise ValueError(f"expected a fraction such as 0.7 or '70 %', got {value!r}")
        number = float(match[1]) / (100.0 if match[2] else 1.0)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError(f"expected a fraction such as 0.7 or '70 %', got {value!r}")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"must lie between 0 and 1 (0 % and 100 %), got {value!r}")
    return number


Fraction = Annotated[float, PlainValidator(_fraction)]


class Cell(BaseModel):
    """The cell as a researcher describes it; strings with units in, SI floats held. Validated on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "cell"
    material: str | None = (
        None  # a table name ("NMC622", "LFP", "NVP", "VP glass") or any name with a formula
    )
    formula: str | None = None  # per formula unit, fractions allowed: "LiNi0.6Mn0.2Co0.2O2"
    electrons: float | None = Field(default=None, gt=0)  # exchanged per formula unit
    working_ion: Literal["Li", "Na"] | None = None
    active_mass: quantity_type("mass", positive=True) | None = None  # type: ignore[valid-type]
    electrode_mass: quantity_type("mass", positive=True) | None = None  # type: ignore[valid-type]
    active_fraction: Fraction | None = None  # of electrode_mass that is active material, e.g. "70 wt%"
    capacity: quantity_type("charge", positive=True) | None = None  # type: ignore[valid-type]  # practical, C
    specific_capacity: quantity_type("specific_capacity", positive=True) | None = None  # type: ignore[valid-type]
    counter_electrode: str
    counter_potential: PotentialValue | None = None  # vs the working-ion metal; needed for a custom electrode
    initial_soc: Fraction = 0.0
    electrode_area: quantity_type("area", positive=True) | None = None  # type: ignore[valid-type]
    electrolyte: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Cell:
        problems: list[tuple[str, str, object]] = []
        table = find_material(self.material) if self.material else None
        if self.material is None and self.formula is None:
            problems.append(
                (
                    "material",
                    "name the active material (e.g. 'NMC622'; table: "
                    f"{', '.join(material_names())}) or give its formula",
                    None,
                )
            )
        if self.formula is not None:
            try:
                molar_mass(self.formula)
            except FormulaError as exc:
                problems.append(("formula", str(exc), self.formula))
        if (
            self.formula is not None
            and self.electrons is None
            and (table is None or table.formula != self.formula)
        ):
            problems.append(
                ("electrons", f"give the electrons exchanged per formula unit of {self.formula!r}", None)
            )
        if self.active_fraction is not None and self.electrode_mass is None:
            problems.append(
                (
                    "active_fraction",
                    "needs cell.electrode_mass (the composite mass it is a fraction of)",
                    self.active_fraction,
                )
            )
        if (
            self.active_mass is not None
            and self.electrode_mass is not None
            and self.active_fraction is not None
        ):
            implied = self.electrode_mass * self.active_fraction
            if abs(implied - self.active_mass) > 0.01 * self.active_mass:
                problems.append(
                    (
                        "active_mass",
                        f"disagrees with electrode_mass x active_fraction = {implied * 1e6:.4g} mg",
                        f"{self.active_mass * 1e6:.4g} mg",
                    )
                )
        if (
            self.active_mass is not None
            and self.electrode_mass is not None
            and self.active_mass > self.electrode_mass
        ):
            problems.append(
                ("active_mass", "exceeds cell.electrode_mass", f"{self.active_mass * 1e6:.4g} mg")
            )
        counter = find_counter_electrode(self.counter_electrode)
        if counter is None and self.counter_potential is None:
            known = ", ".join(ce.name for ce in COUNTER_ELECTRODES)
            problems.append(
                (
                    "counter_electrode",
                    f"not in the table ({known}); give cell.counter_potential vs "
                    "the working-ion metal, e.g. '0.62 V vs Li'",
                    self.counter_electrode,
                )
            )
        potential = self.counter_potential
        if potential is not None and potential.reference not in (None, "Li", "Na"):
            problems.append(("counter_potential", "give it against Li+/Li or Na+/Na", potential.text))
        ions = {
            "material": table.working_ion if table else None,
            "counter_electrode": counter.working_ion if counter else None,
            "counter_potential": potential.reference if potential else None,
        }
        ion = self.working_ion or ions["material"] or ions["counter_electrode"] or ions["counter_potential"]
        if ion is None:
            problems.append(("working_ion", "say which ion the cell exchanges: 'Li' or 'Na'", None))
        for field, other in ions.items():
            if ion and other and other != ion:
                value = getattr(self, field)
                problems.append((field, f"is a {other} electrode but the cell exchanges {ion}", str(value)))
        if problems:
            raise ProtocolError(problems)
        return self

    # Derived values: cheap, so computed on demand from the validated fields.
    @property
    def table_material(self) -> Material | None:
        return find_material(self.material) if self.material else None

    @property
    def resolved_formula(self) -> str | None:
        table = self.table_material
        return self.formula or (table.formula if table else None)

    @property
    def resolved_electrons(self) -> float:
        table = self.table_material
        if self.electrons is not None:
            return self.electrons
        return table.electrons if table else 1.0

    @property
    def resolved_working_ion(self) -> str:
        table = self.table_material
        counter = find_counter_electrode(self.counter_electrode)
        potential = self.counter_potential
        return (
            self.working_ion
            or (table.working_ion if table else None)
            or (counter.working_ion if counter else None)
            or (potential.reference if potential else None)
            or "Li"
        )

    @property
    def counter_name(self) -> str:
        counter = find_counter_electrode(self.counter_electrode)
        return counter.name if counter else self.counter_electrode

    @property
    def counter_vs_metal(self) -> float:
        """V of the counter electrode vs the working-ion metal (Li-In: 0.62)."""
        if self.counter_potential is not None:
            return self.counter_potential.value
        counter = find_counter_electrode(self.counter_electrode)
        assert counter is not None  # validation guarantees a table entry or a given potential
        return counter.potential

    @property
    def molar_mass(self) -> float | None:
        """kg/mol of the active material's formula unit, if its formula is known."""
        formula = self.resolved_formula
        return molar_mass(formula) if formula else None

    @property
    def theoretical_specific_capacity(self) -> float | None:
        """C/kg from n F / M, if the formula is known."""
        formula = self.resolved_formula
        return theoretical_capacity(formula, self.resolved_electrons) if formula else None

    @property
    def mass(self) -> float | None:
        """kg of active material (given, or electrode mass x active fraction)."""
        if self.active_mass is not None:
            return self.active_mass
        if self.electrode_mass is not None and self.active_fraction is not None:
            return self.electrode_mass * self.active_fraction
        return None

    @property
    def rated_capacity(self) -> float | None:
        """C that 1C passes in one hour: the given capacity, else (practical or theoretical) x active mass."""
        if self.capacity is not None:
            return self.capacity
        specific = self.specific_capacity or self.theoretical_specific_capacity
        mass = self.mass
        return specific * mass if specific is not None and mass is not None else None

    def current(self, setting: float | CRate | str) -> float:
        """The current in A for "15 uA" or a C-rate; a C-rate without a known capacity is an error."""
        value = parse_current(setting) if isinstance(setting, str) else setting
        if not isinstance(value, CRate):
            return value
        capacity = self.rated_capacity
        if capacity is None:
            raise QuantityError(
                f"C-rate {value.text!r} needs the cell's capacity: give cell.active_mass (with a "
                "material from the table or a formula) or cell.capacity"
            )
        return value.multiple * capacity / SECONDS_PER_HOUR

    def measured(self, potential: Potential | str) -> float:
        """V as the potentiostat measures it (working electrode vs the counter electrode)."""
        potential = parse_potential(potential)
        ion = self.resolved_working_ion
        reference = potential.reference
        if (
            reference is None
            or _key(reference) == _key(self.counter_electrode)
            or reference == self.counter_name
        ):
            return potential.value
        if reference in ("Li", "Na") and find_counter_electrode(reference) and reference != ion:
            raise QuantityError(
                f"{potential.text!r} is against {reference}+/{reference} but this cell exchanges "
                f"{ion} (counter electrode {self.counter_electrode})"
            )
        counter = find_counter_electrode(reference)
        if counter is None:
            known = ["Li+/Li", "Na+/Na", *(ce.name for ce in COUNTER_ELECTRODES), self.counter_electrode]
            raise QuantityError(
                f"{potential.text!r}: unknown reference electrode {reference!r}; known: "
                f"{', '.join(dict.fromkeys(known))}"
            )
        if counter.working_ion != ion:
            raise QuantityError(
                f"{potential.text!r} is against {counter.name}, a {counter.working_ion} electrode, "
                f"but this cell exchanges {ion}"
            )
        return potential.value + counter.potential - self.counter_vs_metal

    def summary(self) -> CellSummary:
        """The cell as the plan and the HDF5 file record it."""
        electrons = self.resolved_electrons
        return CellSummary(
            name=self.name,
            material=self.material or self.resolved_formula or "",
            formula=self.resolved_formula,
            active_mass=self.mass,
            specific_capacity=self.specific_capacity or self.theoretical_specific_capacity,
            capacity=self.rated_capacity,
            electrons=int(electrons) if float(electrons).is_integer() else electrons,  # type: ignore[arg-type]
            working_ion=self.resolved_working_ion,
            counter_electrode=self.counter_name,
            counter_potential=self.counter_vs_metal,
            initial_soc=self.initial_soc,
        )


def specific_capacity_mah_per_g(cell: Cell) -> float | None:
    """The specific capacity used for C-rates, in mAh/g (for display)."""
    value = cell.specific_capacity or cell.theoretical_specific_capacity
    return value / MAH_PER_G if value is not None else None
