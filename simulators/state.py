"""Simulator state as plain JSON values, so a resumed simulated run continues exactly where the record stops.

Random generators and arrays are encoded compactly (base64 of little-endian bytes); every decoder checks
what it is given and says what is wrong, so a damaged or foreign record is refused, never half restored.
"""

from __future__ import annotations

import base64
import math
import random
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np


class StateError(ValueError):
    """A saved simulator state that cannot be restored; says which field is wrong."""


def encode_array(values: np.ndarray | list[float], dtype: str = "<f8", *, compress: bool = False,
                 ) -> dict[str, Any]:
    """An array as {"dtype", "shape", "data": base64}; exact for every float, NaN and infinity included.
    ``compress``: zlib first (large maps that are mostly alike, e.g. a dose map)."""
    array = np.ascontiguousarray(values, dtype=dtype)
    raw = zlib.compress(array.tobytes(), 6) if compress else array.tobytes()
    return {"dtype": dtype, "shape": list(array.shape), "zlib": compress, "data": base64.b64encode(raw).decode()}


def decode_array(value: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The array :func:`encode_array` wrote; ``shape`` (if given) is checked."""
    try:
        dtype = np.dtype(value["dtype"])
        raw = base64.b64decode(value["data"], validate=True)
        array = np.frombuffer(zlib.decompress(raw) if value.get("zlib") else raw, dtype=dtype)
        array = array.reshape(tuple(int(n) for n in value["shape"])).copy()
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise StateError(f"{name}: not a saved array ({exc})") from None
    if shape is not None and array.shape != shape:
        raise StateError(f"{name}: shape {array.shape}, expected {shape}")
    return array


def encode_random(generator: random.Random) -> dict[str, Any]:
    """A Mersenne Twister's whole state (the 625 words and the cached Gaussian)."""
    version, words, gauss_next = generator.getstate()
    return {"version": version, "words": encode_array(np.array(words, np.uint32), "<u4"), "gauss_next": gauss_next}


def decode_random(value: Any, name: str) -> tuple[Any, ...]:
    """A state for :meth:`random.Random.setstate` from :func:`encode_random`."""
    if not isinstance(value, Mapping):
        raise StateError(f"{name}: not a saved random generator")
    words = decode_array(value.get("words"), f"{name}.words", (625,))
    gauss_next = value.get("gauss_next")
    if gauss_next is not None and not isinstance(gauss_next, float):
        raise StateError(f"{name}.gauss_next: expected a number or null, got {gauss_next!r}")
    return (value.get("version"), tuple(int(w) for w in words), gauss_next)


def number(state: Mapping[str, Any], key: str, owner: str, *, finite: bool = True) -> float:
    """``state[key]`` as a float; refused if missing, not a number, or (with ``finite``) NaN or infinite."""
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StateError(f"{owner}.{key}: expected a number, got {value!r}")
    if finite and not math.isfinite(value):
        raise StateError(f"{owner}.{key}: expected a finite number, got {value!r}")
    return float(value)
