"""The fake SmartSEM's physical state as JSON values: what a real microscope keeps across a software restart.

The specimen (its state-of-charge history: delithiation front, crack and gap peaks, strain; the dose it has
received), the drift clock, the stage (commanded and true position, play, creep) and the beam shift, the
frame counter and the auto-focus noise. Column and scan settings are not saved: the driver sets them again.
Times are saved relative to the fake's clock at the snapshot, so they carry over to a new process's clock.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from operando.simulators.state import StateError, decode_array, encode_array, number

if TYPE_CHECKING:
    from .czemapi import FakeCZEMApi

_EVOLUTION_ARRAYS = ("local_soc", "_turn_local", "_crack_peak", "_gap")
_STAGE_ARRAYS = ("position", "_start", "_target", "_play", "_creep")


def snapshot(api: FakeCZEMApi, cache: dict[str, Any]) -> dict[str, Any]:
    """The state now (call under the fake's lock); ``cache`` keeps the last encoded dose map."""
    now = api._now()
    evolution, stage, dose = api.evolution, api.stage, api.dose_map
    if cache.get("dose_version") != dose.version:
        cache["dose"] = encode_array(dose.dose, "<f4" if dose.dose.dtype == np.float32 else "<f8", compress=True)
        cache["dose_version"] = dose.version
    return {
        "elapsed": api.elapsed(now),
        "evolution": {"soc": evolution.soc, "charging": evolution._charging, "turn_soc": evolution._turn_soc,
                      "strain_peak": evolution._strain_peak,
                      **{name.lstrip("_"): encode_array(getattr(evolution, name)) for name in _EVOLUTION_ARRAYS}},
        "dose": cache["dose"], "park_electrons": dose.park_electrons,
        "stage": {**{name.lstrip("_"): encode_array(getattr(stage, name)) for name in _STAGE_ARRAYS},
                  "move_start": _relative(stage._move_start, now), "move_end": _relative(stage._move_end, now),
                  "stuck": stage.stuck},
        "beam_shift": list(api._beam_shift), "serial": api._serial,
        "focus_noise": api._rng.bit_generator.state,
    }


def _relative(t: float, now: float) -> float | None:
    return t - now if math.isfinite(t) else None  # -inf: never moved (JSON has no infinity)


def restore(api: FakeCZEMApi, state: dict[str, Any]) -> None:
    """Put back a :func:`snapshot` of a fake of the same scene and seed; refuses one that does not fit before
    changing anything."""
    if not isinstance(state, dict):
        raise StateError("sem: expected a saved state")
    evolution, stage, dose = api.evolution, api.stage, api.dose_map
    elapsed = number(state, "elapsed", "sem")
    saved_evolution = state.get("evolution")
    saved_stage = state.get("stage")
    if not isinstance(saved_evolution, dict) or not isinstance(saved_stage, dict):
        raise StateError("sem: the saved state holds no specimen evolution or stage")
    particles = evolution.local_soc.shape
    arrays = {name: decode_array(saved_evolution.get(name.lstrip("_")), f"sem.evolution.{name.lstrip('_')}",
                                 particles) for name in _EVOLUTION_ARRAYS}
    scalars = {name: number(saved_evolution, name, "sem.evolution") for name in ("soc", "turn_soc", "strain_peak")}
    stage_arrays = {name: decode_array(saved_stage.get(name.lstrip("_")), f"sem.stage.{name.lstrip('_')}", (6,))
                    for name in _STAGE_ARRAYS}
    dose_map = decode_array(state.get("dose"), "sem.dose", dose.dose.shape)
    park = number(state, "park_electrons", "sem")
    shift = state.get("beam_shift")
    if not (isinstance(shift, list) and len(shift) == 2 and all(isinstance(v, int | float) for v in shift)):
        raise StateError(f"sem.beam_shift: expected two numbers, got {shift!r}")
    serial = state.get("serial")
    if not isinstance(serial, int) or serial < 0:
        raise StateError(f"sem.serial: expected a frame count, got {serial!r}")
    noise = np.random.default_rng().bit_generator
    try:
        noise.state = state.get("focus_noise")
    except (TypeError, ValueError, KeyError) as exc:
        raise StateError(f"sem.focus_noise: not a generator state ({exc})") from None
    now = api._now()
    api._t0 = now - elapsed
    evolution.soc, evolution._turn_soc, evolution._strain_peak = (scalars["soc"], scalars["turn_soc"],
                                                                 scalars["strain_peak"])
    evolution._charging = bool(saved_evolution.get("charging", True))
    for name, array in arrays.items():
        setattr(evolution, name, array)
    for name, array in stage_arrays.items():
        setattr(stage, name, array)
    stage._move_start = now + saved_stage["move_start"] if saved_stage.get("move_start") is not None else -math.inf
    stage._move_end = now + saved_stage["move_end"] if saved_stage.get("move_end") is not None else -math.inf
    stage.stuck = bool(saved_stage.get("stuck", False))
    dose.dose[...] = dose_map
    dose.park_electrons = park
    dose.version += 1
    api._beam_shift = [float(shift[0]), float(shift[1])]
    api._serial = serial
    api._rng.bit_generator.state = noise.state
    api._dose_time = now
