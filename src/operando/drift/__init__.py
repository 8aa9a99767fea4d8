"""Drift tracking: sub-pixel registration of SEM frames, the per-region tracker that keeps each region of
interest in view, and local displacement fields of the electrode between frames."""

from ._registration import Reference, Registration, RegistrationError, RegistrationSettings, register

__all__ = [
    "Reference",
    "Registration",
    "RegistrationError",
    "RegistrationSettings",
    "register",
]
