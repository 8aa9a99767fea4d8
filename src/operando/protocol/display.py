"""Readable numbers for messages and plan listings: "15 uA", "3.68 V", "44 h 12 min"."""

from __future__ import annotations

import math

from operando.plan import CellSummary, Trigger

_PREFIXES = ((1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"))


def format_si(value: float, unit: str, digits: int = 4) -> str:
    """An SI value with the prefix that keeps the number in 1..1000: format_si(1.5e-5, "A") -> "15 uA"."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value / 1e-12:.{digits}g} p{unit}"


def format_duration(seconds: float) -> str:
    """Seconds as a researcher reads them: "45 s", "30 min", "2 h 30 min", "67.2 h" beyond 48 h."""
    if not math.isfinite(seconds):
        return "unbounded"
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.4g} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / 3600:.1f} h"


def format_bytes(count: float) -> str:
    """Bytes in decimal units, as disks are sold: "566.5 MB", "1.2 GB"."""
    for factor, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if count >= factor:
            return f"{count / factor:.4g} {unit}"
    return f"{count:g} B"


def format_dose(electrons_per_square_metre: float) -> str:
    """An electron dose as microscopists write it: "5.53 e-/nm^2"."""
    return f"{electrons_per_square_metre * 1e-18:.4g} e-/nm^2"


def describe_trigger(trigger: Trigger, cell: CellSummary | None = None) -> str:
    """A trigger in a researcher's words: "every 2 h", "every 5 % SOC", "E rising through 3.58 V"."""
    match trigger.kind:
        case "every":
            return f"every {format_duration(trigger.interval or 0.0)}"
        case "soc_step":
            return f"every {100 * (trigger.soc_step or 0.0):.4g} % SOC"
        case "charge_step":
            return f"every {format_si((trigger.charge_step or 0.0) / 3600, 'Ah')} passed"
        case "voltage_crossing":
            level = trigger.voltage or 0.0
            vs_metal = ""
            if cell is not None and cell.counter_potential:
                vs_metal = f" ({cell.to_metal(level):.4g} V vs {cell.working_ion}+/{cell.working_ion})"
            way = "crossing" if trigger.direction == "either" else f"{trigger.direction} through"
            return f"E {way} {level:.4g} V{vs_metal}"
        case "step_start" | "step_end":
            edge = "start" if trigger.kind == "step_start" else "end"
            return f"{edge} of every step" if trigger.step is None else f"{edge} of {trigger.step!r}"
    return "on request"
