"""Simulated Zeiss FIB-SEM: a fake CZEMApi seam over an evolving all-solid-state battery cross-section."""

from .czemapi import FakeCZEMApi, ScanSettings
from .damage import DamageSpec, DoseMap
from .drift import DriftModel
from .evolution import Evolution, EvolutionSpec
from .faults import Faults
from .scene import CrossSection, CrossSectionSpec, cross_section
from .stage import StageLimits, StageModel
from .truth import FrameRecord, GrabRecord, ParticleTruth

__all__ = [
    "CrossSection",
    "CrossSectionSpec",
    "DamageSpec",
    "DoseMap",
    "DriftModel",
    "Evolution",
    "EvolutionSpec",
    "FakeCZEMApi",
    "Faults",
    "FrameRecord",
    "GrabRecord",
    "ParticleTruth",
    "ScanSettings",
    "StageLimits",
    "StageModel",
    "cross_section",
]
