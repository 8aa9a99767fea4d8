"""Analysis of measured electrochemistry (GITT diffusion coefficients); pure numpy, no instrument code."""

from operando.analysis.gitt import GittPulse, analyse_gitt, find_pulses

__all__ = ["GittPulse", "analyse_gitt", "find_pulses"]
