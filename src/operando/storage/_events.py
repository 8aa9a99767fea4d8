"""Event payloads as JSON that fits the file's fixed-length payload column (fixed length keeps SWMR safe)."""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import Any

import numpy as np

from operando.storage._layout import EVENT_PAYLOAD_LENGTH

_LONG_TEXT = 600  # characters kept of a long text field when a payload must shrink


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def _clean(value: Any) -> Any:
    """NaN and infinities become null: the payload stays strict JSON that any reader parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(payload: dict[str, Any]) -> str:
    """Strict JSON of a payload (numpy scalars, enums and tuples converted, NaN as null)."""
    return json.dumps(_clean(json.loads(json.dumps(payload, default=_plain))), ensure_ascii=False)


def encode_payload(payload: dict[str, Any], limit: int = EVENT_PAYLOAD_LENGTH) -> bytes:
    """UTF-8 JSON no longer than ``limit`` bytes; long text fields are shortened and marked ``truncated``."""
    encoded = to_json(payload).encode()
    if len(encoded) <= limit:
        return encoded
    shortened = {key: value[:_LONG_TEXT] + "..." if isinstance(value, str) and len(value) > _LONG_TEXT
                 else value for key, value in payload.items()}
    shortened["truncated"] = True
    encoded = to_json(shortened).encode()
    if len(encoded) <= limit:
        return encoded
    # A character takes at most 6 bytes once escaped, so this head always fits.
    head = to_json(payload)[: limit // 8]
    return to_json({"truncated": True, "head": head}).encode()
