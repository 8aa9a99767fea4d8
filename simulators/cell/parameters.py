"""Parameters of the equivalent-circuit solid-state cell; SI units, defaults are the thesis operando cell.

Defaults: 3.254 mg NMC622 (276.6 mAh/g theoretical -> 3.240 C, so 15 uA is C/60), Li-In counter electrode
(0.62 V vs Li+/Li), the operando holder's ~15 kPa stack pressure. Series resistance follows an empirical power
law of stack pressure, R = R_ref * (P_ref / P) ** n with n = 0.5 (contact area between the rigid particles and
the solid electrolyte grows sub-linearly with load): 60 ohm at 25 MPa becomes ~2.4 kOhm at 15 kPa, which keeps
the polarisation at 15 uA near the 50 mV the thesis run tolerated. Transport and kinetics follow one Arrhenius
activation energy about 298.15 K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import TYPE_CHECKING, Any

from operando.simulators.cell.ocv_families import SUPPORTED, load_ocv_curve, simulated_family

if TYPE_CHECKING:
    from operando.plan import CellSummary

GAS_CONSTANT = 8.314462618  # J/(mol K)
REFERENCE_TEMPERATURE = 298.15  # K
NMC622_SPECIFIC_CAPACITY = 276.6 * 3.6  # C/g (276.6 mAh/g)
THESIS_ACTIVE_MASS = 3.254e-3  # g of NMC622 in the operando cell
CONTACT_REFERENCE_SOC = 0.64  # SOC at which contact_loss is given: NMC622 charged to 4.3 V vs Li
# Material-family values of the fields left None; families not named here get no contact loss or slowing.
FAMILY_DEFAULTS = {"nmc622": {"contact_loss": 0.35, "lithiated_diffusion_ratio": 0.01}}


@dataclass(frozen=True)
class CellParameters:
    """Everything the equivalent-circuit model needs, SI units; defaults are the thesis operando cell."""

    material: str = "NMC622"  # OCV curve family, one of ocv_families.SUPPORTED (NMC622, LFP, NVP, ...)
    # A measured OCV curve to simulate any material on: CSV of SOC (0..1 of capacity) and V vs the working-ion
    # metal (ocv_families.load_ocv_curve); ``material`` is then only a label.
    ocv_curve: str | None = None
    capacity: float = NMC622_SPECIFIC_CAPACITY * THESIS_ACTIVE_MASS  # C, theoretical (what 1C passes in 1 h)
    counter_potential: float = 0.62  # V of the counter electrode vs the working-ion metal (Li-In 0.62, Li 0)
    initial_soc: float = 0.0  # 0..1 of capacity (pristine NMC622 = 0, fully lithiated)
    stack_pressure: float = 15e3  # Pa; operando holder ~15 kPa, ordinary solid-state cells 25-127 MPa
    reference_series_resistance: float = 60.0  # ohm at reference_pressure
    reference_pressure: float = 25e6  # Pa
    pressure_exponent: float = 0.5  # n in R = R_ref * (P_ref / P) ** n
    charge_transfer_resistance: float = 1.0e3  # ohm, cathode/solid-electrolyte interface
    double_layer_capacitance: float = 2.0e-6  # F, in parallel with the charge-transfer resistance
    particle_radius: float = 5.0e-6  # m, NMC622 secondary particles (D50 10-14 um)
    diffusion_coefficient: float = 2.0e-15  # m^2/s, solid-state Li diffusion at the reference temperature
    cable_inductance: float = 2.0e-6  # H, long cables through the microscope feed-through
    voltage_noise: float = 50e-6  # V, standard deviation of the measured potential
    current_noise: float = 0.5e-9  # A, standard deviation of the measured current
    temperature: float = REFERENCE_TEMPERATURE  # K
    activation_energy: float = 30e3  # J/mol, for diffusion, charge transfer and the electrolyte
    diffusion_modes: int = 16  # eigenmodes of the sphere kept explicitly; faster ones are lumped into one
    # Li diffusion slows in a nearly fully lithiated layered oxide: below slow_diffusion_soc (at the particle
    # surface) D falls smoothly to lithiated_diffusion_ratio x D at SOC 0. None: the material family's
    # (NMC622 0.01; LFP and glass 1, no slowing).
    slow_diffusion_soc: float = 0.15
    lithiated_diffusion_ratio: float | None = None
    # First-cycle losses (operando.simulators.cell.degradation). Contact loss: fraction of the active
    # material cut off from the electrolyte by the time it is charged to SOC 0.64 (4.3 V vs Li for NMC622) at
    # negligible stack pressure; None: the material family's (NMC622 0.35; LFP and glass 0, not modelled).
    contact_loss: float | None = None
    decohesion_onset_soc: float = 0.55  # SOC from which a pristine-assembled electrode starts losing contact
    holding_pressure: float = 5e6  # Pa of stack pressure that halves the contact loss
    # LPS oxidation: parasitic current at 4.3 V vs Li on a fresh interface, per coulomb of capacity (1/s;
    # 1 / (100 * 3600) is C/100), its Tafel slope (V per decade), and the parasitic charge (fraction of the
    # capacity) whose passivating products halve its rate.
    electrolyte_oxidation_rate: float = 1.0 / (100 * 3600)
    electrolyte_oxidation_tafel_slope: float = 0.25
    passivation_fraction: float = 0.02

    def __post_init__(self) -> None:
        if self.ocv_curve is not None:
            if not isinstance(self.ocv_curve, str) or not self.ocv_curve.strip():
                raise ValueError(f"ocv_curve: expected the path of a CSV file, got {self.ocv_curve!r}")
            load_ocv_curve(self.ocv_curve)
        elif not isinstance(self.material, str) or self.material.strip().lower() not in _FAMILY_KEYS:
            raise ValueError(
                f"material: unknown OCV curve family {self.material!r}; choose one of {', '.join(SUPPORTED)}"
            )
        family = FAMILY_DEFAULTS.get(self.material.strip().lower(), {})
        for name, otherwise in (("contact_loss", 0.0), ("lithiated_diffusion_ratio", 1.0)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, family.get(name, otherwise))
        positive = (
            "capacity", "stack_pressure", "reference_series_resistance", "reference_pressure",
            "charge_transfer_resistance", "double_layer_capacitance", "particle_radius",
            "diffusion_coefficient", "temperature", "holding_pressure", "electrolyte_oxidation_tafel_slope",
            "passivation_fraction", "slow_diffusion_soc", "lithiated_diffusion_ratio",
        )
        non_negative = ("pressure_exponent", "cable_inductance", "voltage_noise", "current_noise",
                        "activation_energy", "contact_loss", "electrolyte_oxidation_rate")
        for name in positive + non_negative + ("counter_potential", "initial_soc", "decohesion_onset_soc"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number, got {value!r}")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)!r}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)!r}")
        if not 0.0 <= self.initial_soc <= 1.0:
            raise ValueError(f"initial_soc: must be between 0 and 1, got {self.initial_soc!r}")
        if self.lithiated_diffusion_ratio > 1.0:
            raise ValueError("lithiated_diffusion_ratio: must be at most 1 (diffusion slows, never speeds "
                             f"up), got {self.lithiated_diffusion_ratio!r}")
        if self.contact_loss > 1.0:
            raise ValueError(f"contact_loss: must be a fraction from 0 to 1, got {self.contact_loss!r}")
        if not 0.0 < self.decohesion_onset_soc < CONTACT_REFERENCE_SOC:
            raise ValueError(f"decohesion_onset_soc: must be between 0 and {CONTACT_REFERENCE_SOC}, "
                             f"got {self.decohesion_onset_soc!r}")
        if isinstance(self.diffusion_modes, bool) or not isinstance(self.diffusion_modes, int) or not (
            1 <= self.diffusion_modes <= 200
        ):
            raise ValueError(
                f"diffusion_modes: must be an integer from 1 to 200, got {self.diffusion_modes!r}"
            )

    def arrhenius(self) -> float:
        """Rate factor at ``temperature`` relative to 298.15 K (>1 when warmer)."""
        inverse_difference = 1 / self.temperature - 1 / REFERENCE_TEMPERATURE
        return math.exp(-self.activation_energy / GAS_CONSTANT * inverse_difference)

    @property
    def series_resistance(self) -> float:
        """Ohm: electrolyte and contacts at this stack pressure and temperature."""
        pressure_ratio = self.reference_pressure / self.stack_pressure
        base = self.reference_series_resistance * pressure_ratio**self.pressure_exponent
        return base / self.arrhenius()

    @classmethod
    def from_cell(cls, cell: CellSummary, **overrides: Any) -> CellParameters:
        """Parameters for the cell a protocol describes; ``overrides`` set any field by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"unknown cell parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {
            "counter_potential": cell.counter_potential,
            "initial_soc": cell.initial_soc,
        }
        if "material" not in overrides:
            values["material"] = cell.material if overrides.get("ocv_curve") else material_family(cell.material)
        if "capacity" not in overrides:
            if cell.capacity is None:
                raise ValueError(f"capacity: cell {cell.name!r} has no capacity; give one or pass capacity=")
            values["capacity"] = cell.capacity
        values.update(overrides)
        return cls(**values)  # not replace(cls(), ...): family defaults must follow the material


_FAMILY_KEYS = {family.lower() for family in SUPPORTED}


def material_family(material: str) -> str:
    """The OCV curve family for an active-material name ("NMC622", "LiFePO4", "NVP", "vanadate glass", ...);
    raises operando.ocv.NoOcvCurve (naming cell.material and what is supported) when there is none."""
    return simulated_family(material)
