"""Rigs: what fills the engine's roles for one set-up, found by name in the ``operando.rigs`` entry points.

The core never imports a driver or a simulator; a rig factory ``(plan, *, seed, **options) -> rig`` returns
an object with ``potentiostat``, ``poll_interval`` (s), ``config`` (a dict for the file) and ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol

from operando.errors import OperandoError
from operando.plan import Plan
from operando.roles.potentiostat import Potentiostat

GROUP = "operando.rigs"


class Rig(Protocol):
    """The instruments of one set-up, ready for an :class:`operando.engine.Experiment`."""

    potentiostat: Potentiostat
    poll_interval: float
    config: dict[str, Any]

    async def close(self) -> None: ...


class RigNotFound(OperandoError):
    """No installed package provides a rig of that name."""


def rig_factory(name: str) -> Callable[..., Rig]:
    """The factory registered as ``name`` in the ``operando.rigs`` entry points."""
    found = {entry.name: entry for entry in entry_points(group=GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none: is operando-fibsem installed (pip install -e .)?"
        raise RigNotFound(f"no rig named {name!r}; installed rigs: {known}")
    return found[name].load()


def build_rig(name: str, plan: Plan, **options: Any) -> Rig:
    """Build rig ``name`` for ``plan`` (inside the running event loop)."""
    return rig_factory(name)(plan, **options)
