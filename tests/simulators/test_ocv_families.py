"""Every material family of the table simulates a C/10 charge whose plateau lies where the literature puts it;
a material with no curve is refused before anything starts (exit 2, one line naming cell.material)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from operando.cli import main
from operando.storage.reader import read_experiment

# 0.1 mg of active material keeps the C/10 current near 1.5 uA, so the polarisation in the holder (~3.4 kOhm
# series plus charge transfer at 15 kPa) stays under 10 mV: the measured voltage is the OCV to within that.
PROTOCOL = """\
name = "c10-{tag}"

[cell]
name = "{material} | SE | {counter}"
material = "{material}"
active_mass = "0.1 mg"
counter_electrode = "{counter}"
initial_soc = {start}

[safety]
voltage_min = "0.5 V vs {ion}"
voltage_max = "5.0 V vs {ion}"
current_max = "100 uA"
duration_max = "10 h"

[[steps]]
name = "charge"
technique = "cc"
current = "C/10"
until.time = "2 h"
"""

# (material, counter electrode, working ion, initial SOC; the C/10 charge then spans SOC start..start+0.2,
#  literature voltage vs the metal over that span, tolerance V, source)
CASES = [
    ("NMC811", "Li", "Li", 0.25, 3.78, 0.07,
     "NMC811 vs Li mid-charge (~100 mAh/g) 3.75-3.8 V: Noh et al., J. Power Sources 233 (2013) 121"),
    ("NCA", "Li", "Li", 0.25, 3.78, 0.07,
     "NCA vs Li at x ~0.35: ~3.75-3.8 V, Albertus et al., J. Electrochem. Soc. 156 (2009) A606"),
    ("LCO", "Li", "Li", 0.06, 3.93, 0.03,
     "LiCoO2 two-phase plateau 3.93 V for x 0.05-0.25: Reimers and Dahn, J. Electrochem. Soc. 139 (1992) 2091"),
    ("LMO", "Li-In", "Li", 0.10, 4.00, 0.04,
     "LiMn2O4 lower plateau ~4.0 V vs Li (x < 0.5): Ohzuku et al., J. Electrochem. Soc. 137 (1990) 769"),
    ("LMO", "Li", "Li", 0.60, 4.13, 0.04,
     "LiMn2O4 upper plateau ~4.1-4.15 V vs Li (x > 0.5): Ohzuku et al., J. Electrochem. Soc. 137 (1990) 769"),
    ("LTO", "Li", "Li", 0.40, 1.55, 0.03,
     "Li4Ti5O12 flat plateau 1.55 V vs Li: Ohzuku et al., J. Electrochem. Soc. 142 (1995) 1431"),
    ("NVP", "Na", "Na", 0.40, 3.40, 0.03,
     "Na3V2(PO4)3 flat plateau 3.4 V vs Na: Jian et al., Electrochem. Commun. 14 (2012) 86"),
    ("NaVP glass", "Na", "Na", 0.40, 2.2, 0.25,
     "vanadate glass vs Na, sloping, mid-charge ~2.2 V (amorphous V2O5 vs Na: mean ~2.3 V, Uchaker et al., "
     "J. Mater. Chem. A 2 (2014) 18208); wide tolerance: a sloping glass has no plateau"),
]
COUNTER_POTENTIAL = {"Li": 0.0, "Li-In": 0.62, "Na": 0.0}  # V vs the working-ion metal (docs/protocols.md)


def simulate(tmp_path: Path, text: str) -> tuple[int, Path]:
    protocol = tmp_path / "protocol.toml"
    protocol.write_text(text)
    out = tmp_path / "run.h5"
    return main(["simulate", str(protocol), "--out", str(out)]), out


@pytest.mark.parametrize("material, counter, ion, start, expected, tolerance, source", CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_c10_charge_plateau_lies_where_the_literature_puts_it(tmp_path, material, counter, ion, start,
                                                              expected, tolerance, source):
    text = PROTOCOL.format(tag=material.replace(" ", "-"), material=material, counter=counter, ion=ion,
                           start=start)
    code, out = simulate(tmp_path, text)
    assert code == 0
    record = read_experiment(out)
    assert record.status == "completed"
    t, voltage, current = (record.electrochem[k] for k in ("t", "E_we", "I"))
    charging = current > 0
    # The middle hour of the two-hour charge, converted from "vs the counter electrode" to "vs the metal".
    middle = charging & (t >= t[charging][0] + 1800) & (t <= t[charging][0] + 5400)
    assert middle.sum() > 10
    plateau = float(np.median(voltage[middle])) + COUNTER_POTENTIAL[counter]
    assert plateau == pytest.approx(expected, abs=tolerance), source


def test_lmo_shows_two_plateaus_about_0_1_v_apart(tmp_path):
    """The step between LiMn2O4's plateaus (x = 0.5) is 0.1-0.15 V (Ohzuku 1990), seen by one C/10 charge."""
    text = PROTOCOL.format(tag="lmo", material="LMO", counter="Li", ion="Li", start=0.35).replace(
        'until.time = "2 h"', 'until.time = "3 h"')
    code, out = simulate(tmp_path, text)
    assert code == 0
    record = read_experiment(out)
    t, voltage = record.electrochem["t"], record.electrochem["E_we"]
    first = float(np.median(voltage[(t > t[0] + 600) & (t < t[0] + 2400)]))  # SOC ~0.37-0.40
    last = float(np.median(voltage[(t > t[-1] - 1800)]))  # SOC ~0.60-0.65
    assert 0.07 <= last - first <= 0.2


def test_a_material_the_simulator_cannot_model_is_refused_with_exit_2(tmp_path, capsys):
    text = PROTOCOL.format(tag="x", material="unobtainium", counter="Li", ion="Li", start=0.0).replace(
        'active_mass = "0.1 mg"', 'capacity = "0.01 mAh"')
    code, out = simulate(tmp_path, text)
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "cell.material" in error and "'unobtainium'" in error
    assert all(name in error for name in ("NMC622", "NMC811", "LFP", "LTO", "NVP"))
    assert not out.exists()


# LiNi0.5Mn1.5O4 (a material the simulator has no curve of its own for), as a user would measure it: the Ni2+/Ni3+
# and Ni3+/Ni4+ plateaus at 4.70 and 4.75 V vs Li (Kim et al., Chem. Mater. 16 (2004) 906), a small Mn3+ step
# at 4.0 V at the start.
LNMO_CSV = """\
# LNMO C/50 charge, SOC of 147 mAh/g, V vs Li
soc,voltage
0.00,3.90
0.02,4.00
0.04,4.05
0.06,4.55
0.10,4.68
0.30,4.695
0.48,4.71
0.52,4.74
0.70,4.75
0.90,4.76
0.96,4.85
1.00,5.00
"""
LNMO_RIG = """\
name = "simulated-lnmo"
poll_interval = "60 s"

[potentiostat]
driver = "simulated_biologic"
board = "VMP300"
cell = {{ ocv_curve = "{path}" }}
"""


def test_a_user_given_ocv_curve_simulates_a_material_of_its_own(tmp_path):
    curve = tmp_path / "lnmo.csv"
    curve.write_text(LNMO_CSV)
    rig = tmp_path / "rig.toml"
    rig.write_text(LNMO_RIG.format(path=curve))
    protocol = tmp_path / "protocol.toml"
    protocol.write_text(PROTOCOL.format(tag="lnmo", material="LNMO", counter="Li", ion="Li", start=0.55).replace(
        'active_mass = "0.1 mg"', 'capacity = "0.0147 mAh"'))  # 0.1 mg at 147 mAh/g
    out = tmp_path / "run.h5"
    assert main(["run", str(protocol), "--rig", str(rig), "--out", str(out), "--speed", "max",
                 "--broker", "none"]) == 0
    record = read_experiment(out)
    t, voltage = record.electrochem["t"], record.electrochem["E_we"]
    middle = (t >= t[0] + 1800) & (t <= t[0] + 5400)  # SOC 0.6-0.7: the upper Ni plateau
    assert float(np.median(voltage[middle])) == pytest.approx(4.75, abs=0.02)


@pytest.mark.parametrize("text, expected", [
    ("soc,voltage\n0,3.9\n0.5,3.8\n1,4.0\n", "must rise with SOC"),
    ("0,3.9\n0.5,4.0\n", "at least 3 rows"),
    ("0,3.9\n0.5,abc\n1,4.2\n", "two numeric columns"),
])
def test_a_bad_ocv_curve_is_refused_naming_the_field(tmp_path, text, expected):
    from operando.simulators.cell import CellParameters

    path = tmp_path / "curve.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"ocv_curve.*{expected}"):
        CellParameters(material="mine", ocv_curve=str(path))
    with pytest.raises(ValueError, match="ocv_curve.*cannot read"):
        CellParameters(material="mine", ocv_curve=str(tmp_path / "missing.csv"))
