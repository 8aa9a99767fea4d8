"""A symmetric Li | LPS | Li cell for plating/stripping: no EMF, ohmic LPS plus Butler-Volmer at both interfaces.

Measured voltage (working vs counter Li) at a current I (A, negative plates Li on the working electrode):
    V(I) = I R_LPS + 2 (2 R T / F) asinh(I / (2 i0 A)),   R_LPS = L / (sigma A),
the symmetric (alpha = 0.5) Butler-Volmer overpotential of each of the two identical Li/LPS interfaces plus the
electrolyte's ohmic drop. The response is quasi-static (no double-layer lag: its time constant, R_ct C_dl of
about a millisecond, is far below any recording interval). A short circuit (a lithium filament through the LPS)
is an injectable fault: a resistance in parallel with the cell, which takes the current and collapses the voltage
to I R_short. Ground truth: the lithium charge plated on the working electrode so far.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from operando.simulators.cell.model import Reading
from operando.simulators.cell.parameters import GAS_CONSTANT, REFERENCE_TEMPERATURE
from operando.simulators.state import StateError, decode_random, encode_random, number
from scipy.optimize import brentq

FARADAY = 96485.33212  # C/mol
THESIS_DISK_AREA = math.pi * (2.5e-3) ** 2  # m^2, a 5 mm Li disk (0.196 cm^2)


@dataclass(frozen=True)
class SymmetricParameters:
    """The Li | LPS | Li cell, SI units; defaults: the thesis's 5 mm disks on an amorphous Li3PS4 pellet."""

    electrode_area: float = THESIS_DISK_AREA  # m^2
    electrolyte_thickness: float = 500e-6  # m of LPS between the disks
    electrolyte_conductivity: float = 0.02  # S/m (0.2 mS/cm, amorphous Li3PS4 at room temperature)
    exchange_current_density: float = 0.5  # A/m^2 (0.05 mA/cm^2) at each Li/LPS interface
    temperature: float = REFERENCE_TEMPERATURE  # K
    double_layer_capacitance: float = 2.0e-6  # F per interface, for the impedance only
    cable_inductance: float = 2.0e-6  # H, the microscope feed-through's cables
    voltage_noise: float = 50e-6  # V, standard deviation of the measured potential
    current_noise: float = 0.5e-9  # A, standard deviation of the measured current

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number, got {value!r}")
            if value < 0 or (value == 0 and name not in ("cable_inductance", "voltage_noise", "current_noise")):
                raise ValueError(f"{name}: must be positive, got {value!r}")

    @property
    def electrolyte_resistance(self) -> float:
        """Ohm through the LPS: L / (sigma A)."""
        return self.electrolyte_thickness / (self.electrolyte_conductivity * self.electrode_area)

    @property
    def exchange_current(self) -> float:
        """A at each interface: i0 A."""
        return self.exchange_current_density * self.electrode_area

    @property
    def interface_voltage_scale(self) -> float:
        """V: 2 R T / F, the Butler-Volmer scale of a symmetric (alpha = 0.5) interface."""
        return 2.0 * GAS_CONSTANT * self.temperature / FARADAY


class SymmetricCell:
    """A Li | LPS | Li cell driven interval by interval like :class:`SimulatedCell`; readings noisy and seeded."""

    def __init__(self, params: SymmetricParameters, seed: int = 0) -> None:
        self.params = params
        self._random = random.Random(seed)
        self._resistance = params.electrolyte_resistance
        self._exchange = params.exchange_current
        self._scale = params.interface_voltage_scale
        self.time = 0.0
        self._current = 0.0  # A through the terminals
        self._plated = 0.0  # C of Li plated on the working electrode (through the cell, not the short)
        self._short: float | None = None  # ohm, the short circuit's resistance when one is injected

    # -- ground truth -----------------------------------------------------------------------------------------
    @property
    def soc(self) -> float:
        """Nothing intercalates: 0 (what the SEM's evolution reads)."""
        return 0.0

    @property
    def ocv(self) -> float:
        """V: the same metal on both sides, no EMF."""
        return 0.0

    @property
    def current(self) -> float:
        """Noise-free current through the terminals now (A, positive strips Li from the working electrode)."""
        return self._current

    @property
    def cell_current(self) -> float:
        """A through the LPS (the rest goes through the short circuit, if any)."""
        return self._cell_current_at(self.voltage) if self._short is not None else self._current

    @property
    def voltage(self) -> float:
        """Noise-free measured voltage now (V, working vs counter)."""
        if self._short is None:
            return self.voltage_at(self._current)
        return self._shorted_voltage(self._current)

    @property
    def plated_charge(self) -> float:
        """C of lithium plated on the working electrode so far (negative: net stripped)."""
        return self._plated

    @property
    def short_resistance(self) -> float | None:
        """Ohm of the injected short circuit, or None."""
        return self._short

    def overpotential(self, current: float) -> float:
        """V the intact cell needs to pass ``current`` A: ohmic plus both interfaces' Butler-Volmer terms."""
        return self.voltage_at(current)

    def voltage_at(self, current: float) -> float:
        """V(I) of the intact cell."""
        return current * self._resistance + 2.0 * self._scale * math.asinh(current / (2.0 * self._exchange))

    # -- faults -----------------------------------------------------------------------------------------------
    def short_circuit(self, resistance: float = 1.0) -> None:
        """Inject a short circuit (a lithium filament through the LPS) of ``resistance`` ohm, in parallel."""
        if isinstance(resistance, bool) or not isinstance(resistance, int | float) or not (
                math.isfinite(resistance) and resistance > 0):
            raise ValueError(f"resistance: must be a finite positive number of ohm, got {resistance!r}")
        self._short = float(resistance)

    def clear_short(self) -> None:
        """Remove an injected short circuit."""
        self._short = None

    # -- driving the cell ---------------------------------------------------------------------------------------
    def rest(self, dt: float) -> Reading:
        """Open circuit for ``dt`` s."""
        return self.apply_current(0.0, dt)

    def apply_current(self, current: float, dt: float) -> Reading:
        """Galvanostatic: ``current`` A (negative plates on the working electrode) for ``dt`` s."""
        _check("current", current)
        _check_dt(dt)
        self._current = float(current)
        self._advance(dt)
        return self._read()

    def apply_voltage(self, voltage: float, dt: float) -> Reading:
        """Potentiostatic: hold ``voltage`` V for ``dt`` s; the current follows from V(I)."""
        _check("voltage", voltage)
        _check_dt(dt)
        current = self._cell_current_at(float(voltage))
        if self._short is not None:
            current += voltage / self._short
        self._current = current
        self._advance(dt)
        return self._read()

    def impedance(self, frequencies: np.ndarray) -> np.ndarray:
        """Complex impedance (ohm) at ``frequencies`` (Hz, > 0) about the present current."""
        f = np.asarray(frequencies, dtype=float)
        if f.size and not (np.all(np.isfinite(f)) and np.all(f > 0)):
            raise ValueError(f"frequencies: must be finite and positive (Hz), got {f!r}")
        omega = 2.0 * np.pi * f
        i = self.cell_current
        # dV/dI of one interface: (2RT/F) / sqrt((2 I0)^2 + I^2).
        r_ct = self._scale / math.sqrt((2.0 * self._exchange) ** 2 + i * i)
        z_cell = self._resistance + 2.0 * r_ct / (1.0 + 1j * omega * r_ct * self.params.double_layer_capacitance)
        if self._short is not None:
            z_cell = z_cell * self._short / (z_cell + self._short)
        return 1j * omega * self.params.cable_inductance + z_cell

    # -- saving and restoring ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state (time, current, plated charge, short, noise generator) as JSON values."""
        return {"kind": "symmetric", "time": self.time, "current": self._current, "plated": self._plated,
                "short": self._short, "noise": encode_random(self._random)}

    def restore(self, state: dict[str, Any]) -> None:
        """Put the cell back in a state :meth:`snapshot` saved; changes nothing if the state is not one."""
        if not isinstance(state, dict) or state.get("kind") != "symmetric":
            raise StateError("cell: not a saved symmetric Li | LPS | Li cell")
        values = {key: number(state, key, "cell") for key in ("time", "current", "plated")}
        short = state.get("short")
        if short is not None and not (isinstance(short, int | float) and math.isfinite(short) and short > 0):
            raise StateError(f"cell.short: expected None or a positive resistance, got {short!r}")
        noise = decode_random(state.get("noise"), "cell.noise")
        self._random.setstate(noise)
        self.time, self._current, self._plated = values["time"], values["current"], values["plated"]
        self._short = None if short is None else float(short)

    # -- internals ------------------------------------------------------------------------------------------------
    def _cell_current_at(self, voltage: float) -> float:
        """A through the intact cell at ``voltage`` V: the inverse of V(I), which rises monotonically."""
        if voltage == 0.0:
            return 0.0
        bound = abs(voltage) / self._resistance  # the ohmic term alone would pass this much
        return brentq(lambda i: self.voltage_at(i) - voltage, -bound, bound, xtol=1e-18, rtol=1e-12)

    def _shorted_voltage(self, current: float) -> float:
        """V across the cell and the short in parallel when ``current`` A is driven through both."""
        assert self._short is not None
        if current == 0.0:
            return 0.0
        short = self._short
        # The short's voltage I R_short bounds the root: the cell takes a part of the current, never more.
        return brentq(lambda v: v / short + self._cell_current_at(v) - current,
                      min(0.0, current * short), max(0.0, current * short), xtol=1e-15, rtol=1e-12)

    def _advance(self, dt: float) -> None:
        self._plated -= self.cell_current * dt
        self.time += dt

    def _read(self) -> Reading:
        e_true, i_true = self.voltage, self._current
        p, gauss = self.params, self._random.gauss
        return Reading(E_we=e_true + gauss(0.0, p.voltage_noise) if p.voltage_noise else e_true,
                       I=i_true + gauss(0.0, p.current_noise) if p.current_noise else i_true,
                       E_true=e_true, I_true=i_true)


def _check(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")


def _check_dt(dt: float) -> None:
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not math.isfinite(dt) or dt < 0:
        raise ValueError(f"dt: must be a finite, non-negative duration in s, got {dt!r}")
