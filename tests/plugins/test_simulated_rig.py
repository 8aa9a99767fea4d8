"""The built-in simulated rig is a rig file built like any other: it honours the seed and a recorded rig config
(also the keys files held before it was a rig file), and its saved state goes back into a fresh rig."""

from dataclasses import replace
from pathlib import Path

import pytest

from operando.clock import run_simulated
from operando.protocol import load_protocol, resolve
from operando.rigfile import build
from operando.simulated_rig import recorded_rig, simulated_rig

THESIS = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"


def test_the_simulated_rig_is_a_rig_file_with_the_given_seed() -> None:
    spec = simulated_rig(seed=7)
    assert (spec.name, spec.seed, spec.poll_interval) == ("simulated", 7, 60.0)
    assert (spec.potentiostat.driver, spec.microscope.driver) == ("simulated_biologic", "simulated_zeiss")
    config = spec.to_config()
    assert config["rig"] == "simulated" and config["seed"] == 7 and "seed = 7" in config["rig_text"]


def test_a_recorded_rig_is_rebuilt_with_its_values_and_the_cell_overrides() -> None:
    spec = recorded_rig(simulated_rig(seed=5, board="SP150", cell={"stack_pressure": 25e6}).to_config(),
                        {"initial_soc": 0.4})
    assert (spec.seed, spec.potentiostat.settings.board) == (5, "SP150")
    assert spec.potentiostat.settings.cell == {"stack_pressure": 25e6, "initial_soc": 0.4}


def test_a_rig_config_from_before_the_rig_file_is_rebuilt() -> None:
    legacy = {"rig": "simulated", "seed": 3, "poll_interval": 30.0, "board": "SP150", "boards_known": ["SP150"],
              "cell_overrides": {"stack_pressure": 25e6}, "driver": "operando.drivers.biologic over ..."}
    spec = recorded_rig(legacy, {"initial_soc": 0.4})
    assert (spec.seed, spec.poll_interval, spec.potentiostat.settings.board) == (3, 30.0, "SP150")
    assert spec.potentiostat.settings.cell == {"stack_pressure": 25e6, "initial_soc": 0.4}


def test_a_saved_state_goes_back_into_a_fresh_rig_and_a_state_without_a_cell_is_refused() -> None:
    plan = replace(resolve(load_protocol(THESIS)), imaging=None)

    async def states() -> tuple[dict, dict, dict, str]:
        first, second = await build(simulated_rig(seed=1), plan), await build(simulated_rig(seed=1), plan)
        cell = first.context.shared["cell"]
        cell.apply_current(cell.params.capacity / 36000.0, 3600.0)  # C/10 (capacity in C) for an hour: a tenth
        saved = first.snapshot()
        second.restore(saved)
        with pytest.raises(ValueError) as refused:
            second.restore({"eclib": saved["eclib"]})
        return saved, second.snapshot(), first.context.shared, str(refused.value)

    saved, restored, shared, refused = run_simulated(states())
    assert set(saved) == {"cell", "eclib"}  # no imaging: no specimen made, none saved
    assert shared["cell"].soc == pytest.approx(0.1, abs=0.01)
    assert restored == saved
    assert refused == "simulated rig: the saved state holds no cell"
