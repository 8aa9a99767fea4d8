"""The JSON schemas of docs/telemetry.md, read from the document itself so the doc is what is tested."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """{title: schema} of every ```json block in the doc that declares a $schema."""
    found = {}
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S):
        schema = json.loads(block)
        if "$schema" in schema:
            jsonschema.Draft202012Validator.check_schema(schema)
            found[schema["title"]] = schema
    return found


def validate(title: str, payload: Any) -> None:
    jsonschema.Draft202012Validator(schemas()[title]).validate(payload)


def schema_for_topic(topic: str) -> str | None:
    """Which schema a topic's messages follow (None: thumbnails are PNG, commands are checked apart)."""
    kind = topic.split("/")[2]
    return {"state": "state", "status": "status", "heartbeat": "heartbeat", "electrochem": "electrochem",
            "impedance": "impedance", "frames": "frames", "drift": "drift", "events": "events",
            "replies": "reply"}.get(kind)
