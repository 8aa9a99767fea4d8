"""A small protocol with an imaging section, for the imaging tests to vary."""

NMC622_VS_LI_IN = """
material = "NMC622"
active_mass = "3.2549 mg"          # 0.9 mAh: C/60 = 15 uA, C/10 = 90 uA
counter_electrode = "Li-In"
"""
# A cathode without a reference OCV curve, against lithium metal (voltages as measured are vs Li)
LCO_VS_LI = """
material = "LCO"
active_mass = "3 mg"
counter_electrode = "Li"
"""

SAFETY = """
[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "100 uA"
duration_max = "150 h"
"""

REST_10_H = """
[[steps]]
name = "rest"
technique = "rest"
duration = "10 h"
"""

WIDE = """
[[imaging.regions]]
name = "wide"
pixel_size = "42.5 nm"
frame_size = "2048x1536"
dwell = "800 ns"
detectors = ["SE2", "ESB"]
accelerating_voltage = "2 kV"
probe_current = "2 nA"
triggers = [{ every = "2 h" }]
"""


def protocol(
    steps: str = REST_10_H, regions: str = WIDE, imaging: str = "", cell: str = NMC622_VS_LI_IN
) -> str:
    """``cell``, the safety above, ``steps``, then ``[imaging]`` with ``imaging`` lines and ``regions``."""
    return f'name = "imaging-test"\n\n[cell]\n{cell}\n{SAFETY}\n{steps}\n[imaging]\n{imaging}\n{regions}'
