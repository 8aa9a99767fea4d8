"""One frame of one region on the microscope: move, set, settle, track, scan every detector, blank.

The beam is unblanked only while the frame is scanned (the driver's grab unblanks for the scan and blanks at
its end); this module blanks again whatever happens, so a fault never leaves the beam on the specimen. The
settle time is waited blanked: a parked, unblanked beam doses one spot (the redeposition the thesis saw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from operando.constants import ELEMENTARY_CHARGE
from operando.plan import RegionOfInterest
from operando.roles.microscope import Frame, Microscope, MicroscopeSettingError, approach_stage

THUMBNAIL_SIZE = 256  # px on the long side


@dataclass(frozen=True)
class TakenFrame:
    """What the microscope returned for one region's frame, times on the experiment timeline (s)."""

    frames: tuple[Frame, ...]
    t_start: float
    t_end: float
    images: np.ndarray  # (detector, y, x) uint16, in the region's detector order
    dose: float  # electrons/m^2 of this frame, every scan it took counted

    @property
    def t_mid(self) -> float:
        return 0.5 * (self.t_start + self.t_end)


def frame_dose(frame: Frame) -> float:
    """Electrons per m^2 the scans of a frame deposited: current x dwell x attempts / (e x pixel area)."""
    meta = frame.metadata
    return meta.current * meta.dwell * meta.attempts / (ELEMENTARY_CHARGE * meta.pixel_size**2)


def thumbnail(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A uint8 preview no larger than ``size`` px on the long side, contrast from the 1st-99th percentile."""
    stride = max(1, math.ceil(max(image.shape) / size))
    small = image[::stride, ::stride].astype(np.float32)
    low, high = np.percentile(small, (1.0, 99.0)) if small.size else (0.0, 1.0)
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.clip((small - low) * scale, 0, 255).astype(np.uint8)


class RegionSetter:
    """Puts the microscope in a region's settings, skipping what is already set for the same region."""

    def __init__(self, microscope: Microscope) -> None:
        self.microscope = microscope
        self._configured: str | None = None

    def forget(self) -> None:
        """After a fault nothing is assumed about the microscope's settings."""
        self._configured = None

    async def check(self, region: RegionOfInterest) -> None:
        """Refuse a region the microscope cannot image, before the run starts: its beam, scan and detector
        settings are set once (the beam stays blanked) and its stage position checked against the travel
        (the stage does not move). Raises :class:`MicroscopeSettingError` naming the region and setting."""
        try:
            self._configured = None
            await self._settings(region)
            position = region.stage_position
            if position is not None:
                limits = await self.microscope.stage_limits()
                for axis in ("x", "y", "z", "tilt", "rotation"):
                    value, travel = getattr(position, axis), getattr(limits, axis)
                    if value not in travel:
                        raise MicroscopeSettingError(
                            f"stage_position.{axis}", value, f"outside the stage's travel {travel.low:g} to "
                            f"{travel.high:g} {'rad' if axis in ('tilt', 'rotation') else 'm'}")
        except MicroscopeSettingError as exc:
            setting = f"region {region.name!r}: {exc.setting}"
            raise MicroscopeSettingError(setting, exc.value, exc.reason) from None
        finally:
            self._configured = None

    async def apply(self, region: RegionOfInterest, *, stage: bool = True) -> None:
        """Region's settings, and its stage position unless ``stage`` is False (its drift tracker holds it)."""
        microscope = self.microscope
        position = region.stage_position
        if position is not None and stage:
            here = await microscope.stage_position()
            away = max(abs(here.x - position.x), abs(here.y - position.y), abs(here.z - position.z)) > 1e-9 or \
                max(abs(here.tilt - position.tilt), abs(here.rotation - position.rotation)) > 1e-6
            if away:  # arriving the same way every time: regions come back to the same place (backlash)
                await approach_stage(microscope, position.x, position.y, z=position.z, tilt=position.tilt,
                                     rotation=position.rotation)
            await microscope.wait_stage_idle()
        if self._configured == region.name:
            return
        self._configured = None
        await self._settings(region)
        self._configured = region.name

    async def _settings(self, region: RegionOfInterest) -> None:
        microscope = self.microscope
        await microscope.set_beam(voltage=region.accelerating_voltage, current=region.probe_current)
        scan: dict[str, Any] = {"frame_size": region.frame_size, "dwell": region.dwell,
                                "pixel_size": region.pixel_size, "scan_rotation": region.scan_rotation}
        if region.tilt_correction is not None:
            scan["tilt_correction"] = region.tilt_correction
        await microscope.set_scan(**scan)
        await microscope.select_detectors(region.detectors)


def stack(region: RegionOfInterest, frames: tuple[Frame, ...]) -> np.ndarray:
    """The frames' images as (detector, y, x) uint16 in the region's detector order."""
    by_detector = {frame.metadata.detector.lower(): frame.image for frame in frames}
    width, height = region.frame_size
    images = np.zeros((len(region.detectors), height, width), np.uint16)
    for k, name in enumerate(region.detectors):
        image = by_detector.get(name.lower())
        if image is None:
            raise ValueError(f"region {region.name!r}: the microscope returned no {name} frame "
                             f"(got {', '.join(f.metadata.detector for f in frames) or 'none'})")
        if image.shape != (height, width):
            raise ValueError(f"region {region.name!r}: {name} frame is {image.shape[1]} x {image.shape[0]} "
                             f"px, the plan asks for {width} x {height}")
        images[k] = image
    return images
