"""Drift tracking: sub-pixel registration of SEM frames, the per-region tracker that keeps each region of
interest in view, and local displacement fields of the electrode between frames."""

from ._estimator import DriftEstimator
from ._local import DisplacementField, displacement_field
from ._registration import Reference, Registration, RegistrationError, RegistrationSettings, register
from ._settings import TrackingSettings, TrackingSettingsError
from ._tracker import DriftCorrectionError, DriftResult, RegionTracker

__all__ = [
    "DisplacementField",
    "DriftCorrectionError",
    "DriftEstimator",
    "DriftResult",
    "Reference",
    "RegionTracker",
    "Registration",
    "RegistrationError",
    "RegistrationSettings",
    "TrackingSettings",
    "TrackingSettingsError",
    "displacement_field",
    "register",
]
