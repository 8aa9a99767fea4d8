"""Protocol steps as a researcher writes them (TOML tables or Python objects), one model per technique."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from operando.cells import CurrentValue, Fraction, PotentialValue
from operando.errors import ProtocolError
from operando.protocol.schema.base import Model
from operando.protocol.schema.technique_names import canonical_technique
from operando.units import quantity_type

Duration = quantity_type("time", positive=True)
Charge = quantity_type("charge", positive=True)
CurrentMagnitude = quantity_type("current", positive=True)
VoltageRate = quantity_type("voltage_rate", positive=True)


def _require_some(model: BaseModel, what: str, fields: tuple[str, ...], path: str = "") -> None:
    if all(getattr(model, name) is None for name in fields):
        raise ProtocolError([(path, f"{what} needs at least one of {', '.join(fields)}", None)])


class Record(Model):
    """When the potentiostat records a point: every ``every``, and on a change of voltage or current."""

    every: Duration | None = None  # type: ignore[valid-type]
    voltage_change: quantity_type("voltage", positive=True) | None = None  # type: ignore[valid-type]
    current_change: CurrentMagnitude | None = None  # type: ignore[valid-type]


class RestUntil(Model):
    """Rest ends early when |dE/dt| falls below ``voltage_rate`` (e.g. "1 mV/h")."""

    voltage_rate: VoltageRate | None = None  # type: ignore[valid-type]


class CurrentUntil(Model):
    """Stops of a constant-current step: a voltage, a time, a charge passed, or a state of charge reached."""

    voltage: PotentialValue | None = None
    time: Duration | None = None  # type: ignore[valid-type]
    charge: Charge | None = None  # type: ignore[valid-type]
    soc: Fraction | None = None


class HoldUntil(Model):
    """Stops of a voltage hold: a time, |I| below a value, or |I| below a fraction of the initial current."""

    time: Duration | None = None  # type: ignore[valid-type]
    current: CurrentMagnitude | None = None  # type: ignore[valid-type]
    current_fraction: Annotated[float, Field(gt=0, lt=1)] | None = None

    @model_validator(mode="after")
    def _some(self) -> HoldUntil:
        _require_some(self, "a voltage hold", ("time", "current", "current_fraction"))
        return self


class Step(Model):
    """Fields every step has: a name (shown in the plan and the file) and recording settings."""

    name: str | None = None
    record: Record | None = None

    @field_validator("technique", mode="before", check_fields=False)
    @classmethod
    def _canonical(cls, value: Any) -> Any:
        return canonical_technique(value) or value


class RestStep(Step):
    """Open circuit [OCV] for ``duration``, or until |dE/dt| is small."""

    technique: Literal["rest"] = "rest"
    duration: Duration  # type: ignore[valid-type]
    until: RestUntil | None = None


class ConstantCurrentStep(Step):
    """Constant current [CP]: a current ("15 uA", negative = discharge) or a C-rate ("C/20", "D/20")."""

    technique: Literal["constant_current"] = "constant_current"
    current: CurrentValue
    until: CurrentUntil

    @model_validator(mode="after")
    def _some(self) -> ConstantCurrentStep:
        _require_some(
            self.until, "a constant-current step's until", ("voltage", "time", "charge", "soc"), "until"
        )
        return self


class ConstantVoltageStep(Step):
    """Constant-voltage hold [CA] at ``voltage`` until a time or a current condition."""

    technique: Literal["constant_voltage"] = "constant_voltage"
    voltage: PotentialValue
    until: HoldUntil


class CCCVStep(Step):
    """Galvanostatic cycling with potential limitation [GCPL]: CC to ``until.voltage``, hold, rest."""

    technique: Literal["cccv"] = "cccv"
    current: CurrentValue
    until: CurrentUntil
    hold: HoldUntil | None = None
    rest: Duration | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _voltage(self) -> CCCVStep:
        if self.until.voltage is None:
            raise ProtocolError(
                [("until.voltage", "a CC-CV step needs the voltage it charges or discharges to", None)]
            )
        return self


class CyclicVoltammetryStep(Step):
    """Cyclic voltammetry [CV]: start -> vertices[0] -> vertices[1] -> start, ``cycles`` times, then end."""

    technique: Literal["cyclic_voltammetry"] = "cyclic_voltammetry"
    start: PotentialValue
    vertices: tuple[PotentialValue, PotentialValue]
    end: PotentialValue | None = None
    scan_rate: quantity_type("scan_rate", positive=True)  # type: ignore[valid-type]
    cycles: int = Field(default=1, ge=1)


class ImpedanceStep(Step):
    """Potentiostatic impedance [PEIS], log-spaced, around the open-circuit voltage or an absolute level."""

    technique: Literal["peis"] = "peis"
    initial_frequency: quantity_type("frequency", positive=True)  # type: ignore[valid-type]
    final_frequency: quantity_type("frequency", positive=True)  # type: ignore[valid-type]
    points_per_decade: int = Field(default=10, ge=1, le=200)
    amplitude: quantity_type("voltage", positive=True)  # type: ignore[valid-type]
    averages: int = Field(default=1, ge=1, le=1000)
    dc_voltage: PotentialValue | None = None  # absolute DC level; default: the open-circuit voltage
    dc_vs_ocv: quantity_type("voltage") = 0.0  # type: ignore[valid-type]  # offset from the OCV
    wait: Annotated[float, Field(ge=0, le=10)] = 0.1  # fraction of a period to wait before measuring

    @model_validator(mode="after")
    def _dc(self) -> ImpedanceStep:
        if self.dc_voltage is not None and self.dc_vs_ocv != 0:
            raise ProtocolError(
                [("dc_vs_ocv", "give either dc_voltage (absolute) or dc_vs_ocv, not both", self.dc_vs_ocv)]
            )
        if self.amplitude > 1.0:
            raise ProtocolError(
                [("amplitude", "above 1 V would destroy the cell's state", f"{self.amplitude} V")]
            )
        return self


class GITTUntil(Model):
    """GITT ends when a pulse reaches ``voltage``."""

    voltage: PotentialValue


class GITTStep(Step):
    """Galvanostatic intermittent titration [GITT]: current pulses and rests until a voltage.

    The Weppner-Huggins diffusion estimate needs the particle radius, or the molar volume and electrode area.
    """

    technique: Literal["gitt"] = "gitt"
    current: CurrentValue
    pulse: Duration  # type: ignore[valid-type]
    rest: Duration  # type: ignore[valid-type]
    until: GITTUntil
    max_pulses: int | None = Field(default=None, ge=1)
    particle_radius: quantity_type("length", positive=True) | None = None  # type: ignore[valid-type]
    molar_volume: quantity_type("molar_volume", positive=True) | None = None  # type: ignore[valid-type]
    electrode_area: quantity_type("area", positive=True) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _diffusion_inputs(self) -> GITTStep:
        if self.particle_radius is None and self.molar_volume is None:
            raise ProtocolError(
                [
                    (
                        "molar_volume",
                        "GITT needs the inputs of the Weppner-Huggins estimate: "
                        "particle_radius, or molar_volume (with electrode_area here or in [cell])",
                        None,
                    )
                ]
            )
        return self


class LoopStep(Step):
    """Repeat ``steps`` ``repeat`` times; each pass multiplies the currents by ``current_scale`` once more."""

    technique: Literal["loop"] = "loop"
    repeat: int = Field(ge=1, le=10000)
    steps: list[AnyStep] = Field(min_length=1)
    current_scale: float = Field(default=1.0, gt=0)


def _technique_tag(value: Any) -> str | None:
    raw = value.get("technique") if isinstance(value, dict) else getattr(value, "technique", None)
    return canonical_technique(raw) or (str(raw) if raw is not None else None)


AnyStep = Annotated[
    Annotated[RestStep, Tag("rest")]
    | Annotated[ConstantCurrentStep, Tag("constant_current")]
    | Annotated[ConstantVoltageStep, Tag("constant_voltage")]
    | Annotated[CCCVStep, Tag("cccv")]
    | Annotated[CyclicVoltammetryStep, Tag("cyclic_voltammetry")]
    | Annotated[ImpedanceStep, Tag("peis")]
    | Annotated[GITTStep, Tag("gitt")]
    | Annotated[LoopStep, Tag("loop")],
    Discriminator(_technique_tag),
]
LoopStep.model_rebuild()
