"""Settings of the Zeiss driver, SmartSEM's tables (frame stores, scan rates) and the unit conversions.

SmartSEM talks in its own terms: a frame-store index, a scan-rate number n (dwell = 50 ns x 2^n), beam shift
in percent, stage tilt and rotation in degrees. Everything here converts those to and from the SI of the role.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# DP_IMAGE_STORE index -> (width, height) on Merlin, Gemini and Ultra Plus (Sigma stops at index 3). Index 5
# (5120 x 3840) is left out: SBEMimage has no cycle time for it and MagC says "tileSize 5 does not exist".
IMAGE_STORES: Mapping[int, tuple[int, int]] = MappingProxyType({
    0: (1024, 768), 1: (512, 384), 2: (2048, 1536), 3: (3072, 2304), 4: (4096, 3072), 6: (6144, 4608),
    7: (8192, 6144), 8: (12288, 9216), 9: (16384, 12288), 10: (24576, 18432), 11: (32768, 24576),
})

# Detector name -> DP_DETECTOR_CHANNEL index; SmartSEM reads the name back, which the driver checks.
DETECTORS: Mapping[str, int] = MappingProxyType({"SE2": 0, "InLens": 1, "ESB": 2})

BASE_DWELL = 50e-9  # s, dwell of scan rate 0


@dataclass(frozen=True)
class ZeissConfig:
    """How the driver talks to one SmartSEM microscope; durations in s, lengths in m."""

    remote: bool = True  # InitialiseRemoting (support PC) rather than Initialise (the SmartSEM PC itself)
    detectors: Mapping[str, int] = field(default_factory=lambda: dict(DETECTORS))
    image_stores: Mapping[int, tuple[int, int]] = field(default_factory=lambda: dict(IMAGE_STORES))
    max_scan_rate: int = 15
    # Beam shift calibration: metres the beam moves at 100 % AP_BEAMSHIFT (about 10 um at 5 mm WD).
    beam_shift_full_scale: float = 10e-6
    call_timeout: float = 30.0
    stage_timeout: float = 120.0
    stage_poll_interval: float = 0.2
    stage_settle: float = 0.5
    stage_tolerance: float = 2e-6
    frozen_poll_interval: float = 0.1
    freeze_margin: float = 0.3  # waited beyond the frame time before polling DP_FROZEN (SBEMimage)
    min_freeze_wait: float = 0.8
    freeze_timeout_margin: float = 10.0  # beyond the frame time, then the frame counts as never frozen
    grab_attempts: int = 3
    blank_threshold: float = 2.0 / 255.0  # std of the lower half, as a fraction of full scale, below = blank
    beam_on_timeout: float = 120.0
    autofocus_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.detectors:
            raise ValueError("ZeissConfig.detectors: at least one detector is needed")
        if not self.beam_shift_full_scale > 0:
            raise ValueError(f"ZeissConfig.beam_shift_full_scale must be > 0 m, "
                             f"got {self.beam_shift_full_scale!r}")
        if self.grab_attempts < 1:
            raise ValueError(f"ZeissConfig.grab_attempts must be >= 1, got {self.grab_attempts!r}")
        if not 0 <= self.max_scan_rate <= 15:
            raise ValueError(f"ZeissConfig.max_scan_rate must be 0..15, got {self.max_scan_rate!r}")


def dwell_of_scan_rate(n: int) -> float:
    """Dwell time per pixel (s) of SmartSEM scan rate ``n``: 50 ns x 2^n."""
    return BASE_DWELL * 2.0**n


def scan_rate_for_dwell(dwell: float, max_scan_rate: int) -> int | None:
    """The scan rate whose dwell is nearest to ``dwell`` (s) on a log scale, or None when none is within a
    factor sqrt(2) (the request is outside what the scan generator can do)."""
    if not (isinstance(dwell, int | float) and math.isfinite(dwell) and dwell > 0):
        return None
    exact = math.log2(dwell / BASE_DWELL)
    n = round(exact)
    if not -0.5 <= exact <= max_scan_rate + 0.5:
        return None
    return min(max(n, 0), max_scan_rate)


def parse_store_label(label: str) -> tuple[int, int]:
    """'2048 * 1536' -> (2048, 1536)."""
    match = re.fullmatch(r"\s*(\d+)\s*[*x]\s*(\d+)\s*", str(label))
    if not match:
        raise ValueError(f"DP_IMAGE_STORE label {label!r} is not of the form 'W * H'")
    return int(match.group(1)), int(match.group(2))


def parse_scan_rate_label(label: str | float) -> int:
    """DP_SCANRATE reads back as a number or a label holding one ('5', 'Scan Rate 5') -> 5."""
    if isinstance(label, int | float):
        return int(label)
    match = re.search(r"\d+", label)
    if not match:
        raise ValueError(f"DP_SCANRATE label {label!r} holds no scan-rate number")
    return int(match.group())
