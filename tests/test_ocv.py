"""Reference OCV curves in the core: typical NMC622 values, LFP plateau, sloping glass, lookup by name."""

import pytest

from operando.ocv import curve_for, family_of


def test_nmc622_ocv_passes_through_typical_values():
    nmc = curve_for("NMC622")
    assert nmc.value(0.0) == pytest.approx(3.65, abs=0.05)  # pristine
    assert nmc.value(0.10) == pytest.approx(3.75, abs=0.02)
    assert nmc.value(0.35) == pytest.approx(3.90, abs=0.02)
    assert nmc.value(0.50) == pytest.approx(4.10, abs=0.02)
    # 4.3 V vs Li at 175-180 mAh/g of the theoretical 276.6 mAh/g.
    assert 175 / 276.6 <= nmc.soc_at(4.3) <= 180 / 276.6


def test_lfp_is_flat_with_steep_ends_and_glass_slopes():
    lfp = curve_for("lfp")
    for soc in (0.1, 0.3, 0.5, 0.7, 0.9):
        assert lfp.value(soc) == pytest.approx(3.43, abs=0.015)
    assert lfp.value(0.1) - lfp.value(0.0) > 0.3
    assert lfp.value(1.0) - lfp.value(0.9) > 0.3
    glass = curve_for("Glass")
    assert glass.value(0.0) == pytest.approx(1.5, abs=0.01)
    assert glass.value(1.0) == pytest.approx(3.5, abs=0.1)
    assert min(glass.slope(k / 100) for k in range(101)) > 1.0  # sloping everywhere, no plateau


@pytest.mark.parametrize("material", ["NMC622", "LFP", "glass"])
def test_ocv_is_strictly_increasing_and_invertible(material):
    curve = curve_for(material)
    socs = [-0.05 + k * 1.1 / 2000 for k in range(2001)]
    volts = [curve.value(s) for s in socs]
    assert all(b > a for a, b in zip(volts, volts[1:], strict=False))
    for soc in socs[::50]:
        assert curve.soc_at(curve.value(soc)) == pytest.approx(soc, abs=1e-12)
    # The slope is the derivative of the voltage (central difference).
    for soc in (0.05, 0.3, 0.62, 0.95):
        numeric = (curve.value(soc + 1e-7) - curve.value(soc - 1e-7)) / 2e-7
        assert curve.slope(soc) == pytest.approx(numeric, rel=1e-5)


@pytest.mark.parametrize("name, family", [
    ("NMC622", "NMC622"), ("ncm622", "NMC622"), ("NMC811", "NMC622"), ("LiNi0.6Mn0.2Co0.2O2", "NMC622"),
    ("LFP", "LFP"), ("LiFePO4", "LFP"), ("li fe po4", "LFP"), ("glass", "glass"), ("VP glass", "glass"),
    ("V2O5-P2O5 glass", "glass"), ("vanadate glass", "glass"),
    ("LCO", None), ("Na3V2(PO4)3", None), ("unobtainium", None), ("", None),
])
def test_materials_map_to_their_family_or_to_none(name, family):
    assert family_of(name) == family
    curve = curve_for(name)
    assert (curve.family if curve else None) == family


def test_a_curve_against_another_metal_is_not_offered():
    assert curve_for("NMC622", working_ion="Li").working_ion == "Li"
    assert curve_for("NMC622", working_ion="Na") is None
    # The table says this glass is cycled against sodium; the glass curve is against lithium.
    assert family_of("NaVP glass") == "glass"
    assert curve_for("NaVP glass") is None
    assert curve_for("VP glass") is curve_for("glass")


def test_soc_at_refuses_a_voltage_that_is_not_a_number():
    with pytest.raises(ValueError, match="voltage"):
        curve_for("NMC622").soc_at(float("nan"))
