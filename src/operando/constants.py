"""Physical constants, defined once (CODATA values from scipy.constants)."""

from __future__ import annotations

from scipy.constants import physical_constants

ELEMENTARY_CHARGE: float = physical_constants["elementary charge"][0]  # C (exact: 1.602176634e-19)
FARADAY: float = physical_constants["Faraday constant"][0]  # C/mol
