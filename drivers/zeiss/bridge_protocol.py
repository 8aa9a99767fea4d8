"""The SmartSEM bridge wire format, shared by server and client: JSON lines plus one binary payload per Grab.

Client -> server, first line: ``{"token": "..."}``; the server answers ``{"ok": true, "protocol": 1}`` or
``{"ok": false, "error": "..."}`` and closes. Then requests ``{"id": n, "method": "Get", "args": [...]}`` and
replies ``{"id": n, "code": c, "result": [...]}`` (``code`` is SmartSEM's own, ``result`` the rest of the
vendor tuple), or ``{"id": n, "error": "..."}`` for a request the bridge refused or a call that raised. A Grab
reply with a code is followed by an 8-byte big-endian length and that many bytes: the image file (empty when
the code is not 0).
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024
LENGTH = struct.Struct(">Q")
MAX_PAYLOAD = 4 * 1024**3  # a 32768 x 24576 16-bit store is 1.6 GB; anything past 4 GB is corrupt framing

_NAME = re.compile(r"(AP|DP|SV)_[A-Z0-9_]{1,60}")
# No MCF_/MCL_ macros over the network: they run arbitrary files on the SmartSEM PC.
_COMMAND = re.compile(r"CMD_[A-Z0-9_]{1,60}")
_GRAB_SUFFIXES = (".tif", ".tiff", ".bmp")


class BadRequest(ValueError):
    """A request the bridge will not pass to SmartSEM."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be an integer, got {value!r}")
    return value


def _name(value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadRequest(f"{what} {value!r} is not a SmartSEM name of the form {pattern.pattern}")
    return value


def validate(method: Any, args: Any) -> list[Any]:
    """Check ``method`` is allow-listed and ``args`` fit its signature; returns the arguments to call with."""
    if not isinstance(args, list):
        raise BadRequest(f"args must be a list, got {type(args).__name__}")
    arity = {"Initialise": (0, 1), "InitialiseRemoting": (0, 0), "ClosingControl": (0, 0), "Get": (1, 2),
             "Set": (2, 2), "Execute": (1, 1), "GetLimits": (1, 1), "GetStagePosition": (0, 0),
             "MoveStage": (6, 6), "Grab": (6, 6)}
    if not isinstance(method, str) or method not in arity:
        raise BadRequest(f"method {method!r} is not served; the bridge serves {', '.join(sorted(arity))}")
    low, high = arity[method]
    if not low <= len(args) <= high:
        raise BadRequest(f"{method} takes {low}..{high} arguments, got {len(args)}")
    if method == "Initialise":
        if args and (not isinstance(args[0], str) or len(args[0]) > 64):
            raise BadRequest(f"Initialise machine must be a short string, got {args[0]!r}")
    elif method == "Get":
        _name(args[0], _NAME, "parameter")
        if len(args) == 2 and not isinstance(args[1], bool):
            raise BadRequest(f"Get as_string must be true or false, got {args[1]!r}")
    elif method == "Set":
        _name(args[0], _NAME, "parameter")
        if isinstance(args[1], str):
            if len(args[1]) > 200:
                raise BadRequest("Set value string longer than 200 characters")
        else:
            args = [args[0], _number(args[1], "Set value")]
    elif method == "Execute":
        _name(args[0], _COMMAND, "command")
    elif method == "GetLimits":
        _name(args[0], _NAME, "parameter")
    elif method == "MoveStage":
        args = [_number(v, f"MoveStage argument {i}") for i, v in enumerate(args)]
    elif method == "Grab":
        x, y, w, h, reduction = (_integer(v, f"Grab argument {i}") for i, v in enumerate(args[:5]))
        inside = 0 <= x <= 1024 and 0 <= y <= 768 and 0 <= w <= 1024 and 0 <= h <= 768
        if not (inside and -1 <= reduction <= 3):
            raise BadRequest(f"Grab rectangle {args[:5]} outside the 1024x768 reference frame")
        if not isinstance(args[5], str) or not args[5].lower().endswith(_GRAB_SUFFIXES):
            raise BadRequest(f"Grab filename must end in {', '.join(_GRAB_SUFFIXES)}, got {args[5]!r}")
    return args


def encode(message: dict[str, Any]) -> bytes:
    """One JSON line."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one JSON line into an object; ValueError when it is not one."""
    try:
        message = json.loads(line.decode("utf-8"))
    except RecursionError:  # json recurses per level: a line of 60000 '[' would end the server's handler
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message
