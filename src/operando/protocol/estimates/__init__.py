"""What a resolved plan will take before it runs: its course (time, SOC, voltage) and its imaging's frames,
dose, microscope time and disk space. Works on an operando.plan.Plan only, never on the protocol as written."""

from operando.protocol.estimates.equilibrium import EquilibriumCurve, equilibrium_curve
from operando.protocol.estimates.imaging import ImagingEstimate, RegionEstimate, estimate_imaging, trigger_times
from operando.protocol.estimates.trajectory import Trajectory, estimate_trajectory

__all__ = [
    "EquilibriumCurve",
    "ImagingEstimate",
    "RegionEstimate",
    "Trajectory",
    "equilibrium_curve",
    "estimate_imaging",
    "estimate_trajectory",
    "trigger_times",
]
