"""How long a region's acquisition takes on a Zeiss SEM, what dose it deposits and how many bytes it fills.

Frame time = dwell x pixels x 1.1 (line flyback) + 0.08 s (frame start), as SmartSEM's scan generator runs
(MAPFoSt's figure; the simulator uses the same). Detectors acquired together share one scan, so a region's
frame time does not depend on how many detectors it records; its disk size does. A tracked region may scan
low-dose tracking frames of the same field before each frame (``tracking`` is the region's entry of
``Plan.extras["tracking"]``): they cost time and dose, and are not stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from operando.constants import ELEMENTARY_CHARGE
from operando.plan import RegionOfInterest

LINE_OVERHEAD = 1.1  # the scan spends 10 % of each line on flyback
FRAME_OVERHEAD = 0.08  # s per frame
BYTES_PER_PIXEL = 2  # frames are stored as uint16
# One row of the per-frame table: ~40 columns of 8 bytes (times, E, I, Q, SOC, beam, stage, drift, dose).
FRAME_TABLE_BYTES = 40 * 8
DISPLACEMENT_CELL = 64  # px: the local displacement field's grid unless the tracking settings say otherwise


def scan_time(dwell: float, width: int, height: int) -> float:
    """s to scan one ``width`` x ``height`` frame at ``dwell`` s per pixel."""
    return dwell * width * height * LINE_OVERHEAD + FRAME_OVERHEAD


def frame_time(region: RegionOfInterest) -> float:
    """s to scan one frame of ``region`` (all its detectors at once)."""
    return scan_time(region.dwell, *region.frame_size)


def _tracking_frames(tracking: Mapping[str, Any] | None) -> int:
    if not tracking or not tracking.get("enabled"):
        return 0
    return int(tracking.get("tracking_frames") or 0)


def tracking_time(tracking: Mapping[str, Any] | None) -> float:
    """s of tracking frames scanned before each frame of a region."""
    count = _tracking_frames(tracking)
    if not count:
        return 0.0
    assert tracking is not None
    return count * scan_time(float(tracking["tracking_dwell"]), *tracking["tracking_frame_size"])


def tracking_dose(region: RegionOfInterest, tracking: Mapping[str, Any] | None) -> float:
    """Electrons per m^2 the tracking frames before each frame deposit: the same field, fewer pixels."""
    count = _tracking_frames(tracking)
    if not count:
        return 0.0
    assert tracking is not None
    pixel = region.field_of_view[0] / tracking["tracking_frame_size"][0]
    return count * region.probe_current * float(tracking["tracking_dwell"]) / (ELEMENTARY_CHARGE * pixel**2)


def acquisition_time(region: RegionOfInterest, tracking: Mapping[str, Any] | None = None) -> float:
    """s the microscope is busy with one acquisition: settle, tracking frames, the frame."""
    return region.settle_time + tracking_time(tracking) + frame_time(region)


def frame_bytes(region: RegionOfInterest, tracking: Mapping[str, Any] | None = None) -> int:
    """Bytes one frame adds to the file: every detector's image, a table row, the displacement field."""
    width, height = region.frame_size
    images = len(region.detectors) * width * height * BYTES_PER_PIXEL
    displacement = 0
    if tracking and tracking.get("enabled") and tracking.get("local_fields", True):
        grid = int(tracking.get("grid") or DISPLACEMENT_CELL)
        displacement = 2 * (height // grid) * (width // grid) * 4  # (dy, dx) float32 per cell
    return images + FRAME_TABLE_BYTES + displacement
