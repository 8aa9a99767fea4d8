"""A solid-electrolyte CV cell: LPS-carbon composite against Li-In, oxidised above and reduced below its window.

The LPS-carbon electrode is a double-layer capacitance C with two faradaic decompositions of the LPS at the
carbon. Oxidation (Li3PS4 -> S, P2S5, Li+ + e-) follows a Tafel law above E_ox (2.5 V vs Li), reduction
(Li3PS4 + 8 Li -> Li2S + Li3P) one below E_red (1.7 V vs Li); between them the electrolyte is stable and only the
capacitive current C dE/dt flows. Each decomposition's products passivate the carbon/LPS contact, its rate falling
as exp(-q / q_pass) with q the charge it has passed:
    I_ox = I_on exp((E - E_ox) / e) exp(-q_ox / q_pass),   I_red = -I_on exp((E_red - E) / e) exp(-q_red / q_pass),
with e the potential per e-fold. At a fixed potential exp(q / q_pass) grows linearly in time, so each interval
integrates exactly; a sweep therefore saturates near s q_pass / e (s the scan rate) and every later cycle passes
less current at the same potential: after n sweeps exp(q / q_pass) has grown about n-fold. Potentials in V vs Li
inside; the measured voltage is vs the counter electrode (Li-In: 0.62 V vs Li).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from operando.simulators.cell.model import Reading
from operando.simulators.cell.symmetric import _check, _check_dt
from operando.simulators.state import StateError, decode_random, encode_random, number
from scipy.optimize import brentq

_MAX_EXPONENT = 50.0  # e-folds; keeps the Tafel laws finite far outside the window


@dataclass(frozen=True)
class ElectrolyteCvParameters:
    """The LPS-carbon | LPS | Li-In cell, SI units, potentials vs Li."""

    counter_potential: float = 0.62  # V of the counter electrode vs Li (Li-In 0.62)
    open_circuit_potential: float = 2.1  # V vs Li of the pristine LPS-carbon electrode
    double_layer_capacitance: float = 10e-6  # F of the carbon/LPS interface
    oxidation_onset: float = 2.5  # V vs Li: upper edge of LPS's stability window
    reduction_onset: float = 1.7  # V vs Li: lower edge
    onset_current: float = 10e-9  # A of a fresh interface at either edge
    efold_potential: float = 0.1  # V per e-fold of the Tafel laws (230 mV per decade)
    passivation_charge: float = 5e-3  # C that cuts a decomposition's rate by e
    series_resistance: float = 2.4e3  # ohm, for the impedance only (the drop at a few uA is a few mV)
    cable_inductance: float = 2.0e-6  # H
    voltage_noise: float = 50e-6  # V, standard deviation of the measured potential
    current_noise: float = 0.5e-9  # A, standard deviation of the measured current

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name}: must be a finite number, got {value!r}")
            if name not in ("counter_potential", "open_circuit_potential") and (
                    value < 0 or value == 0 and name not in ("cable_inductance", "voltage_noise", "current_noise")):
                raise ValueError(f"{name}: must be positive, got {value!r}")
        if not self.reduction_onset < self.oxidation_onset:
            raise ValueError(f"reduction_onset: must lie below oxidation_onset ({self.oxidation_onset} V), "
                             f"got {self.reduction_onset!r}")


class ElectrolyteCvCell:
    """The CV cell driven interval by interval like :class:`SimulatedCell`; readings noisy and seeded."""

    def __init__(self, params: ElectrolyteCvParameters, seed: int = 0) -> None:
        self.params = params
        self._random = random.Random(seed)
        self.time = 0.0
        self._potential = params.open_circuit_potential  # V vs Li of the electrode (its double layer)
        self._current = 0.0
        self._oxidised = 0.0  # C passed by the oxidation
        self._reduced = 0.0  # C passed by the reduction (positive)

    # -- ground truth -------------------------------------------------------------------------------------------
    @property
    def soc(self) -> float:
        """Nothing intercalates: 0 (what the SEM's evolution reads)."""
        return 0.0

    @property
    def ocv(self) -> float:
        """V as measured (vs the counter electrode): the electrode's present potential at rest."""
        return self._potential - self.params.counter_potential

    @property
    def voltage(self) -> float:
        """Noise-free measured potential (V vs the counter electrode)."""
        return self._potential - self.params.counter_potential

    @property
    def current(self) -> float:
        """Noise-free current now (A, positive = oxidation of the working electrode)."""
        return self._current

    @property
    def oxidised_charge(self) -> float:
        """C passed by the electrolyte's oxidation so far."""
        return self._oxidised

    @property
    def reduced_charge(self) -> float:
        """C passed by the electrolyte's reduction so far (positive)."""
        return self._reduced

    def faradaic_current(self, potential: float) -> float:
        """A of decomposition now at ``potential`` V vs Li (oxidation positive, reduction negative)."""
        p = self.params
        return (self._rate(potential - p.oxidation_onset) * math.exp(-self._oxidised / p.passivation_charge)
                - self._rate(p.reduction_onset - potential) * math.exp(-self._reduced / p.passivation_charge))

    # -- driving the cell -----------------------------------------------------------------------------------------
    def rest(self, dt: float) -> Reading:
        """Open circuit for ``dt`` s: the double layer discharges through whatever decomposition runs."""
        return self.apply_current(0.0, dt)

    def apply_current(self, current: float, dt: float) -> Reading:
        """Galvanostatic: ``current`` A for ``dt`` s; the potential solved backward (stable at any dt)."""
        _check("current", current)
        _check_dt(dt)
        if dt == 0.0:
            self._current = float(current)
            return self._read()
        c = self.params.double_layer_capacitance
        start = self._potential

        def balance(potential: float) -> float:
            return c * (potential - start) + self._charges(potential, dt)[2] - current * dt

        # The balance rises with the potential; widen a bracket about the start until it holds the root.
        low, high = start - 0.01, start + 0.01
        while balance(low) > 0:
            low -= 2.0 * (high - low)
        while balance(high) < 0:
            high += 2.0 * (high - low)
        self._settle(brentq(balance, low, high, xtol=1e-12), dt, float(current))
        return self._read()

    def apply_voltage(self, voltage: float, dt: float) -> Reading:
        """Potentiostatic: ``voltage`` V as measured for ``dt`` s; current = charging of C plus decomposition."""
        _check("voltage", voltage)
        _check_dt(dt)
        potential = float(voltage) + self.params.counter_potential
        if dt == 0.0:
            self._potential = potential
            self._current = self.faradaic_current(potential)
            return self._read()
        charging = self.params.double_layer_capacitance * (potential - self._potential)
        self._settle(potential, dt, (charging + self._charges(potential, dt)[2]) / dt)
        return self._read()

    def impedance(self, frequencies: np.ndarray) -> np.ndarray:
        """Complex impedance (ohm) at ``frequencies`` (Hz, > 0): R_s + (R_F || C) + the cables."""
        f = np.asarray(frequencies, dtype=float)
        if f.size and not (np.all(np.isfinite(f)) and np.all(f > 0)):
            raise ValueError(f"frequencies: must be finite and positive (Hz), got {f!r}")
        omega = 2.0 * np.pi * f
        p = self.params
        slope = abs(self.faradaic_current(self._potential + 1e-4) - self.faradaic_current(self._potential - 1e-4))
        admittance = slope / 2e-4 + 1j * omega * p.double_layer_capacitance
        return 1j * omega * p.cable_inductance + p.series_resistance + 1.0 / admittance

    # -- saving and restoring -----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The state (time, potential, current, decomposition charges, noise generator) as JSON values."""
        return {"kind": "electrolyte_cv", "time": self.time, "potential": self._potential,
                "current": self._current, "oxidised": self._oxidised, "reduced": self._reduced,
                "noise": encode_random(self._random)}

    def restore(self, state: dict[str, Any]) -> None:
        """Put the cell back in a state :meth:`snapshot` saved; changes nothing if the state is not one."""
        if not isinstance(state, dict) or state.get("kind") != "electrolyte_cv":
            raise StateError("cell: not a saved solid-electrolyte CV cell")
        keys = ("time", "potential", "current", "oxidised", "reduced")
        values = {key: number(state, key, "cell") for key in keys}
        self._random.setstate(decode_random(state.get("noise"), "cell.noise"))
        self.time, self._potential, self._current = values["time"], values["potential"], values["current"]
        self._oxidised, self._reduced = values["oxidised"], values["reduced"]

    # -- internals ----------------------------------------------------------------------------------------------
    def _rate(self, overpotential: float) -> float:
        """A of a fresh interface ``overpotential`` V past the window's edge (Tafel)."""
        p = self.params
        return p.onset_current * math.exp(min(_MAX_EXPONENT, overpotential / p.efold_potential))

    def _charges(self, potential: float, dt: float) -> tuple[float, float, float]:
        """C passed over ``dt`` s at ``potential`` V vs Li: (oxidation, reduction, net), exact under
        dq/dt = r exp(-q / q_pass), i.e. exp(q / q_pass) growing by r dt / q_pass."""
        p = self.params
        q_pass = p.passivation_charge
        oxidation = q_pass * math.log1p(self._rate(potential - p.oxidation_onset) * dt / q_pass
                                        * math.exp(-self._oxidised / q_pass))
        reduction = q_pass * math.log1p(self._rate(p.reduction_onset - potential) * dt / q_pass
                                        * math.exp(-self._reduced / q_pass))
        return oxidation, reduction, oxidation - reduction

    def _settle(self, potential: float, dt: float, current: float) -> None:
        oxidation, reduction, _ = self._charges(potential, dt)
        self._oxidised += oxidation
        self._reduced += reduction
        self._potential = potential
        self._current = current
        self.time += dt

    def _read(self) -> Reading:
        e_true, i_true = self.voltage, self._current
        p, gauss = self.params, self._random.gauss
        return Reading(E_we=e_true + gauss(0.0, p.voltage_noise) if p.voltage_noise else e_true,
                       I=i_true + gauss(0.0, p.current_noise) if p.current_noise else i_true,
                       E_true=e_true, I_true=i_true)
