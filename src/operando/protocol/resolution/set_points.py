"""Set points and stops as the potentiostat takes them (volts as measured, amperes, seconds), checked against the
protocol's safety limits; a value that cannot be converted or is unsafe is a problem under its field path."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from operando.cells import Cell, CRate, Potential
from operando.errors import QuantityError
from operando.plan import SafetyLimits
from operando.protocol.display import format_duration, format_si
from operando.protocol.schema.model import Safety
from operando.protocol.schema.steps import Record
from operando.techniques import Recording

Problem = Callable[[str, str, object], None]
DEFAULT_RECORD_INTERVAL = 10.0  # s


def measured(cell: Cell, potential: Potential, path: str, problem: Problem) -> float | None:
    """``potential`` in volts as measured (vs the counter electrode), or None with a problem."""
    try:
        return cell.measured(potential)
    except QuantityError as exc:
        problem(path, str(exc), None)
        return None


def amperes(cell: Cell, setting: float | CRate, path: str, problem: Problem) -> float | None:
    """A current or C-rate in amperes, or None with a problem."""
    try:
        return cell.current(setting)
    except QuantityError as exc:
        problem(path, str(exc), None)
        return None


def safety_limits(safety: Safety, cell: Cell, problem: Problem) -> SafetyLimits:
    """The protocol's ``[safety]`` in SI units; a window that is empty or a current that is not positive is a
    problem."""
    low = measured(cell, safety.voltage_min, "safety.voltage_min", problem)
    high = measured(cell, safety.voltage_max, "safety.voltage_max", problem)
    if low is not None and high is not None and not low < high:
        problem(
            "safety.voltage_max",
            f"must lie above safety.voltage_min ({safety.voltage_min})",
            str(safety.voltage_max),
        )
    current = amperes(cell, safety.current_max, "safety.current_max", problem)
    if current is not None and current <= 0:
        problem("safety.current_max", "must be positive", str(safety.current_max))
    return SafetyLimits(
        E_min=low if low is not None else -math.inf,
        E_max=high if high is not None else math.inf,
        I_max=abs(current) if current else math.inf,
        max_duration=safety.duration_max,
        safe_state=safety.safe_state,
        link_outage_max=safety.link_outage_max,
        missing_points_max=safety.missing_points_max,
    )


def recording(record: Record | None, default_dt: float = DEFAULT_RECORD_INTERVAL) -> Recording:
    """When the potentiostat records a point: as written, else every ``default_dt`` s."""
    record = record or Record()
    return Recording(dt=record.every or default_dt, dE=record.voltage_change, dI=record.current_change)


class SetPoints:
    """Converts one cell's set points within one safety window, reporting each fault to ``problem``."""

    def __init__(self, cell: Cell, safety: SafetyLimits, problem: Problem) -> None:
        self.cell = cell
        self.safety = safety
        self.problem = problem

    def voltage(self, potential: Potential, path: str) -> float | None:
        """The measured voltage for a set point or stop, refused outside the safety window."""
        value = measured(self.cell, potential, path, self.problem)
        if value is None:
            return None
        low, high = self.safety.E_min, self.safety.E_max
        if not low - 1e-9 <= value <= high + 1e-9:
            self.problem(
                path,
                f"{potential} is {value:.4g} V as measured (vs {self.cell.counter_name}), outside the "
                f"safety window {low:.4g}..{high:.4g} V (safety.voltage_min..voltage_max)",
                None,
            )
        return value

    def current(
        self, setting: float | CRate, scale: float, path: str, loops: tuple[dict[str, Any], ...]
    ) -> float | None:
        """Amperes for a set current (scaled in loops), refused above the safety limit."""
        value = amperes(self.cell, setting, path, self.problem)
        if value is None:
            return None
        value *= scale
        if value == 0:
            self.problem(path, "a current of zero: use a rest step for open circuit", str(setting))
            return None
        if abs(value) > self.safety.I_max * (1 + 1e-9):
            where = f" in pass {loops[-1]['pass']} of the loop at {loops[-1]['source']}" if loops else ""
            self.problem(
                path,
                f"{setting} is {format_si(value, 'A')}{where}, above safety.current_max "
                f"{format_si(self.safety.I_max, 'A')}",
                None,
            )
        return value

    def time_limit(self, time: float | None, path: str) -> float:
        """The longest a technique may run: its own time limit, bounded by the safety duration."""
        if time is not None and time > self.safety.max_duration:
            self.problem(
                path,
                f"{format_duration(time)} is longer than safety.duration_max "
                f"{format_duration(self.safety.max_duration)}",
                None,
            )
        return time if time is not None else self.safety.max_duration
