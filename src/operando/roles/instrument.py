"""What every role shares: an instrument's identity, so no role (and no driver) imports another role for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InstrumentInfo:
    """Identity and settings of an instrument, written to /entry/instruments."""

    model: str
    serial: str
    firmware: str
    driver: str
    settings: dict[str, Any] = field(default_factory=dict)
