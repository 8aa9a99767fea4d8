"""Readable numbers for messages and plan listings: "15 uA", "3.68 V", "44 h 12 min"."""

from __future__ import annotations

import math

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
