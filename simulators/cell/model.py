"""The simulated solid-state cell: OCV(surface SOC) + series R + charge-transfer R||C + spherical diffusion.

Measured potential E_we = OCV(surface SOC) + I R_series + v_ct - counter_potential, where v_ct is the voltage
on the charge-transfer R||C and the surface SOC leads the mean SOC by the diffusion modes of
:mod:`operando.simulators.cell.diffusion`. The current is held constant over each call's interval and every
state is advanced by its exact exponential solution, so any dt (1 ms .. 600 s) is stable and exact for a
constant current; a potentiostatic interval solves for the constant current that ends exactly at the set
voltage (backward, hence stable), split into sub-intervals of at most 10 s so a long hold stays accurate.
Plain Python floats and cached per-dt constants keep a call near 10 us.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from numbers import Real

import numpy as np
from operando.simulators.cell.diffusion import residual_weight, sphere_eigenvalues, surface_response
from operando.simulators.cell.parameters import CellParameters

from operando.ocv import OcvCurve, curve_for

_POTENTIOSTATIC_SUBSTEP = 10.0  # s


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
        curve = curve_for(params.material)
        assert curve is not None, "CellParameters validated the family"
        self._curve: OcvCurve = curve
        rate = params.arrhenius()
        self._capacity = params.capacity
        self._counter = params.counter_potential
        self._radius = params.particle_radius
        self._diffusion = params.diffusion_coefficient * rate
        self._series = params.series_resistance
        self._charge_transfer = params.charge_transfer_resistance / rate
        self._rc_time = self._charge_transfer * params.double_layer_capacitance
        eigenvalues = sphere_eigenvalues(params.diffusion_modes)
        self._mode_rates = [x * x * self._diffusion / self._radius**2 for x in eigenvalues]
        # Steady surface lead per ampere for each mode: 2 / (3 Q k_n).
        self._mode_gains = [2.0 / (3.0 * self._capacity * k) for k in self._mode_rates]
        self._quasi_static_gain = (
            2.0 * self._radius**2 / (3.0 * self._capacity * self._diffusion) * residual_weight(eigenvalues)
        )
        self._step_cache: dict[float, tuple[tuple[float, ...], tuple[float, ...], float, float, float]] = {}
        self.time = 0.0
        self._soc = params.initial_soc
        self._modes = [0.0] * len(self._mode_rates)
        self._rc_voltage = 0.0
        self._current = 0.0

    # -- ground truth -------------------------------------------------------------------------------------
    @property
    def soc(self) -> float:
        """Mean state of charge, 0..1 of capacity."""
        return self._soc

    @property
    def surface_soc(self) -> float:
        """SOC at the particle surface; leads the mean under current because of solid diffusion."""
        return self._soc + sum(self._modes) + self._quasi_static_gain * self._current

    @property
    def ocv(self) -> float:
        """Equilibrium potential at the present mean SOC, V as measured (vs the counter electrode)."""
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

    # -- driving the cell ---------------------------------------------------------------------------------
    def rest(self, dt: float) -> Reading:
        """Open circuit for ``dt`` s."""
        return self.apply_current(0.0, dt)

    def apply_current(self, current: float, dt: float) -> Reading:
        """Galvanostatic: ``current`` A (positive charges) for ``dt`` s."""
        _check("current", current)
        _check_dt(dt)
        self._advance(float(current), dt)
        return self._read()

    def apply_voltage(self, voltage: float, dt: float) -> Reading:
        """Potentiostatic: hold ``voltage`` V (as measured) for ``dt`` s; the current is solved for."""
        _check("voltage", voltage)
        _check_dt(dt)
        steps = max(1, math.ceil(dt / _POTENTIOSTATIC_SUBSTEP))
        sub_dt = dt / steps
        for _ in range(steps):
            self._advance(self._current_for(float(voltage), sub_dt), sub_dt)
        return self._read()

    def impedance(self, frequencies: np.ndarray) -> np.ndarray:
        """Complex impedance (ohm) at ``frequencies`` (Hz, > 0) about the present state."""
        f = np.asarray(frequencies, dtype=float)
        if f.size and not (np.all(np.isfinite(f)) and np.all(f > 0)):
            raise ValueError(f"frequencies: must be finite and positive (Hz), got {f!r}")
        omega = 2.0 * np.pi * f
        slope = self._curve.slope(self.surface_soc)
        interface = self._charge_transfer / (1.0 + 1j * omega * self._rc_time)
        diffusion = slope * surface_response(f, self._radius, self._diffusion, self._capacity)
        return 1j * omega * self.params.cable_inductance + self._series + interface + diffusion

    # -- internals ----------------------------------------------------------------------------------------
    def _constants(self, dt: float) -> tuple[tuple[float, ...], tuple[float, ...], float, float, float]:
        """Per-dt decay factors and gains, cached because a run reuses a handful of intervals."""
        cached = self._step_cache.get(dt)
        if cached is None:
            decays = tuple(math.exp(-k * dt) for k in self._mode_rates)
            gains = tuple(g * (1.0 - e) for g, e in zip(self._mode_gains, decays, strict=True))
            rc_decay = math.exp(-dt / self._rc_time)
            cached = (decays, gains, sum(gains), rc_decay, self._charge_transfer * (1.0 - rc_decay))
            if len(self._step_cache) > 256:
                self._step_cache.clear()
            self._step_cache[dt] = cached
        return cached

    def _advance(self, current: float, dt: float) -> None:
        decays, gains, _, rc_decay, rc_gain = self._constants(dt)
        self._soc += current * dt / self._capacity
        modes = self._modes
        for n in range(len(modes)):
            modes[n] = modes[n] * decays[n] + gains[n] * current
        self._rc_voltage = self._rc_voltage * rc_decay + rc_gain * current
        self._current = current
        self.time += dt

    def _current_for(self, voltage: float, dt: float) -> float:
        """The constant current over ``dt`` that ends at ``voltage`` (as measured)."""
        decays, _, gain_sum, rc_decay, rc_gain = self._constants(dt)
        # End state is affine in the current: surface SOC = a + b I, interface voltage = c + d I.
        a = self._soc + sum(m * e for m, e in zip(self._modes, decays, strict=True))
        b = dt / self._capacity + gain_sum + self._quasi_static_gain
        c = self._rc_voltage * rc_decay
        d = rc_gain + self._series
        target = voltage + self._counter - c
        curve = self._curve

        def error(current: float) -> float:
            return curve.value(a + b * current) + d * current - target

        # Newton from the present current, kept inside a bracket that widens until it holds the root.
        current = self._current
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
                return guess
            current = guess
        return current

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
