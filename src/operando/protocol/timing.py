"""How long a region's frame takes on a Zeiss SEM, and how many bytes it fills: the figures `check` adds up.

Frame time = dwell x pixels x 1.1 (line flyback) + 0.08 s (frame start), as SmartSEM's scan generator runs
(MAPFoSt's figure; the simulator uses the same). Detectors acquired together share one scan, so a region's
frame time does not depend on how many detectors it records; its disk size does.
"""

from __future__ import annotations

from operando.plan import RegionOfInterest

LINE_OVERHEAD = 1.1  # the scan spends 10 % of each line on flyback
FRAME_OVERHEAD = 0.08  # s per frame
BYTES_PER_PIXEL = 2  # frames are stored as uint16
# One row of the per-frame table: ~40 columns of 8 bytes (times, E, I, Q, SOC, beam, stage, drift, dose).
FRAME_TABLE_BYTES = 40 * 8
DISPLACEMENT_CELL = 64  # px: a tracked region stores one float32 (dy, dx) per 64 x 64 px cell and frame


def frame_time(region: RegionOfInterest) -> float:
    """s to scan one frame of ``region`` (all its detectors at once)."""
    width, height = region.frame_size
    return region.dwell * width * height * LINE_OVERHEAD + FRAME_OVERHEAD


def acquisition_time(region: RegionOfInterest) -> float:
    """s the microscope is busy with one acquisition: settle, then scan."""
    return region.settle_time + frame_time(region)


def frame_bytes(region: RegionOfInterest, *, tracked: bool = False) -> int:
    """Bytes one acquisition adds to the file: every detector's image, a table row, the displacement field."""
    width, height = region.frame_size
    images = len(region.detectors) * width * height * BYTES_PER_PIXEL
    displacement = 2 * (height // DISPLACEMENT_CELL) * (width // DISPLACEMENT_CELL) * 4 if tracked else 0
    return images + FRAME_TABLE_BYTES + displacement
