"""One frame as the record keeps it: the typed row of /entry/rois/<region> and the pixels that go with it.

The row's schema lives here and only here: every field declared with :func:`column` is a column of the region's
table (its dtype, unit and description in the field's metadata, in declaration order). The file's writer, its
readers, the GUI and telemetry derive their columns from :class:`FrameRecord`, so a new per-frame value is one
field added here (or in a subclass, for columns of one's own).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from operando.storage._table import Column

EC_SOURCES = ("interpolated", "extrapolated", "none")

_COLUMN = "operando.column"


def column(dtype: str, unit: str, description: str, **field: Any) -> Any:
    """A field that is a column of the frame table: numpy ``dtype``, ``unit`` ("" a count or code, "1" a
    fraction) and what it holds; ``field`` goes to :func:`dataclasses.field` (e.g. ``default``)."""
    return dataclasses.field(metadata={_COLUMN: (dtype, unit, description)}, **field)


@dataclass(frozen=True, kw_only=True, eq=False)
class FrameRecord:
    """A frame of one region, every detector from one scan, with the electrochemical state at mid-scan and
    the drift tracker's verdict: ``images`` (detector, y, x) uint16, ``displacement`` (2, gy, gx) m or None,
    and one table row (the fields declared with :func:`column`). Times s on the timeline."""

    region: str
    images: np.ndarray = dataclasses.field(repr=False)
    displacement: np.ndarray | None = dataclasses.field(default=None, repr=False)

    index: int = column("i4", "", "frame number of the region, from 0, carried on across a resume")
    trigger: int = column("u1", "", "what asked for the frame: index into the trigger_labels attribute")
    t_requested: float = column("f8", "s", "timeline time the trigger fired")
    t_start: float = column("f8", "s", "timeline time the scan started")
    t_mid: float = column("f8", "s", "timeline time of mid-scan: the time the frame stands for")
    t_end: float = column("f8", "s", "timeline time the scan ended")
    # electrochemical state at mid-scan
    E_we: float = column("f8", "V", "working electrode potential at mid-scan (from the electrochem table)")
    I: float = column("f8", "A", "current at mid-scan")  # noqa: E741 - the lab's name for the current
    Q: float = column("f8", "C", "charge since start at mid-scan")
    soc: float = column("f8", "1", "state of charge at mid-scan")
    cycle: int = column("i4", "", "cycle number at mid-scan (of the nearest point)")
    step: int = column("i4", "", "planned step at mid-scan (of the nearest point)")
    ec_source: int = column("u1", "", "0 interpolated between points, 1 held from the last point, 2 no point")
    # what the microscope reported
    pixel_size: float = column("f8", "m", "pixel size the microscope reported")
    accelerating_voltage: float = column("f8", "V", "electron beam accelerating voltage (EHT)")
    probe_current: float = column("f8", "A", "electron beam probe current")
    dwell: float = column("f8", "s", "dwell time per pixel")
    working_distance: float = column("f8", "m", "working distance")
    attempts: int = column("u1", "", "scans it took (a rejected frame is scanned again: each scan doses)")
    stage_x: float = column("f8", "m", "stage x after the frame")
    stage_y: float = column("f8", "m", "stage y after the frame")
    stage_z: float = column("f8", "m", "stage z after the frame")
    stage_tilt: float = column("f8", "rad", "stage tilt after the frame")
    stage_rotation: float = column("f8", "rad", "stage rotation after the frame")
    beam_shift_x: float = column("f8", "m", "beam shift x the frame was scanned with")
    beam_shift_y: float = column("f8", "m", "beam shift y the frame was scanned with")
    # the drift tracker's verdict (NaN and 0 without tracking)
    drift_y: float = column("f8", "m", "drift measured against the keyframe, y (NaN without tracking)",
                            default=math.nan)
    drift_x: float = column("f8", "m", "drift measured against the keyframe, x (NaN without tracking)",
                            default=math.nan)
    drift_confidence: float = column("f8", "1", "confidence of the drift measurement, 0..1 (NaN without "
                                     "tracking)", default=math.nan)
    drift_valid: int = column("u1", "", "1 if the drift measurement was trusted", default=0)
    correction_x: float = column("f8", "m", "beam shift x after the tracker's correction", default=math.nan)
    correction_y: float = column("f8", "m", "beam shift y after the tracker's correction", default=math.nan)
    stage_moved: int = column("u1", "", "1 if the tracker moved the stage", default=0)
    max_local_displacement: float = column("f8", "m", "largest local displacement of the frame (NaN without)",
                                           default=math.nan)
    # dose
    frame_dose: float = column("f8", "e/m^2", "dose of this frame: current x dwell x attempts / (e x px^2)")
    cumulative_dose: float = column("f8", "e/m^2", "dose of the region's frames so far, this one included")

    @classmethod
    def columns(cls) -> tuple[Column, ...]:
        """The frame table's columns, in declaration order (subclasses' after the base's)."""
        return tuple(Column(f.name, *f.metadata[_COLUMN]) for f in dataclasses.fields(cls) if _COLUMN in f.metadata)

    def row(self) -> dict[str, Any]:
        """The table row: every column's value by name."""
        return {c.name: getattr(self, c.name) for c in self.columns()}

    @property
    def ec_source_label(self) -> str:
        """Where the electrochemical state came from, in words (see :data:`EC_SOURCES`)."""
        return EC_SOURCES[self.ec_source]


FRAME_TABLE = FrameRecord.columns()
