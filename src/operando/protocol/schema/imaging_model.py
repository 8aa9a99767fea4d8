"""The ``[imaging]`` part of a protocol: named regions of interest, their beam and scan, and their triggers.

Written as TOML (``[[imaging.regions]]``) or built in Python with the same model; quantities with units,
validated on their own here. Checks that need the cell or the steps (voltages of crossings, step names,
frame times against intervals, dose budgets against the plan) happen in :mod:`operando.protocol.resolution.imaging`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator

from operando.cells import Fraction, PotentialValue
from operando.errors import ProtocolError
from operando.protocol.schema.base import Model
from operando.units import quantity_type

# SmartSEM's frame stores (DP_IMAGE_STORE), the sizes a Zeiss SEM can scan; the same table as the Zeiss
# driver's (drivers/zeiss/config.py), which leaves out index 5 (5120 x 3840) as unreliable.
FRAME_STORES: tuple[tuple[int, int], ...] = (
    (512, 384), (1024, 768), (2048, 1536), (3072, 2304), (4096, 3072), (6144, 4608), (8192, 6144),
    (12288, 9216), (16384, 12288), (24576, 18432), (32768, 24576),
)  # fmt: skip
# Zeiss detector names; what a researcher types is matched ignoring case, spaces, dashes and underscores.
DETECTORS: tuple[str, ...] = ("SE2", "InLens", "ESB")
# SmartSEM scan rate n scans with a dwell of 50 ns x 2^n per pixel, n = 0..15.
BASE_DWELL = 50e-9  # s
MAX_SCAN_RATE = 15
MAX_ACCELERATING_VOLTAGE = 30e3  # V: the Gemini column's top
MIN_ACCELERATING_VOLTAGE = 20.0  # V: its bottom (with beam deceleration)
OPERANDO_VOLTAGE = 2e3  # V: above it battery cross-sections take more damage (thesis: 1.5-2 kV); a warning
MAX_PROBE_CURRENT = 100e-9  # A: no Gemini SEM column delivers more
OPERANDO_PROBE_CURRENT = 2e-9  # A: the thesis's ceiling for operando imaging; raise imaging.max_probe_current
MAX_STAGE_TRAVEL = 0.2  # m: no SEM stage travels further from its origin; catches "12 m" for "12 mm"
MIN_PIXEL_SIZE = 0.1e-9  # m
MAX_FIELD_WIDTH = 10e-3  # m

Length = quantity_type("length")
PositiveLength = quantity_type("length", positive=True)
Angle = quantity_type("angle")
Duration = quantity_type("time", positive=True)
NonNegativeDuration = quantity_type("time")
Charge = quantity_type("charge", positive=True)
PositiveVoltage = quantity_type("voltage", positive=True)
PositiveCurrent = quantity_type("current", positive=True)
Dose = quantity_type("dose", positive=True)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_DETECTOR_KEYS = {_key(name): name for name in DETECTORS}


def store_sizes() -> str:
    """The frame stores as a researcher writes them, for error messages."""
    return ", ".join(f"{width}x{height}" for width, height in FRAME_STORES)


def _frame_size(value: object) -> tuple[int, int]:
    """ "2048x1536", "2048 x 1536", "2048*1536" or [2048, 1536] -> (2048, 1536), one of the frame stores."""
    size: tuple[int, int] | None = None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[x×*X]\s*(\d+)\s*(?:px)?\s*", value)
        if match:
            size = (int(match[1]), int(match[2]))
    elif isinstance(value, list | tuple) and len(value) == 2:
        if all(isinstance(part, int) and not isinstance(part, bool) for part in value):
            size = (int(value[0]), int(value[1]))
    if size is None:
        raise ValueError(
            f"write the frame size as 'width x height' in pixels, e.g. '2048x1536', got {value!r}"
        )
    if size not in FRAME_STORES:
        raise ValueError(
            f"{size[0]}x{size[1]} is not a frame size a Zeiss SEM scans; its frame stores are {store_sizes()}"
        )
    return size


FrameSize = Annotated[
    tuple[int, int], PlainValidator(_frame_size), PlainSerializer(lambda v: f"{v[0]}x{v[1]}", return_type=str)
]


def _detector(value: object) -> str:
    if isinstance(value, str) and _key(value) in _DETECTOR_KEYS:
        return _DETECTOR_KEYS[_key(value)]
    raise ValueError(f"unknown detector {value!r}; known: {', '.join(DETECTORS)}")


Detector = Annotated[str, PlainValidator(_detector)]


class StageSpec(Model):
    """A stage position as SmartSEM shows it: x, y, z ("12.5 mm"), tilt and rotation ("54 deg")."""

    x: Length  # type: ignore[valid-type]
    y: Length  # type: ignore[valid-type]
    z: Length  # type: ignore[valid-type]
    tilt: Angle = 0.0  # type: ignore[valid-type]
    rotation: Angle = 0.0  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _within_reach(self) -> StageSpec:
        problems: list[tuple[str, str, object]] = []
        for axis in ("x", "y", "z"):
            value = getattr(self, axis)
            if abs(value) > MAX_STAGE_TRAVEL:
                problems.append(
                    (axis, f"{value:.4g} m is beyond any SEM stage's travel (did you mean mm?)", None)
                )
        if abs(self.tilt) > math.pi / 2:
            problems.append(
                ("tilt", f"{math.degrees(self.tilt):.4g} deg: a stage tilts within +-90 deg", None)
            )
        if abs(self.rotation) > 2 * math.pi:
            problems.append(
                ("rotation", f"{math.degrees(self.rotation):.4g} deg: write it within +-360 deg", None)
            )
        if problems:
            raise ProtocolError(problems)
        return self


def _stage(value: object) -> StageSpec | None:
    """ "current" (image wherever the stage is at the start) or a table of coordinates."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "current"):
        return None
    if isinstance(value, StageSpec):
        return value
    if isinstance(value, dict):
        return StageSpec(**value)
    raise ValueError(
        f"write 'current' (where the stage is when the run starts) or a table such as "
        f"{{x = '12.5 mm', y = '8 mm', z = '5 mm', tilt = '54 deg', rotation = '0 deg'}}, got {value!r}"
    )


StageValue = Annotated[
    StageSpec | None,
    PlainValidator(_stage),
    PlainSerializer(lambda v: v.model_dump() if v is not None else "current"),
]

TRIGGER_KINDS = ("every", "soc_step", "charge_step", "voltage", "step_start", "step_end", "manual")


def _step_name(value: object) -> str | bool:
    """A step name or technique label; ``true`` means every step."""
    if value is True:
        return True
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(
        f"name a step or a technique label (e.g. 'charge', 'GCPL'), or true for every step, got {value!r}"
    )


StepName = Annotated[str | bool, PlainValidator(_step_name)]


class TriggerSpec(Model):
    """One trigger, one kind per table: {every = "2 h"}, {soc_step = "5 %"}, {charge_step = "0.1 mAh"},
    {voltage = "4.2 V vs Li", direction = "rising"}, {step_start = "hold"}, {step_end = "charge"},
    {manual = true}."""

    every: Duration | None = None  # type: ignore[valid-type]
    soc_step: Fraction | None = None
    charge_step: Charge | None = None  # type: ignore[valid-type]
    voltage: PotentialValue | None = None
    direction: Literal["rising", "falling", "either"] | None = None
    step_start: StepName | None = None
    step_end: StepName | None = None
    manual: bool | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSpec:
        given = [kind for kind in TRIGGER_KINDS if kind in self.model_fields_set]
        if len(given) != 1:
            found = f"; this one has {', '.join(given)}" if given else ""
            raise ProtocolError(
                [("", f"a trigger has exactly one of {', '.join(TRIGGER_KINDS)}{found}", None)]
            )
        if self.direction is not None and given != ["voltage"]:
            raise ProtocolError([("direction", "only a voltage trigger has a direction", self.direction)])
        if self.soc_step is not None and not self.soc_step > 0:
            raise ProtocolError([("soc_step", "must be above 0 %", self.soc_step)])
        if self.manual is False:
            raise ProtocolError([("manual", "false is no trigger: remove the table, or write true", None)])
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in TRIGGER_KINDS if kind in self.model_fields_set)


Fraction01 = Annotated[float, Field(gt=0, lt=1)]


class TrackingSpec(Model):
    """Drift tracking of one region (``[imaging.regions.tracking]``), on unless ``enabled = false``.

    The fields of :class:`operando.drift.TrackingSettings`, with units where they have one; a field left out
    takes the tracker's default.
    """

    enabled: bool = True
    correct: bool | None = None  # False: measure and record the drift, never move anything
    confidence_threshold: Fraction01 | None = None  # a registration below it moves nothing
    detector: Detector | None = None  # the detector registered; one of the region's
    tracking_frames: Annotated[int, Field(ge=0, le=100)] | None = None  # low-dose frames before each frame
    tracking_frame_size: FrameSize | None = None
    tracking_dwell: Duration | None = None  # type: ignore[valid-type]
    max_beam_shift: PositiveLength | None = None  # type: ignore[valid-type]  # then the stage moves
    max_beam_shift_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    stage_approach: Length | None = None  # type: ignore[valid-type]  # stage moves end approaching from this far
    verify_stage_moves: bool | None = None
    keyframe_similarity_threshold: Fraction01 | None = None
    max_failures: Annotated[int, Field(ge=1)] | None = None  # failed registrations before the region is lost
    reacquire: bool | None = None
    feed_forward: bool | None = None
    position_noise: quantity_type("diffusivity", positive=True) | None = None  # type: ignore[valid-type]
    velocity_noise: quantity_type("velocity_noise", positive=True) | None = None  # type: ignore[valid-type]
    jump_threshold: Annotated[float, Field(gt=0)] | None = None  # px
    local_fields: bool | None = None
    grid: Annotated[int, Field(ge=16)] | None = None  # px per cell of the local displacement field
    stage_y_scale: Annotated[float, Field(gt=0)] | None = None
    beam_shift_follows_scan_rotation: bool | None = None


class RegionSpec(Model):
    """One region of interest: where, with which beam and scan, on which triggers, within what dose."""

    name: str
    stage_position: StageValue = None
    pixel_size: PositiveLength | None = None  # type: ignore[valid-type]
    field_of_view: PositiveLength | None = None  # type: ignore[valid-type]  # the width; pixel = it / width
    frame_size: FrameSize
    dwell: Duration | None = None  # type: ignore[valid-type]
    scan_rate: Annotated[int, Field(ge=0, le=MAX_SCAN_RATE)] | None = None  # SmartSEM: 50 ns x 2^n
    detectors: list[Detector] = Field(min_length=1)
    accelerating_voltage: PositiveVoltage  # type: ignore[valid-type]
    probe_current: PositiveCurrent  # type: ignore[valid-type]
    tilt_correction: Angle | None = None  # type: ignore[valid-type]  # None: leave as set on the microscope
    scan_rotation: Angle = 0.0  # type: ignore[valid-type]
    triggers: list[TriggerSpec] = Field(min_length=1)
    min_interval: NonNegativeDuration = 0.0  # type: ignore[valid-type]
    dose_budget: Dose | None = None  # type: ignore[valid-type]
    on_budget_exceeded: Literal["skip", "stop_region"] = "skip"
    settle_time: NonNegativeDuration = 0.5  # type: ignore[valid-type]
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)

    @field_validator("min_interval", "settle_time")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"must not be negative, got {value:g} s")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # The name becomes an HDF5 group (/entry/rois/<name>) and an MQTT topic level.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}", value):
            raise ValueError(
                f"{value!r}: a region name is 1-64 letters, digits, '_' or '-' (it names an HDF5 group and "
                "a telemetry topic), starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RegionSpec:
        problems: list[tuple[str, str, object]] = []
        if (self.pixel_size is None) == (self.field_of_view is None):
            problems.append(
                ("pixel_size", "give either pixel_size or field_of_view (its width), not both", None)
            )
        if (self.dwell is None) == (self.scan_rate is None):
            problems.append(
                ("dwell", "give either dwell (e.g. '800 ns') or scan_rate (SmartSEM 0..15), not both", None)
            )
        if self.dwell is not None and not BASE_DWELL * 0.999 <= self.dwell <= dwell_of(MAX_SCAN_RATE) * 1.001:
            problems.append(
                (
                    "dwell",
                    f"{self.dwell * 1e9:.4g} ns is outside what a Zeiss scan generator does: 50 ns "
                    f"(scan rate 0) to {dwell_of(MAX_SCAN_RATE) * 1e3:.4g} ms (scan rate {MAX_SCAN_RATE})",
                    None,
                )
            )
        if len(set(self.detectors)) != len(self.detectors):
            problems.append(("detectors", "a detector is named twice", list(self.detectors)))
        if self.tracking.detector is not None and self.tracking.detector not in self.detectors:
            problems.append(
                (
                    "tracking.detector",
                    f"the region records {', '.join(self.detectors)}: track on one of them",
                    self.tracking.detector,
                )
            )
        volts = self.accelerating_voltage
        if not MIN_ACCELERATING_VOLTAGE <= volts <= MAX_ACCELERATING_VOLTAGE:
            problems.append(
                (
                    "accelerating_voltage",
                    f"{volts / 1e3:.4g} kV is outside an SEM column's range (0.02-30 kV); battery "
                    "cross-sections are imaged at 1.5-2 kV",
                    None,
                )
            )
        if self.probe_current > MAX_PROBE_CURRENT:
            problems.append(
                (
                    "probe_current",
                    f"{self.probe_current * 1e9:.4g} nA: no SEM column delivers above 100 nA",
                    None,
                )
            )
        pixel = self.resolved_pixel_size
        if pixel is not None and pixel < MIN_PIXEL_SIZE:
            problems.append(("pixel_size", f"{pixel * 1e9:.4g} nm is below any SEM's resolution", None))
        if pixel is not None and pixel * self.frame_size[0] > MAX_FIELD_WIDTH:
            problems.append(
                (
                    "field_of_view" if self.field_of_view else "pixel_size",
                    f"a field {pixel * self.frame_size[0] * 1e3:.4g} mm wide is beyond any SEM's scan",
                    None,
                )
            )
        if problems:
            raise ProtocolError(problems)
        return self

    @property
    def resolved_pixel_size(self) -> float:
        """m per pixel, from pixel_size or field_of_view / frame width."""
        if self.pixel_size is not None:
            return self.pixel_size
        return (self.field_of_view or 0.0) / self.frame_size[0]

    @property
    def resolved_dwell(self) -> float:
        """s per pixel, from dwell or the SmartSEM scan rate."""
        return self.dwell if self.dwell is not None else dwell_of(self.scan_rate or 0)


def dwell_of(scan_rate: int) -> float:
    """s per pixel of SmartSEM scan rate ``scan_rate``: 50 ns x 2^n."""
    return BASE_DWELL * 2.0**scan_rate


def nearest_scan_rate(dwell: float) -> int:
    """The SmartSEM scan rate whose dwell is nearest to ``dwell`` on a log scale (what the driver picks)."""
    return min(max(round(math.log2(dwell / BASE_DWELL)), 0), MAX_SCAN_RATE)


class Imaging(Model):
    """The microscope's part of the protocol: the regions, and the probe-current ceiling they must keep."""

    max_probe_current: PositiveCurrent = OPERANDO_PROBE_CURRENT  # type: ignore[valid-type]
    regions: list[RegionSpec] = Field(min_length=1)

    @field_validator("max_probe_current")
    @classmethod
    def _possible(cls, value: float) -> float:
        if value > MAX_PROBE_CURRENT:
            raise ValueError(f"{value * 1e9:.4g} nA: no SEM column delivers above 100 nA")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Imaging:
        problems: list[tuple[str, str, object]] = []
        seen: set[str] = set()
        for position, region in enumerate(self.regions):
            if region.name in seen:
                problems.append((f"regions[{position}].name", "another region has this name", region.name))
            seen.add(region.name)
            if region.probe_current > self.max_probe_current * (1 + 1e-9):
                problems.append(
                    (
                        f"regions[{position}].probe_current",
                        f"{region.probe_current * 1e9:.4g} nA is above imaging.max_probe_current "
                        f"{self.max_probe_current * 1e9:.4g} nA (operando default 2 nA: more dose damages "
                        "the electrolyte); raise imaging.max_probe_current to allow it",
                        None,
                    )
                )
        if problems:
            raise ProtocolError(problems)
        return self
