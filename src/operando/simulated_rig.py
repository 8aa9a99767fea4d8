"""The built-in simulated rig: a rig file (simulated_rig.toml, package data) like any other, so ``simulate``,
``run``, ``check`` and ``resume`` build rigs the same way (:func:`operando.rigfile.build`).

Its drivers (``simulated_biologic``, ``simulated_zeiss``) are entry points of the simulators package; the core
only names them. The values a run changes (seed, poll interval, board, cell overrides) are set in the file's
data and the file written again, so the experiment file records the rig text it ran on.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from operando.rigfile import RigSpec, loads_rig

NAME = "simulated"


def template() -> str:
    """The built-in simulated rig file as shipped."""
    return files("operando").joinpath("simulated_rig.toml").read_text(encoding="utf-8")


def _value(value: Any) -> str:
    """One TOML value: a string, number, boolean or (nested) table of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                          ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} in a rig file")


def _key(key: Any) -> str:
    text = str(key)
    return text if text and all(c.isalnum() or c in "-_" for c in text) and text.isascii() else json.dumps(text)


def dumps_rig(data: Mapping[str, Any]) -> str:
    """Rig-file TOML for ``data`` (top-level values, then one table per instrument, sensors under [sensors.*])."""
    lines = [f"{_key(key)} = {_value(value)}" for key, value in data.items() if not isinstance(value, Mapping)]
    for key, value in data.items():
        if not isinstance(value, Mapping):
            continue
        tables = value.items() if key == "sensors" else [(None, value)]
        for name, table in tables:
            lines += ["", f"[{_key(key)}]" if name is None else f"[{_key(key)}.{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def simulated_rig(*, seed: int | None = None, poll_interval: float | None = None, board: str | None = None,
                  cell: Mapping[str, Any] | None = None) -> RigSpec:
    """The built-in simulated rig with ``seed``, ``poll_interval`` (s), ``board`` and ``cell`` (CellParameters
    overrides, e.g. ``{"stack_pressure": 25e6}``) set where given; validated like any rig file."""
    data = tomllib.loads(template())
    return loads_rig(dumps_rig(_with(data, seed=seed, poll_interval=poll_interval, board=board, cell=cell)))


def _with(data: dict[str, Any], *, seed: int | None, poll_interval: float | None, board: str | None,
          cell: Mapping[str, Any] | None) -> dict[str, Any]:
    if seed is not None:
        data["seed"] = seed
    if poll_interval is not None:
        data["poll_interval"] = f"{float(poll_interval)!r} s"
    if board is not None:
        data["potentiostat"]["board"] = board
    if cell is not None:
        data["potentiostat"]["cell"] = dict(cell)
    return data


def recorded_rig(rig_config: Mapping[str, Any], cell: Mapping[str, Any] | None = None) -> RigSpec:
    """The simulated rig an experiment file records (its ``rig_config``), ``cell`` overrides added (a resumed
    run without a saved state passes ``initial_soc``). Files from before the simulated rig was a rig file
    record seed, poll_interval, board and cell_overrides instead of the rig text."""
    text = rig_config.get("rig_text")
    if text:
        data = tomllib.loads(str(text))
        overrides = {**data.get("potentiostat", {}).get("cell", {}), **(cell or {})}
        return loads_rig(dumps_rig(_with(data, seed=None, poll_interval=None, board=None, cell=overrides)))
    data = tomllib.loads(template())
    poll_interval = rig_config.get("poll_interval")
    return loads_rig(dumps_rig(_with(
        data, seed=int(rig_config.get("seed", 0)),
        poll_interval=None if poll_interval is None else float(poll_interval),
        board=None if rig_config.get("board") is None else str(rig_config["board"]),
        cell={**(rig_config.get("cell_overrides") or {}), **(cell or {})})))
