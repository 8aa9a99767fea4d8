"""SmartSEM's vocabulary as the fake speaks it: return codes, frame stores, detectors and DP_* labels.

Codes and labels come from the public code that drives CZEMApi.ocx (see shared/domain/zeiss-smartsem.md);
labels no public code shows are marked "inferred" in docs/simulators.md.
"""

from __future__ import annotations

# API_E_* return codes (zeiss-smartsem.md section 1.3).
OK = 0
GET_TRANSLATE_FAIL = 1000
GET_BAD_PARAMETER = 1003
SET_TRANSLATE_FAIL = 1004
SET_FLOAT_LIMIT_LOW = 1007
SET_FLOAT_LIMIT_HIGH = 1008
SET_BAD_VALUE = 1009
SET_BAD_PARAMETER = 1010
EXEC_TRANSLATE_FAIL = 1011
EXEC_CMD_FAIL = 1012
GRAB_FAIL = 1016
GET_STAGE_FAIL = 1017
MOVE_STAGE_FAIL = 1018
NOT_INITIALISED = 1019
GET_LIMITS_FAIL = 1022
PARAMETER_IS_DISABLED = 1032
REMOTING_FAILED_TO_CONNECT = 2028
REMOTING_EMSERVER_NOT_RUNNING = 2030

# DP_IMAGE_STORE index -> (width, height) on Merlin / Gemini / Crossbeam; index 5 does not exist on the real
# instrument (SBEMimage lists no cycle time, MagC says "tileSize 5 does not exist").
IMAGE_STORES: dict[int, tuple[int, int]] = {
    0: (1024, 768),
    1: (512, 384),
    2: (2048, 1536),
    3: (3072, 2304),
    4: (4096, 3072),
    6: (6144, 4608),
    7: (8192, 6144),
    8: (12288, 9216),
    9: (16384, 12288),
    10: (24576, 18432),
    11: (32768, 24576),
}
# The fake renders up to this store; larger ones are accepted but grabbing them fails with GRAB_FAIL (memory).
LARGEST_RENDERED_STORE = 4

# DP_DETECTOR_CHANNEL index -> detector name (SE2 = 0, InLens = 1, ESB = 2, as the seam contract fixes).
DETECTORS: dict[int, str] = {0: "SE2", 1: "InLens", 2: "ESB"}

# Labels of the enumerated parameters, index order.
LABELS: dict[str, tuple[str, ...]] = {
    "DP_FREEZE_ON": ("End Frame", "End Line", "Command"),
    "DP_FROZEN": ("Live", "Frozen"),
    "DP_SCAN_ROT": ("Off", "On"),
    "DP_BEAM_BLANKING": ("Off", "On"),
    "DP_BEAM_BLANKED": ("No", "Yes"),
    "DP_STAGE_IS": ("Idle", "Busy"),
    "DP_RUNUPSTATE": ("EHT Off", "Running Up", "Beam On"),
    "DP_AUTO_FUNCTION": ("Idle", "Focus"),
    "DP_FIB_MODE": ("SEM", "FIB"),
    "DP_ZONE": ("0", "1", "2", "3"),
    "DP_SCANRATE": tuple(str(n) for n in range(16)),
    "DP_DISPLAY_CHANNELS": ("1", "2", "4"),
}
# Enumerations a client may not set (they report state).
READ_ONLY_DP = frozenset({"DP_FROZEN", "DP_BEAM_BLANKED", "DP_STAGE_IS", "DP_RUNUPSTATE", "DP_AUTO_FUNCTION"})

# Field width (m) x magnification on Merlin / Gemini / Crossbeam (SBEMimage: px_nm = 114278400 / (mag * w)).
MAGNIFICATION_FIELD_PRODUCT = 0.1142784

# Beam-shift calibration: 100 % moves the field by this many metres, whatever the magnification and WD.
BEAM_SHIFT_METRES_PER_PERCENT = 1e-7

# Scan timing: dwell = 50 ns * 2**n; frame time = dwell * pixels * 1.1 + 0.08 s (MAPFoSt).
BASE_DWELL = 50e-9
LINE_OVERHEAD_FACTOR = 1.1
FRAME_OVERHEAD = 0.08


def dwell_time(scan_rate: int) -> float:
    """Pixel dwell time (s) of scan rate ``scan_rate`` (0..15)."""
    return BASE_DWELL * 2**scan_rate


def frame_time(scan_rate: int, width: int, height: int) -> float:
    """Time (s) to scan one frame of ``width`` x ``height`` pixels at ``scan_rate``."""
    return dwell_time(scan_rate) * width * height * LINE_OVERHEAD_FACTOR + FRAME_OVERHEAD


_PREFIXES = ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def display_quantity(value: float, unit: str) -> str:
    """SmartSEM-style display value: '42.50 nm', '5.000 mm', '2.00 kV', '1.50 nA', '12.5 %'."""
    if unit in ("%", "°", "ms", "X"):
        return f"{value:.2f} {unit}" if unit != "X" else f"{value:.1f} {unit}"
    if unit == "V":
        return f"{value / 1e3:.2f} kV" if abs(value) >= 1e3 or value == 0 else f"{value:.1f} V"
    magnitude = abs(value)
    if unit == "m" and (magnitude >= 1e-3 or magnitude == 0):
        return f"{value * 1e3:.3f} mm"
    for scale, prefix in _PREFIXES:
        if magnitude >= scale or scale == 1e-12:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:g} {unit}"
