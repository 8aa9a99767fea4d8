"""Pydantic's validation errors in a researcher's terms: field path, what is wrong, bad value, line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from pydantic import ValidationError

from operando.errors import ProtocolError
from operando.protocol.schema.technique_names import TECHNIQUES, technique_names

_TECHNIQUE_TAGS = set(TECHNIQUES)  # the union tags pydantic puts in a step's location


def format_path(parts: tuple[Any, ...] | list[Any]) -> str:
    """('steps', 2, 'until', 'voltage') -> 'steps[2].until.voltage'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "":
            text += f".{part}" if text else str(part)
    return text


def join_path(base: str, relative: str) -> str:
    """Append a field path relative to ``base`` ("steps[1]" + "until.voltage")."""
    if not relative:
        return base
    if not base:
        return relative
    return base + relative if relative.startswith("[") else f"{base}.{relative}"


def _clean_location(location: tuple[Any, ...]) -> list[Any]:
    """Drop the union tags pydantic inserts after a list index (('steps', 0, 'rest', 'duration'))."""
    cleaned: list[Any] = []
    for position, part in enumerate(location):
        if (
            isinstance(part, str)
            and part in _TECHNIQUE_TAGS
            and position
            and isinstance(location[position - 1], int)
        ):
            continue
        cleaned.append(part)
    return cleaned


def problems_from_validation(
    exc: ValidationError, source_text: str = "", *, known_fields: Collection[str] = ()
) -> list[tuple[str, str, object]]:
    """One (path, message, value) per error; ``source_text`` (TOML) adds the line the field is written on, and
    an unknown field is matched against ``known_fields`` for a "did you mean"."""
    problems: list[tuple[str, str, object]] = []
    for error in exc.errors(include_url=False):
        path = format_path(_clean_location(error["loc"]))
        kind = error["type"]
        value: object = error.get("input")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ProtocolError):
            problems.extend(
                (join_path(path, sub), message, sub_value) for sub, message, sub_value in cause.problems
            )
            continue
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            path = join_path(path, "technique")
            value = value.get("technique") if isinstance(value, dict) else None
            message = f"unknown technique {value!r}" if value is not None else "missing: say which technique"
            message += f"; known: {technique_names()}"
            value = None
        elif kind == "missing":
            message, value = "missing: this field is required", None
        elif kind == "extra_forbidden":
            field = str(error["loc"][-1])
            close = difflib.get_close_matches(field, sorted(known_fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message, value = f"unknown field {field!r}{hint}", None
        else:
            message = re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
        if value is not None and repr(value) in message:
            value = None  # the message already quotes it
        problems.append((path, message, value))
    return add_lines(problems, source_text)


def add_lines(problems: list[tuple[str, str, object]], source_text: str) -> list[tuple[str, str, object]]:
    """Append "(TOML line N)" to each message whose field can be found in the TOML text."""
    if not source_text:
        return problems
    lines = toml_lines(source_text)
    located = []
    for path, message, value in problems:
        line = locate(lines, path)
        located.append((path, f"{message} (TOML line {line})" if line else message, value))
    return located


def locate(lines: dict[str, int], path: str) -> int | None:
    """The line of the longest prefix of ``path`` written in the file."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", key)]


def toml_lines(text: str) -> dict[str, int]:
    """Map each field path written in a TOML text ("steps[2].until.voltage") to its first line (1-based).

    A best effort for error messages: tables, arrays of tables (nested too) and dotted keys; values inside
    inline tables are found through their parent key's line.
    """
    found: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts = _split_key(header[2])
            resolved = ""
            for position, part in enumerate(parts):
                resolved = join_path(resolved, part)
                last = position == len(parts) - 1
                if last and header[1] == "[[":
                    counts[resolved] = counts.get(resolved, 0) + 1
                if resolved in counts:
                    resolved += f"[{counts[resolved] - 1}]"
            table = resolved
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = table
            for part in _split_key(key[1]):
                path = join_path(path, part)
                found.setdefault(path, number)
    return found
