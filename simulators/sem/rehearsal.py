"""A fake SmartSEM on the wall clock, for rehearsing the bridge without a microscope."""

from __future__ import annotations

import time

from .czemapi import FakeCZEMApi


def rehearsal_seam() -> FakeCZEMApi:
    """Factory for ``operando bridge --seam operando.simulators.sem.rehearsal:rehearsal_seam``."""
    return FakeCZEMApi(time.monotonic, seed=0)
