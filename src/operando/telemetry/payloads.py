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

from operando.engine.events import Event, FrameAcquired

# The frame record's columns a frames message carries at its top level (docs/telemetry.md); every other column
# goes in its ``settings``, by the file's name, so a column added to the record reaches clients by itself.
FRAME_MESSAGE_COLUMNS = ("index", "t_requested", "t_start", "t_mid", "t_end", "E_we", "I", "Q", "soc", "cycle",
                         "step", "frame_dose", "cumulative_dose")


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


def event_payload(event: Event) -> dict[str, Any]:
    """Any engine event as ``{"kind", "t", <its fields>}``, array fields left out."""
    body = {"kind": event.kind, "t": json_value(event.t)}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if item.name != "t" and not isinstance(value, np.ndarray):
            body[item.name] = json_value(value)
    return body


def frame_payload(event: FrameAcquired) -> dict[str, Any]:
    """A frame's metadata message: its row's columns (trigger and ec_source in words), the detectors, the
    drift (dy, dx) m and its confidence (null without tracking) and the other columns under ``settings``."""
    record = event.record
    row = record.row()
    top = {name: json_value(row[name]) for name in FRAME_MESSAGE_COLUMNS}
    settings = {name: json_value(value) for name, value in row.items()
                if name not in FRAME_MESSAGE_COLUMNS and name not in ("trigger", "ec_source")}
    tracked = event.drift is not None
    return {"kind": event.kind, "t": json_value(event.t), "region": record.region, "index": top.pop("index"),
            "trigger": event.trigger, **top, "detectors": list(event.detectors),
            "pixel_size": json_value(record.pixel_size),
            "drift": [json_value(record.drift_y), json_value(record.drift_x)] if tracked else None,
            "confidence": json_value(record.drift_confidence) if tracked else None,
            "ec_source": record.ec_source_label, "settings": {**settings, "trigger_code": record.trigger}}


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
