"""First-cycle losses of a composite cathode on a sulfide electrolyte: NMC/LPS contact loss and LPS oxidation.

Contact loss (decohesion). A layered oxide shrinks as it is delithiated (NMC622: about -4.4 % unit-cell volume
at 4.5 V vs Li, most of it above ~4 V), and the volume lost grows about as the square of the SOC. A rigid
sulfide electrolyte does not follow it, and at the operando holder's ~15 kPa nothing presses the two back
together: once a particle has shrunk by more than its contacts tolerate, it is cut off from the ionic network
and keeps the SOC it had (the ~40 nm gap the thesis sees open at the end of charge and stay). The isolated
fraction is a function of the highest SOC reached, hence never decreases and does not depend on the interval:

    isolated = contact_loss * pressure_factor * (s_peak^2 - s_0^2 - s_onset^2) / (s_ref^2 - s_onset^2)

clipped to [0, 0.95], with s_0 the SOC the electrode was assembled at (shrinkage counts from there),
s_onset the SOC from which an electrode assembled pristine starts losing contact, s_ref = 0.64 (4.3 V vs Li
for NMC622) and pressure_factor = 1 / (1 + P / P_hold): a stack pressure well above P_hold keeps particles
pressed into the electrolyte as they shrink (25-127 MPa cells lose little contact; 15 kPa nearly all it can).

LPS oxidation. Li3PS4 is thermodynamically stable only up to ~2.5 V vs Li; in contact with a charged NMC it
oxidises (Li3PS4 -> Li+ + e- + S, P2S5, ...), a current that passes through the potentiostat without
delithiating the NMC. Its rate follows a Tafel law in the potential of the cathode (equilibrium potential at
the particle surface plus the charge-transfer overpotential, V vs Li), and the decomposition products
passivate the interface, slowing it as 1 / (1 + q / q_pass) with q the parasitic charge passed (a film whose
resistance grows with its thickness: q grows as the square root of time at a fixed potential). For a constant
potential over an interval the passivation law integrates exactly, so any interval is stable.
"""

from __future__ import annotations

import math

_MAX_ISOLATED = 0.95
_MAX_EXPONENT = 50.0  # e-folds; keeps the Tafel law finite far above its reference potential


class ContactLoss:
    """Fraction of the active material cut off from the electrolyte, as a function of the highest SOC."""

    def __init__(self, contact_loss: float, onset_soc: float, reference_soc: float, assembled_soc: float,
                 stack_pressure: float, holding_pressure: float) -> None:
        self._scale = contact_loss / (1.0 + stack_pressure / holding_pressure) / (
            reference_soc**2 - onset_soc**2)
        self._threshold = assembled_soc**2 + onset_soc**2

    def isolated(self, peak_soc: float) -> float:
        """Isolated fraction of the active material once the connected SOC has reached ``peak_soc``."""
        excess = peak_soc * peak_soc - self._threshold
        if excess <= 0.0:
            return 0.0
        return min(_MAX_ISOLATED, self._scale * excess)


class ElectrolyteOxidation:
    """Parasitic oxidation current (A) of the electrolyte: Tafel in the cathode potential; passivates."""

    def __init__(self, fresh_current: float, reference_potential: float, tafel_slope: float,
                 passivation_charge: float) -> None:
        self._fresh_current = fresh_current  # A at the reference potential on a fresh interface
        self._reference = reference_potential  # V vs the working-ion metal
        self._efold = tafel_slope / math.log(10.0)  # V per e-fold
        self._passivation = passivation_charge  # C after which the rate has halved

    def rate(self, potential: float) -> float:
        """A on a fresh interface at ``potential`` (V vs metal)."""
        if self._fresh_current == 0.0:
            return 0.0
        return self._fresh_current * math.exp(min(_MAX_EXPONENT, (potential - self._reference) / self._efold))

    def current(self, potential: float, charge: float) -> float:
        """A now, at ``potential`` (V vs metal) after ``charge`` C of parasitic charge."""
        return self.rate(potential) / (1.0 + charge / self._passivation)

    def charge_after(self, potential: float, charge: float, dt: float) -> float:
        """Parasitic charge (C) after ``dt`` s at a constant ``potential``: dq/dt = i / (1 + q / q_pass)."""
        passed = self.rate(potential) * dt
        if passed == 0.0:
            return charge
        q_pass = self._passivation
        # Exact: (q + q^2 / 2 q_pass) grows by i dt; in the form that does not cancel when i dt is small.
        start = 1.0 + charge / q_pass
        return charge + 2.0 * passed / (start + math.sqrt(start * start + 2.0 * passed / q_pass))
