"""The simulated solid-state cell: OCV(surface SOC) + series R + charge-transfer R||C + spherical diffusion,
with the first-cycle losses of :mod:`operando.simulators.cell.degradation` (contact loss, LPS oxidation).

Measured potential E_we = OCV(surface SOC) + I R_series + v_ct - counter_potential, where v_ct is the voltage
on the charge-transfer R||C and the surface SOC leads the mean SOC of the connected particles by the diffusion
modes of :mod:`operando.simulators.cell.diffusion`. Of the current I that passes, the electrolyte's oxidation
takes I_ox (no delithiation); the rest, I - I_ox, (de)intercalates the connected particles only, so their SOC
moves by (I - I_ox) dt / (Q (1 - isolated)). Particles cut off keep the SOC they had when isolated.
The current is held constant over each call's interval and every state is advanced by its exact exponential
solution (the oxidation by its exact passivation law at the interval's starting potential), so any dt
(1 ms .. 600 s) is stable; a potentiostatic interval solves for the constant current that ends exactly at the
set voltage (backward, hence stable), split into sub-intervals of at most 10 s so a long hold stays accurate.
Plain Python floats and cached per-dt constants keep a call near 10 us.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
from operando.simulators.cell.degradation import ContactLoss, ElectrolyteOxidation
from operando.simulators.cell.diffusion import residual_weight, sphere_eigenvalues, surface_response
from operando.simulators.cell.ocv_families import load_ocv_curve, simulated_curve, simulated_family
from operando.simulators.cell.parameters import CONTACT_REFERENCE_SOC, CellParameters
from operando.simulators.state import StateError, decode_array, decode_random, encode_array, encode_random, number

from operando.ocv import OcvCurve

_POTENTIOSTATIC_SUBSTEP = 10.0  # s
# Per interval: mode decays, mode gains, their sum, R||C decay, R||C gain.
_Constants = tuple[tuple[float, ...], tuple[float, ...], float, float, float]


@dataclass(frozen=True)
class Reading:
    """What the potentiostat reads at the end of an interval, with and without noise."""

    E_we: float  # V as the potentiostat measures it (vs the counter electrode), with noise
    I: float  # A, positive = charge (oxidation of the working electrode), with noise
    E_true: float  # noise-free
    I_true: float


class SimulatedCell:
    """A solid-state cell advanced interval by interval; ground truth readable, readings noisy and seeded."""

    def __init__(self, params: CellParameters, seed: int = 0) -> None:
        self.params = params
        self._random = random.Random(seed)
        self._curve: OcvCurve = (load_ocv_curve(params.ocv_curve) if params.ocv_curve is not None  # type: ignore[assignment]
                                 else simulated_curve(simulated_family(params.material)))
        rate = params.arrhenius()
        self._capacity = params.capacity
        self._counter = params.counter_potential
        self._radius = params.particle_radius
        self._diffusion = params.diffusion_coefficient * rate
        self._series = params.series_resistance
        self._charge_transfer = params.charge_transfer_resistance / rate
        self._rc_time = self._charge_transfer * params.double_layer_capacitance
        eigenvalues = sphere_eigenvalues(params.diffusion_modes + 1)
        kept, first_omitted = eigenvalues[:-1], eigenvalues[-1]
        self._mode_rates = [x * x * self._diffusion / self._radius**2 for x in kept]
        # Steady surface lead per ampere and per coulomb of connected capacity for each mode: 2 / (3 k_n).
        self._mode_gains = [2.0 / (3.0 * k) for k in self._mode_rates]
        # The faster modes lumped into one, relaxing at the first omitted mode's rate with their summed steady
        # lead: the steady lead stays exact, and the surface never jumps when the diffusivity changes.
        self._mode_rates.append(first_omitted**2 * self._diffusion / self._radius**2)
        self._mode_gains.append(2.0 * self._radius**2 / (3.0 * self._diffusion) * residual_weight(kept))
        self._step_cache: dict[float, _Constants] = {}
        self._slow_soc = params.slow_diffusion_soc
        self._lithiated_ratio = params.lithiated_diffusion_ratio
        self._diffusion_factor = 1.0  # D(surface SOC) / D over the last interval
        self._contact = ContactLoss(params.contact_loss, params.decohesion_onset_soc, CONTACT_REFERENCE_SOC,
                                    params.initial_soc, params.stack_pressure, params.holding_pressure)
        self._oxidation = ElectrolyteOxidation(
            params.electrolyte_oxidation_rate * self._capacity, 4.3, params.electrolyte_oxidation_tafel_slope,
            params.passivation_fraction * self._capacity)
        self.time = 0.0
        self._counted_soc = params.initial_soc
        self._soc = params.initial_soc  # mean SOC of the connected particles
        self._peak_soc = params.initial_soc
        self._connected = 1.0  # fraction of the active material still in contact
        self._connected_capacity = self._capacity
        self._isolated_charge = 0.0  # isolated fraction x the SOC each part had when cut off
        self._parasitic_charge = 0.0  # C
        self._modes = [0.0] * len(self._mode_rates)
        self._rc_voltage = 0.0
        self._current = 0.0
        self._intercalation = 0.0  # A into the connected particles: current minus the parasitic one

    # -- ground truth -------------------------------------------------------------------------------------
    @property
    def soc(self) -> float:
        """SOC counted from the charge passed (initial_soc + Q_passed / capacity): what the potentiostat's
        coulomb count says. Includes the parasitic charge; the material's own SOC is ``material_soc``."""
        return self._counted_soc

    @property
    def connected_soc(self) -> float:
        """Mean SOC of the particles still in contact with the electrolyte: the ones the voltage reflects."""
        return self._soc

    @property
    def material_soc(self) -> float:
        """True mean SOC of all the active material, connected and isolated (0..1 of capacity)."""
        return self._connected * self._soc + self._isolated_charge

    @property
    def isolated_fraction(self) -> float:
        """Fraction of the active material cut off by NMC/LPS contact loss; never decreases."""
        return 1.0 - self._connected

    @property
    def isolated_soc(self) -> float:
        """Mean SOC the isolated material was left at (0 when none is isolated)."""
        isolated = 1.0 - self._connected
        return self._isolated_charge / isolated if isolated > 0.0 else 0.0

    @property
    def parasitic_charge(self) -> float:
        """C passed into the electrolyte's oxidation: counted by the potentiostat, delithiating nothing."""
        return self._parasitic_charge

    @property
    def parasitic_current(self) -> float:
        """A going into the electrolyte's oxidation now (included in ``current``)."""
        return self._current - self._intercalation

    @property
    def surface_soc(self) -> float:
        """SOC at the surface of the connected particles; leads their mean under current (solid diffusion)."""
        return self._soc + sum(self._modes)

    @property
    def ocv(self) -> float:
        """Equilibrium potential of the connected material, V as measured (vs the counter electrode)."""
        return self._curve.value(self._soc) - self._counter

    @property
    def voltage(self) -> float:
        """Noise-free measured potential now (V vs the counter electrode)."""
        return (self._curve.value(self.surface_soc) + self._current * self._series + self._rc_voltage
                - self._counter)

    @property
    def current(self) -> float:
        """Noise-free current flowing now (A, positive = charge)."""
        return self._current

    @property
    def diffusion_coefficient(self) -> float:
        """m^2/s at the cell temperature."""
        return self._diffusion

    @property
    def particle_radius(self) -> float:
        return self._radius

    @property
    def series_resistance(self) -> float:
        """Ohm at the present stack pressure and temperature."""
        return self._series

    @property
    def charge_transfer_resistance(self) -> float:
        return self._charge_transfer

    @property
    def capacity(self) -> float:
        """C, theoretical capacity of the active mass."""
        return self._capacity

    def ocv_at(self, soc: float) -> float:
        """Equilibrium potential at ``soc``, V as measured (vs the counter electrode)."""
        return self._curve.value(soc) - self._counter

    def soc_at(self, voltage: float) -> float:
        """The SOC whose equilibrium potential is ``voltage`` (V as measured)."""
        return self._curve.soc_at(voltage + self._counter)

    # -- saving and restoring (a resumed simulated run) -----------------------------------------------------
    _SAVED = ("time", "_counted_soc", "_soc", "_peak_soc", "_connected", "_isolated_charge", "_parasitic_charge",
              "_rc_voltage", "_current", "_intercalation", "_diffusion_factor")

    def snapshot(self) -> dict[str, Any]:
        """Every state variable (SOCs, contact loss, parasitic charge, diffusion modes, R||C voltage, noise
        generator) as JSON values; :meth:`restore` on a cell of the same parameters continues identically."""
        state: dict[str, Any] = {name.lstrip("_"): getattr(self, name) for name in self._SAVED}
        state["modes"] = encode_array(self._modes)
        state["noise"] = encode_random(self._random)
        state["capacity"] = self._capacity
        return state

    def restore(self, state: dict[str, Any]) -> None:
        """Put the cell back in a state :meth:`snapshot` saved; refuses one of a cell of another capacity or
        diffusion model (the parameters come from the run's own rig config), changing nothing then."""
        if not isinstance(state, dict):
            raise StateError(f"cell: expected a saved state, got {type(state).__name__}")
        capacity = number(state, "capacity", "cell")
        if not math.isclose(capacity, self._capacity, rel_tol=1e-12):
            raise StateError(f"cell.capacity: the saved cell holds {capacity:.6g} C, this one {self._capacity:.6g} C")
        values = {name: number(state, name.lstrip("_"), "cell") for name in self._SAVED}
        modes = decode_array(state.get("modes"), "cell.modes", (len(self._modes),))
        noise = decode_random(state.get("noise"), "cell.noise")
        if not 0.0 < values["_connected"] <= 1.0:
            raise StateError(f"cell.connected: expected a fraction in (0, 1], got {values['_connected']!r}")
        try:
            self._random.setstate(noise)
        except (TypeError, ValueError) as exc:
            raise StateError(f"cell.noise: not a random generator state ({exc})") from None
        for name, value in values.items():
            setattr(self, name, value)
        self._modes = [float(m) for m in modes]
        self._connected_capacity = self._capacity * self._connected

    # -- driving the cell ---------------------------------------------------------------------------------
    def rest(self, dt: float) -> Reading:
        """Open circuit for ``dt`` s."""
        return self.apply_current(0.0, dt)

    def apply_current(self, current: float, dt: float) -> Reading:
        """Galvanostatic: ``current`` A (positive charges) for ``dt`` s."""
        _check("current", current)
        _check_dt(dt)
        self._advance(float(current), dt, self._parasitic(dt), self._diffusion_factor_now())
        return self._read()

    def apply_voltage(self, voltage: float, dt: float) -> Reading:
        """Potentiostatic: hold ``voltage`` V (as measured) for ``dt`` s; the current is solved for."""
        _check("voltage", voltage)
        _check_dt(dt)
        steps = max(1, math.ceil(dt / _POTENTIOSTATIC_SUBSTEP))
        sub_dt = dt / steps
        for _ in range(steps):
            parasitic, factor = self._parasitic(sub_dt), self._diffusion_factor_now()
            current = self._current_for(float(voltage), sub_dt, parasitic, factor)
            self._advance(current, sub_dt, parasitic, factor)
        return self._read()

    def impedance(self, frequencies: np.ndarray) -> np.ndarray:
        """Complex impedance (ohm) at ``frequencies`` (Hz, > 0) about the present state."""
        f = np.asarray(frequencies, dtype=float)
        if f.size and not (np.all(np.isfinite(f)) and np.all(f > 0)):
            raise ValueError(f"frequencies: must be finite and positive (Hz), got {f!r}")
        omega = 2.0 * np.pi * f
        slope = self._curve.slope(self.surface_soc)
        interface = self._charge_transfer / (1.0 + 1j * omega * self._rc_time)
        diffusion = slope * surface_response(f, self._radius, self._diffusion * self._diffusion_factor_now(),
                                             self._connected_capacity)
        return 1j * omega * self.params.cable_inductance + self._series + interface + diffusion

    # -- internals ----------------------------------------------------------------------------------------
    def _constants(self, dt: float, factor: float) -> _Constants:
        """Decay factors and gains (per coulomb of connected capacity) over ``dt`` with the diffusion
        coefficient scaled by ``factor``; cached at full diffusivity, where a run spends most calls."""
        cached = self._step_cache.get(dt) if factor == 1.0 else None
        if cached is None:
            decays = tuple(math.exp(-k * factor * dt) for k in self._mode_rates)
            gains = tuple(g / factor * (1.0 - e) for g, e in zip(self._mode_gains, decays, strict=True))
            rc_decay = math.exp(-dt / self._rc_time)
            cached = (decays, gains, sum(gains), rc_decay,
                      self._charge_transfer * (1.0 - rc_decay))
            if factor == 1.0:
                if len(self._step_cache) > 256:
                    self._step_cache.clear()
                self._step_cache[dt] = cached
        return cached

    def _diffusion_factor_now(self) -> float:
        """D(surface SOC) / D: Li diffusion in a nearly fully lithiated layered oxide is orders of magnitude
        slower, so a lithiated surface shell throttles the end of a discharge (and not a charge, whose surface
        is the less lithiated side)."""
        surface = self.surface_soc
        if surface >= self._slow_soc:
            return 1.0
        u = max(surface, 0.0) / self._slow_soc
        return self._lithiated_ratio + (1.0 - self._lithiated_ratio) * u * u * (3.0 - 2.0 * u)

    def _parasitic(self, dt: float) -> float:
        """Mean oxidation current (A) over the next ``dt`` s at the present cathode potential; books it."""
        potential = self._curve.value(self.surface_soc) + self._rc_voltage  # V vs metal, at the interface
        if dt == 0.0:
            return self._oxidation.current(potential, self._parasitic_charge)
        after = self._oxidation.charge_after(potential, self._parasitic_charge, dt)
        current = (after - self._parasitic_charge) / dt
        self._parasitic_charge = after
        return current

    def _advance(self, current: float, dt: float, parasitic: float, factor: float) -> None:
        decays, gains, _, rc_decay, rc_gain = self._constants(dt, factor)
        self._diffusion_factor = factor
        intercalation = current - parasitic
        capacity = self._connected_capacity
        self._counted_soc += current * dt / self._capacity
        self._soc += intercalation * dt / capacity
        modes = self._modes
        for n in range(len(modes)):
            modes[n] = modes[n] * decays[n] + gains[n] * intercalation / capacity
        self._rc_voltage = self._rc_voltage * rc_decay + rc_gain * intercalation
        self._current = current
        self._intercalation = intercalation
        self.time += dt
        if self._soc > self._peak_soc:
            self._peak_soc = self._soc
            connected = 1.0 - self._contact.isolated(self._soc)
            if connected < self._connected:
                # Particles cut off now keep the connected mean SOC; the mean of those left is unchanged.
                self._isolated_charge += (self._connected - connected) * self._soc
                self._connected = connected
                self._connected_capacity = self._capacity * connected

    def _current_for(self, voltage: float, dt: float, parasitic: float, factor: float) -> float:
        """The constant current over ``dt`` that ends at ``voltage`` (as measured), ``parasitic`` A of it
        going into the electrolyte's oxidation."""
        decays, _, gain_sum, rc_decay, rc_gain = self._constants(dt, factor)
        capacity = self._connected_capacity
        # End state is affine in the intercalation current J = I - I_ox: surface SOC = a + b J, and the
        # potential over the interface and the series resistance = c + d J.
        a = self._soc + sum(m * e for m, e in zip(self._modes, decays, strict=True))
        b = (dt + gain_sum) / capacity
        c = self._rc_voltage * rc_decay + parasitic * self._series
        d = rc_gain + self._series
        target = voltage + self._counter - c
        curve = self._curve

        def error(current: float) -> float:
            return curve.value(a + b * current) + d * current - target

        # Newton from the present current, kept inside a bracket that widens until it holds the root.
        current = self._intercalation
        low, high = current - 1e-6, current + 1e-6
        while error(low) > 0:
            low -= 2.0 * (high - low)
        while error(high) < 0:
            high += 2.0 * (high - low)
        for _ in range(100):
            value = error(current)
            if value > 0:
                high = current
            else:
                low = current
            guess = current - value / (curve.slope(a + b * current) * b + d)
            if not low < guess < high:
                guess = 0.5 * (low + high)
            if abs(guess - current) <= 1e-15 + 1e-10 * abs(guess):
                return guess + parasitic
            current = guess
        return current + parasitic

    def _read(self) -> Reading:
        e_true = self.voltage
        i_true = self._current
        p = self.params
        gauss = self._random.gauss
        return Reading(E_we=e_true + gauss(0.0, p.voltage_noise) if p.voltage_noise else e_true,
                       I=i_true + gauss(0.0, p.current_noise) if p.current_noise else i_true,
                       E_true=e_true, I_true=i_true)


def _check(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")


def _check_dt(dt: float) -> None:
    if isinstance(dt, bool) or not isinstance(dt, Real) or not math.isfinite(dt) or dt < 0:
        raise ValueError(f"dt: must be a finite, non-negative duration in s, got {dt!r}")
