"""The Microscope role: beam, scan, detectors, grab, beam shift and stage of an SEM, as the engine drives it.

Async and SI throughout: volts, amperes, metres, seconds, and radians for tilt and rotation. Frame times are
on the experiment timeline (the event loop's ``loop.time()``), like every other record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from operando.errors import OperandoError
from operando.roles.instrument import InstrumentInfo


class MicroscopeSettingError(OperandoError, ValueError):
    """A setting the microscope cannot take; nothing was changed. Names the setting and the value."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        self.setting = setting
        self.value = value
        self.reason = reason
        super().__init__(f"{setting}: {reason} (got {value!r}); nothing was changed")


@dataclass(frozen=True)
class StagePosition:
    """Stage coordinates: x, y, z in m; tilt and rotation in rad."""

    x: float
    y: float
    z: float
    tilt: float = 0.0
    rotation: float = 0.0


@dataclass(frozen=True)
class Range:
    """An inclusive range [low, high] in the SI unit of the quantity it bounds."""

    low: float
    high: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


@dataclass(frozen=True)
class StageLimits:
    """Travel of each stage axis: x, y, z in m; tilt and rotation in rad."""

    x: Range
    y: Range
    z: Range
    tilt: Range
    rotation: Range


@dataclass(frozen=True)
class BeamState:
    """Electron beam: ``voltage`` V, probe ``current`` A, working distance m, blanked, on (EHT running)."""

    voltage: float
    current: float
    working_distance: float
    blanked: bool
    on: bool


@dataclass(frozen=True)
class ScanSettings:
    """Scan: frame size in pixels, ``dwell`` s per pixel, ``pixel_size`` m, rotation and tilt in rad."""

    frame_width: int
    frame_height: int
    dwell: float
    pixel_size: float
    scan_rotation: float = 0.0
    tilt_correction: float = 0.0

    @property
    def field_width(self) -> float:
        """Horizontal field of view, m."""
        return self.pixel_size * self.frame_width

    @property
    def field_height(self) -> float:
        """Vertical field of view, m."""
        return self.pixel_size * self.frame_height


@dataclass(frozen=True)
class FrameMetadata:
    """What a frame was taken with, and when on the experiment timeline (``t_start``/``t_end`` s)."""

    detector: str
    pixel_size: float
    dwell: float
    voltage: float
    current: float
    frame_width: int
    frame_height: int
    working_distance: float
    scan_rotation: float
    stage: StagePosition
    beam_shift: tuple[float, float]
    t_start: float
    t_end: float
    bit_depth: int = 16
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def t_mid(self) -> float:
        """Midpoint of the scan: the time a frame stands for."""
        return 0.5 * (self.t_start + self.t_end)


@dataclass(frozen=True)
class Frame:
    """One detector's image: a 2-D uint16 array (rows = y) and its metadata."""

    image: np.ndarray
    metadata: FrameMetadata


@runtime_checkable
class Microscope(Protocol):
    """An SEM as the engine drives it. Setters validate everything first and change nothing on a bad value
    (:class:`MicroscopeSettingError`); vendor failures raise :class:`operando.errors.InstrumentError`.

    The beam stays blanked except while a frame is scanned. ``grab`` takes one frame of every selected
    detector from the same scan. ``safe_state`` blanks the beam and stops the stage and must work after any
    fault. ``autofocus`` is optional: a microscope without it raises NotImplementedError.
    """

    async def connect(self) -> InstrumentInfo: ...

    async def disconnect(self) -> None: ...

    async def safe_state(self) -> None: ...

    async def beam(self) -> BeamState: ...

    async def set_beam(self, *, voltage: float | None = None, current: float | None = None) -> BeamState: ...

    async def blank(self) -> None: ...

    async def unblank(self) -> None: ...

    async def beam_on(self) -> None: ...

    async def beam_off(self) -> None: ...

    async def scan(self) -> ScanSettings: ...

    async def set_scan(self, *, frame_size: tuple[int, int] | None = None, dwell: float | None = None,
                       pixel_size: float | None = None, field_width: float | None = None,
                       scan_rotation: float | None = None,
                       tilt_correction: float | None = None) -> ScanSettings: ...

    async def detectors(self) -> tuple[str, ...]: ...

    async def select_detectors(self, names: Sequence[str]) -> tuple[str, ...]: ...

    async def grab(self) -> tuple[Frame, ...]: ...

    async def beam_shift(self) -> tuple[float, float]: ...

    async def beam_shift_range(self) -> Range: ...

    async def set_beam_shift(self, x: float, y: float) -> tuple[float, float]: ...

    async def stage_position(self) -> StagePosition: ...

    async def stage_limits(self) -> StageLimits: ...

    async def move_stage(self, *, x: float | None = None, y: float | None = None, z: float | None = None,
                         tilt: float | None = None, rotation: float | None = None,
                         relative: bool = False) -> StagePosition: ...

    async def wait_stage_idle(self) -> StagePosition: ...

    async def autofocus(self) -> float: ...

    async def settings_snapshot(self) -> dict[str, Any]: ...


# m: more than the play of a stage's x and y drives (about 1 um on SEM stages), taken up before arriving.
STAGE_APPROACH = 2e-6


async def approach_stage(microscope: Microscope, x: float, y: float, *, approach: float = STAGE_APPROACH,
                         **others: float) -> StagePosition:
    """Move the stage to (x, y) m arriving in +x and +y over at least ``approach`` m, so the drives' play
    (backlash) is taken up the same way at every arrival and a region comes back to the same place on the
    specimen whichever way the stage came from. ``others`` (z, tilt, rotation) go with the last move."""
    here = await microscope.stage_position()
    if approach > 0 and (x - here.x < approach or y - here.y < approach):
        travel = await microscope.stage_limits()  # a target at the end of travel: approach as far as it goes
        await microscope.move_stage(x=max(x - approach, travel.x.low), y=max(y - approach, travel.y.low))
    return await microscope.move_stage(x=x, y=y, **others)
