"""How a region's drift is tracked: the protocol's ``tracking`` table, with defaults that work as they are."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._registration import RegistrationError


class TrackingSettingsError(RegistrationError):
    """A tracking setting out of range or unknown; names the setting and the value."""


@dataclass(frozen=True)
class TrackingSettings:
    """Drift tracking of one region. Lengths in m, times in s, rates in SI.

    ``tracking_frames`` low-dose frames (``tracking_frame_size`` px over the same field, ``tracking_dwell``)
    are scanned right before each science frame to measure the drift just before it (0: predict only).
    """

    enabled: bool = True
    correct: bool = True  # False: measure and record the drift, never move the beam or the stage
    confidence_threshold: float = 0.5  # a registration below this moves nothing
    detector: str | None = None  # registered detector; None: ESB if taken (keeps contrast), else the first
    tracking_frames: int = 0
    tracking_frame_size: tuple[int, int] = (512, 384)
    tracking_dwell: float = 100e-9
    max_beam_shift: float | None = None  # m; None: the microscope's range times max_beam_shift_fraction
    max_beam_shift_fraction: float = 0.8
    # Stage moves end approaching in +x and +y from this far (m) below the target (the drives' play is taken
    # up the same way every time); 0 moves straight there.
    stage_approach: float = 2e-6
    verify_stage_moves: bool = True  # after a stage move, one tracking frame measures where it landed
    keyframe_similarity_threshold: float = 0.5  # hand over when the peak-to-noise falls below this share
    max_failures: int = 3  # consecutive failed registrations before the region is reported lost
    reacquire: bool = True  # after a failed registration, scan the frame again once and retry
    feed_forward: bool = True  # start each frame at the position the drift velocity predicts
    # Drift model of the velocity estimator: random walk of the position (m^2/s) and of the velocity
    # (m^2/s^3). Defaults: 1 nm/sqrt(min) and thermal settling of a few hundred nm over tens of minutes.
    position_noise: float = (1e-9) ** 2 / 60.0
    velocity_noise: float = 1e-23
    jump_threshold: float = 5.0  # px: a residual larger than this and 6 sigma is a jump, not drift
    local_fields: bool = True  # local displacement field between successive registered frames
    grid: int = 64  # px per cell of the local displacement field
    stage_y_scale: float = 1.0  # image metres per stage metre along y (1 with the face's tilt corrected)
    beam_shift_follows_scan_rotation: bool = True  # SmartSEM shifts in image axes

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("confidence_threshold", 0 < self.confidence_threshold < 1, "a fraction between 0 and 1"),
            ("tracking_frames", isinstance(self.tracking_frames, int) and 0 <= self.tracking_frames <= 100,
             "a whole number from 0 to 100"),
            ("tracking_frame_size", _size_ok(self.tracking_frame_size),
             "(width, height) px, each 64 or more"),
            ("tracking_dwell", _positive(self.tracking_dwell), "a positive dwell in s"),
            ("max_beam_shift", self.max_beam_shift is None or _positive(self.max_beam_shift),
             "a positive length in m"),
            ("max_beam_shift_fraction", 0 < self.max_beam_shift_fraction <= 1, "a fraction in (0, 1]"),
            ("stage_approach", self.stage_approach == 0 or _positive(self.stage_approach),
             "a length >= 0 in m"),
            ("keyframe_similarity_threshold", 0 < self.keyframe_similarity_threshold < 1,
             "a fraction between 0 and 1"),
            ("max_failures", isinstance(self.max_failures, int) and self.max_failures >= 1,
             "a whole number >= 1"),
            ("position_noise", _positive(self.position_noise), "a positive variance rate in m^2/s"),
            ("velocity_noise", _positive(self.velocity_noise), "a positive variance rate in m^2/s^3"),
            ("jump_threshold", _positive(self.jump_threshold), "a positive number of pixels"),
            ("grid", isinstance(self.grid, int) and self.grid >= 16, "a whole number of pixels >= 16"),
            ("stage_y_scale", _positive(self.stage_y_scale), "a positive factor"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise TrackingSettingsError(
                    f"tracking.{name}: expected {expected}, got {getattr(self, name)!r}")
        if self.detector is not None and not (isinstance(self.detector, str) and self.detector.strip()):
            raise TrackingSettingsError(f"tracking.detector: expected a detector name, got {self.detector!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrackingSettings:
        """Settings from the protocol's table (``Plan.extras['tracking'][region]``); unknown keys refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrackingSettingsError(f"tracking: unknown setting(s) {', '.join(unknown)}; known: "
                                        f"{', '.join(sorted(known))}")
        converted = dict(values)
        if "tracking_frame_size" in converted and converted["tracking_frame_size"] is not None:
            converted["tracking_frame_size"] = tuple(converted["tracking_frame_size"])
        return cls(**converted)

    @classmethod
    def coerce(cls, value: TrackingSettings | Mapping[str, Any] | None) -> TrackingSettings:
        """``value`` as settings: settings as they are, a table by :meth:`from_mapping`, None the defaults."""
        if value is None:
            return cls()
        if isinstance(value, TrackingSettings):
            return value
        if isinstance(value, Mapping):
            return cls.from_mapping(value)
        raise TrackingSettingsError(
            f"tracking: expected TrackingSettings or a table, got {type(value).__name__}")


def _positive(value: object) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0  # type: ignore[arg-type,operator]


def _size_ok(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 64 for v in value))
