"""Engine events to JSON payloads (and frame thumbnails to PNG), generically so new event kinds just work.

Numbers that are not finite become ``null`` (JSON has no NaN), numpy scalars plain numbers, enums their
value, tuples lists; arrays are left out (points go as lists through :func:`points_payload`, thumbnails
as PNG bytes).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from enum import Enum
from typing import Any

import numpy as np
from PIL import Image


def json_value(value: Any) -> Any:
    """``value`` as something ``json.dumps`` writes without NaN; None for arrays (they go elsewhere)."""
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, np.ndarray):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_value(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), np.ndarray)}
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


def event_payload(event: Any) -> dict[str, Any]:
    """Any engine event as ``{"kind", "t", <its fields>}``, array fields left out."""
    body = {"kind": getattr(event, "kind", type(event).__name__), "t": json_value(event.t)}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if item.name != "t" and not isinstance(value, np.ndarray):
            body[item.name] = json_value(value)
    return body


def points_payload(columns: dict[str, np.ndarray], selected: np.ndarray) -> dict[str, list[Any]]:
    """Chosen rows of a points batch as equal-length lists per column."""
    return {name: [json_value(x) for x in column[selected].tolist()] for name, column in columns.items()}


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def png(thumbnail: np.ndarray) -> bytes:
    """A grey-level (2-D) or (detector, y, x) uint8 thumbnail as PNG bytes; detectors side by side."""
    array = np.asarray(thumbnail)
    if array.ndim == 3:
        array = np.concatenate(list(array), axis=1)
    if array.ndim != 2:
        raise ValueError(f"thumbnail must be 2-D or (detector, y, x), got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"thumbnail must be uint8, got {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()
