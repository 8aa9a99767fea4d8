"""Ground truth the fake SmartSEM exposes to tests: what really happened, which no driver can read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .imaging import FrameGeometry


@dataclass
class FrameRecord:
    """One scanned frame (frozen or grabbed live): its timing on the simulator clock (s), geometry, and the
    true drift (m), stage position and state of charge at its mid-scan. Only the newest keeps ``images``."""

    serial: int
    t_start: float
    t_end: float
    geometry: FrameGeometry
    detectors: tuple[str, ...]
    valid_rows: np.ndarray
    drift_mid: np.ndarray
    stage_mid: np.ndarray
    settings: dict
    soc: float = float("nan")
    images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def t_mid(self) -> float:
        return 0.5 * (self.t_start + self.t_end)


@dataclass(frozen=True)
class GrabRecord:
    """One Grab call that wrote a file: the file, the frame it came from, the detector and the pixels."""

    filename: str
    frame: FrameRecord
    detector: str
    bits: int
    shape: tuple[int, int]


@dataclass(frozen=True)
class ParticleTruth:
    """A particle's true state: current centre (m), current radius (m), depth (0 separator .. 1 collector),
    edge-to-separator gap (m), local state of charge, crack opening (m) and NMC/LPS decohesion gap (m)."""

    index: int
    centre: np.ndarray
    radius: float
    depth: float
    distance_to_separator: float
    local_soc: float
    crack_width: float
    decohesion_gap: float
    crack_path: np.ndarray = field(repr=False)
