"""Materials, cells, C-rates and potentials against hand-computed numbers and the thesis figures."""

import dataclasses

import pytest

from operando.cells import Cell, CRate, parse_current, parse_potential
from operando.errors import ProtocolError, QuantityError
from operando.materials import FormulaError, composition, find_material, molar_mass, specific_capacity

MAH_PER_G = 3600.0  # C/kg
THESIS_NMC622 = 276.6  # mAh/g, the thesis's theoretical specific capacity


def mah_per_g(formula: str, electrons: float) -> float:
    return specific_capacity(formula, electrons) / MAH_PER_G


def test_nmc622_theoretical_capacity_matches_the_thesis_within_0_1_percent() -> None:
    assert mah_per_g("LiNi0.6Mn0.2Co0.2O2", 1) == pytest.approx(THESIS_NMC622, rel=1e-3)
    assert find_material("NMC622").specific_capacity / MAH_PER_G == pytest.approx(THESIS_NMC622, rel=1e-3)


@pytest.mark.parametrize(
    ("name", "expected"),
    [  # literature theoretical capacities, mAh/g
        ("LFP", 170.0),
        ("LCO", 274.0),
        ("NMC811", 275.5),
        ("NCA", 279.0),
        ("NVP", 117.6),  # Na3V2(PO4)3, two Na
        ("LTO", 175.0),
        ("LMO", 148.0),
    ],
)
def test_table_materials_match_literature_capacities(name: str, expected: float) -> None:
    assert find_material(name).specific_capacity / MAH_PER_G == pytest.approx(expected, rel=3e-3)


def test_vanadate_glass_capacity_from_its_formula_by_hand() -> None:
    # (V2O5)0.75(P2O5)0.25 = V1.5 P0.5 O5; standard atomic weights V 50.9415, P 30.973762, O 15.999.
    molar = 1.5 * 50.9415 + 0.5 * 30.973762 + 5 * 15.999  # g/mol
    by_hand = 3 * 96485.332 / molar / 3.6  # mAh/g for V5+ -> V3+
    glass = find_material("VP glass")
    assert glass.formula == "(V2O5)0.75(P2O5)0.25"
    assert glass.specific_capacity / MAH_PER_G == pytest.approx(by_hand, rel=1e-4)
    assert glass.specific_capacity / MAH_PER_G > 400  # "phosphate/vanadate glasses above 400 mAh/g"
    assert find_material("NaVP glass").working_ion == "Na"


def test_formulas_with_fractions_groups_and_oxide_sums() -> None:
    assert composition("Na3V2(PO4)3") == {"Na": 3, "V": 2, "P": 3, "O": 12}
    assert composition("0.75V2O5-0.25P2O5") == pytest.approx(composition("(V2O5)0.75(P2O5)0.25"))
    assert composition("Li0.3In") == pytest.approx({"Li": 0.3, "In": 1.0})
    assert molar_mass("LiCoO2") == pytest.approx((6.94 + 58.933194 + 2 * 15.999) / 1000, rel=1e-4)


@pytest.mark.parametrize(
    ("formula", "fragment"),
    [("Xy2O3", "'Xy'"), ("Li(CoO2", "never closed"), ("LiCo0O2", "zero"), ("", "empty"), ("li", "'li'")],
)
def test_a_bad_formula_says_what_is_wrong(formula: str, fragment: str) -> None:
    with pytest.raises(FormulaError, match=fragment):
        composition(formula)


# -- C-rates ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "multiple"),
    [
        ("C/20", 0.05),
        ("D/20", -0.05),
        ("0.05C", 0.05),
        ("2C", 2.0),
        ("C/60", 1 / 60),
        ("C", 1.0),
        ("-C/20", -0.05),
        ("0.5 D", -0.5),
        ("C/2.5", 0.4),
    ],
)
def test_c_rates_read_as_signed_multiples(text: str, multiple: float) -> None:
    rate = parse_current(text)
    assert isinstance(rate, CRate)
    assert rate.multiple == pytest.approx(multiple)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("-D/20", "already a discharge"), ("C/0", "above zero"), ("15 V", "C-rate such as")],
)
def test_bad_currents_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(QuantityError, match=fragment):
        parse_current(text)


def thesis_cell(**overrides: object) -> Cell:
    fields = {"material": "NMC622", "active_mass": "3.2549 mg", "counter_electrode": "Li-In"} | overrides
    return Cell(**fields)


def test_c_over_60_is_15_microamps_for_the_thesis_mass() -> None:
    # m = 15 uA x 60 h / 276.5 mAh/g: the mass that makes 15 uA exactly C/60 with the formula's capacity.
    cell = thesis_cell()
    assert cell.current("C/60") == pytest.approx(15e-6, rel=1e-4)
    assert cell.current("D/20") == pytest.approx(-45e-6, rel=1e-4)
    assert cell.current("0.05C") == pytest.approx(cell.current("C/20"))
    # I = C-rate x specific capacity x mass, with the thesis's own figures (276.6 mAh/g, 3.254 mg):
    assert thesis_cell(active_mass="3.254 mg").current("C/60") == pytest.approx(
        276.6 * 3.6 * 3.254e-3 / 60 / 3600, rel=1e-3
    )


def test_a_practical_capacity_takes_precedence_for_c_rates() -> None:
    assert thesis_cell(capacity="0.9 mAh").current("C/60") == pytest.approx(15e-6, rel=1e-12)
    assert thesis_cell(specific_capacity="180 mAh/g").current("1C") == pytest.approx(
        180 * 3.6 * 3.2549e-3 / 3600
    )


def test_composite_mass_and_active_fraction_give_the_active_mass() -> None:
    cell = Cell(
        material="NMC622", electrode_mass="4.6499 mg", active_fraction="70 wt%", counter_electrode="Li-In"
    )
    assert cell.mass == pytest.approx(0.7 * 4.6499e-6)


def test_c_rate_without_active_mass_is_a_clear_error() -> None:
    cell = Cell(material="NMC622", counter_electrode="Li")
    with pytest.raises(QuantityError, match=r"'C/20' needs the cell's capacity.*active_mass"):
        cell.current("C/20")


# -- potentials ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "measured"),
    [
        ("4.3 V vs Li", 3.68),
        ("4.3 V vs Li+/Li", 3.68),
        ("4.3 V vs Li/Li+", 3.68),
        ("3.68 V vs Li-In", 3.68),
        ("3.68 V vs In-Li", 3.68),
        ("3.68 V", 3.68),
        ("2.7 V vs Li", 2.08),
        ("1 V vs Li", 0.38),
    ],
)
def test_potentials_convert_to_what_the_potentiostat_measures_against_li_in(
    text: str, measured: float
) -> None:
    assert thesis_cell().measured(text) == pytest.approx(measured, abs=1e-12)


def test_against_lithium_metal_li_in_values_shift_up() -> None:
    cell = Cell(material="NMC622", counter_electrode="Li")
    assert cell.measured("3.68 V vs Li-In") == pytest.approx(4.3)
    assert cell.measured("4.3 V vs Li") == pytest.approx(4.3)


def test_sodium_cells_and_custom_counter_electrodes() -> None:
    assert Cell(material="NVP", counter_electrode="Na").measured("2.9 V vs Na") == pytest.approx(2.9)
    custom = Cell(material="NVP", counter_electrode="Na-Sn", counter_potential="0.15 V vs Na")
    assert custom.measured("3.4 V vs Na+/Na") == pytest.approx(3.25)
    assert custom.measured("3.25 V vs Na-Sn") == pytest.approx(3.25)
    assert custom.summary().counter_potential == pytest.approx(0.15)


def test_a_potential_against_the_wrong_ion_or_an_unknown_electrode_is_refused() -> None:
    with pytest.raises(QuantityError, match=r"'2.9 V vs Na'.*exchanges Li"):
        thesis_cell().measured("2.9 V vs Na")
    with pytest.raises(QuantityError, match=r"unknown reference electrode 'Foo'"):
        thesis_cell().measured("3 V vs Foo")
    assert parse_potential("4.3 V vs Li+/Li").reference == "Li"


# -- the cell as a whole ---------------------------------------------------------------------------------
def test_the_summary_of_the_thesis_cell_is_complete() -> None:
    summary = thesis_cell(name="operando").summary()
    assert all(value is not None for value in dataclasses.asdict(summary).values())
    assert summary.material == "NMC622" and summary.formula == "LiNi0.6Mn0.2Co0.2O2"
    assert summary.working_ion == "Li" and summary.counter_electrode == "Li-In"
    assert summary.counter_potential == pytest.approx(0.62)
    assert summary.capacity == pytest.approx(0.9 * 3.6, rel=1e-4)  # 15 uA x 60 h = 0.9 mAh
    assert summary.to_measured(4.3) == pytest.approx(3.68)


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        ({"material": "NMC622", "counter_electrode": "Na-Sn"}, "counter_electrode", "'Na-Sn'"),
        ({"material": "NVP", "counter_electrode": "Li-In"}, "counter_electrode", "exchanges Na"),
        ({"formula": "LiCoO2", "counter_electrode": "Li"}, "electrons", "'LiCoO2'"),
        ({"formula": "Xy2", "electrons": 1, "counter_electrode": "Li"}, "formula", "'Xy'"),
        ({"counter_electrode": "Li"}, "material", "NMC622"),
        (
            {"material": "NMC622", "counter_electrode": "Li", "active_fraction": 0.7},
            "active_fraction",
            "electrode_mass",
        ),
        ({"material": "NMC622", "counter_electrode": "Li", "active_mass": "15 V"}, "active_mass", "'15 V'"),
        (
            {"material": "NMC622", "counter_electrode": "Li", "active_mass": "-3 mg"},
            "active_mass",
            "positive",
        ),
        (
            {"material": "NMC622", "counter_electrode": "Li", "initial_soc": 1.5},
            "initial_soc",
            "between 0 and 1",
        ),
    ],
)
def test_an_invalid_cell_names_the_field(fields: dict, path: str, fragment: str) -> None:
    from operando.protocol import Protocol

    safety = {"voltage_min": "1 V", "voltage_max": "2 V", "current_max": "1 mA", "duration_max": "1 h"}
    with pytest.raises(ProtocolError) as caught:
        Protocol(cell=fields, safety=safety, steps=[{"technique": "rest", "duration": "1 h"}])
    paths = [problem[0] for problem in caught.value.problems]
    assert f"cell.{path}" in paths
    assert fragment in str(caught.value)
