"""How long each step is expected to run and where it leaves the cell's state of charge, predicted step by step
while a protocol is resolved; the plan records both (``estimated_duration``, ``notes["soc"]``).

A voltage stop is reached at the SOC where the material's reference OCV reaches it (polarisation only makes it
sooner); with no reference curve, at full (or zero) charge. A hold that ends on a decaying current is a guess.
"""

from __future__ import annotations

import math
import typing

from operando.plan import CellSummary
from operando.protocol.display import format_duration
from operando.protocol.estimates.equilibrium import equilibrium_curve

# A hold that ends on a current condition has no duration we can compute; this is the guess we plan with.
HOLD_ESTIMATE = 2 * 3600.0  # s


class CurrentStops(typing.Protocol):
    """The stops of a constant-current phase as written: voltage, time (s), charge (C), SOC (0..1)."""

    @property
    def voltage(self) -> object: ...
    @property
    def time(self) -> float | None: ...
    @property
    def charge(self) -> float | None: ...
    @property
    def soc(self) -> float | None: ...


def hold_estimate(duration: float, ends_on_current: bool) -> tuple[float, str]:
    """Estimated duration of a voltage hold bounded by ``duration`` s, and its basis."""
    if ends_on_current:
        basis = (
            f"a guess ({format_duration(HOLD_ESTIMATE)}): a hold ends when the current has decayed, "
            "which depends on the cell"
        )
        return min(duration, HOLD_ESTIMATE), basis
    return duration, "its time limit"


class StateOfCharge:
    """The predicted SOC (0..1 of the rated capacity) as the steps are resolved in order."""

    def __init__(self, cell: CellSummary) -> None:
        self.capacity = cell.capacity  # C; None: unknown, so nothing moves the SOC
        self.material = cell.material
        self.curve = equilibrium_curve(cell)  # None: no reference OCV for the material
        self.soc = cell.initial_soc
        self.recorded = self.soc  # the SOC at the end of the last step the plan recorded

    def record(self) -> list[float]:
        """[SOC at the start, SOC at the end] of the step being recorded in the plan."""
        span = [self.recorded, self.soc]
        self.recorded = self.soc
        return span

    def equilibrium(self, voltage: float | None) -> float | None:
        """The SOC (0..1) at which the cell rests at ``voltage`` (measured), if a reference curve is known."""
        if self.curve is None or voltage is None:
            return None
        return min(1.0, max(0.0, self.curve.soc_at(voltage)))

    def pass_current(self, current: float, duration: float) -> None:
        """Move the SOC by ``current`` A for ``duration`` s, within 0..1 (a no-op when the capacity is unknown)."""
        if self.capacity is not None:
            self.soc = min(1.0, max(0.0, self.soc + current * duration / self.capacity))

    def constant_current(self, current: float, until: CurrentStops, voltage: float | None) -> tuple[float, str]:
        """Time to the first stop of a constant-current phase, and its basis; the SOC moves on to there.

        ``voltage``: the voltage stop as measured (None when it could not be converted)."""
        capacity = self.capacity
        candidates: list[tuple[float, str]] = []
        if until.time is not None:
            candidates.append((until.time, "its time limit"))
        if until.charge is not None:
            candidates.append((until.charge / abs(current), "its charge limit"))
        if capacity is not None:
            if until.soc is not None:
                left = (until.soc - self.soc) if current > 0 else (self.soc - until.soc)
                candidates.append((max(left, 0.0) * capacity / abs(current), "the capacity to the SOC limit"))
            if until.voltage is not None:
                candidates.append(self._to_voltage(current, voltage))
        if not candidates:
            return 0.0, "unknown: no capacity and no time limit"
        estimate, basis = min(candidates)
        self.pass_current(current, estimate)
        return estimate, basis

    def _to_voltage(self, current: float, voltage: float | None) -> tuple[float, str]:
        """Time for ``current`` to bring the cell from the present SOC to ``voltage`` (measured) at rest."""
        capacity = self.capacity
        assert capacity is not None
        target = self.equilibrium(voltage)
        if target is None:
            target = 1.0 if current > 0 else 0.0
            basis = (
                f"the capacity (pessimistic: no reference OCV curve for {self.material!r}, "
                "so it assumes the full rated capacity is reached)"
            )
        else:
            basis = (
                f"the charge from {100 * self.soc:.3g} % to {100 * target:.3g} % SOC, where the reference "
                f"OCV of {self.material} reaches the limit (at most: "
                "polarisation reaches it sooner)"
            )
        left = (target - self.soc) if current > 0 else (self.soc - target)
        return max(left, 0.0) * capacity / abs(current), basis

    def pulses_to(self, current: float, voltage: float | None, per_pulse: float, most: int) -> int:
        """How many pulses of ``per_pulse`` C reach ``voltage`` (measured) from the present SOC, at most ``most``."""
        assert self.capacity is not None
        target = self.equilibrium(voltage)
        if target is None:
            target = 1.0 if current > 0 else 0.0
        left = max((target - self.soc) if current > 0 else (self.soc - target), 0.0)
        return min(most, math.ceil(left * self.capacity / per_pulse - 1e-9))
