"""A simulated cell or microscope saved mid-run and restored into a fresh one continues exactly as the original
(every reading, noise included; the specimen's history); a saved state that does not fit is refused with the
field named."""

import json

import numpy as np
import pytest
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.sem import FakeCZEMApi
from operando.simulators.state import StateError


def charged_cell() -> SimulatedCell:
    """Past the contact-loss onset and oxidising its electrolyte: every mechanism has state."""
    cell = SimulatedCell(CellParameters(), seed=7)
    for _ in range(2400):  # 40 h at C/60
        cell.apply_current(15e-6, 60.0)
    assert cell.isolated_fraction > 0.1 and cell.parasitic_charge > 0
    return cell


def rest_of_the_run(cell: SimulatedCell) -> list:
    return ([cell.apply_voltage(3.68, 60.0) for _ in range(300)] + [cell.rest(600.0)] +
            [cell.apply_current(-15e-6, 60.0) for _ in range(1500)])


def test_a_restored_cell_continues_exactly() -> None:
    original = charged_cell()
    saved = json.loads(json.dumps(original.snapshot()))  # through JSON, as in the file
    restored = SimulatedCell(CellParameters(), seed=7)
    restored.restore(saved)
    assert restored.isolated_fraction == original.isolated_fraction
    assert rest_of_the_run(restored) == rest_of_the_run(original)
    assert restored.material_soc == original.material_soc


def test_a_cell_rebuilt_from_its_soc_alone_does_not() -> None:
    """What resume did before: the contact loss and passivation start over, and the discharge differs."""
    original = charged_cell()
    rebuilt = SimulatedCell(CellParameters(initial_soc=original.soc), seed=7)
    assert rebuilt.isolated_fraction == 0.0
    assert rest_of_the_run(rebuilt)[-1].E_true != pytest.approx(rest_of_the_run(original)[-1].E_true, abs=1e-3)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(capacity=1.0), "cell.capacity"),
    (lambda s: s.pop("soc"), "cell.soc"),
    (lambda s: s.update(connected=0.0), "cell.connected"),
    (lambda s: s["modes"].update(shape=[3]), "cell.modes"),
    (lambda s: s["noise"].update(words={"dtype": "<u4", "shape": [2], "data": "AAAAAAAAAAA="}), "cell.noise"),
])
def test_a_state_that_does_not_fit_is_refused(change, message: str) -> None:  # noqa: ANN001
    saved = charged_cell().snapshot()
    change(saved)
    fresh = SimulatedCell(CellParameters(), seed=7)
    with pytest.raises(StateError, match=message):
        fresh.restore(saved)
    assert fresh.soc == 0.0 and fresh.isolated_fraction == 0.0  # nothing half restored


def test_a_restored_microscope_keeps_its_specimen_history_dose_drift_and_stage() -> None:
    """Charged to 90 % and back to 50 %, dosed, stage moved: a fresh fake on another clock, restored, shows
    the same cracks (their residual from the peak included), dose, drift and stage as the original."""
    soc, clock = [0.0], [0.0]
    original = FakeCZEMApi(lambda: clock[0], seed=3, soc_provider=lambda: soc[0])
    for level in (*np.linspace(0.0, 0.9, 10), *np.linspace(0.9, 0.5, 5)):
        soc[0] = float(level)
        original.evolution.update(soc[0])
    corners = np.array([[-2e-5, -2e-5], [2e-5, -2e-5], [2e-5, 2e-5], [-2e-5, 2e-5]])
    original.dose_map.add_field(5e12, corners)
    original.stage.start_move(0.0, original.stage.position + np.array([1e-6, -2e-6, 0, 0, 0, 0]))
    clock[0] = 7200.0
    saved = json.loads(json.dumps(original.snapshot()))
    later = [10_000.0]
    restored = FakeCZEMApi(lambda: later[0], seed=3, soc_provider=lambda: soc[0])
    restored.restore(saved)
    assert restored.elapsed() == original.elapsed() == 7200.0  # the drift clock carries on
    np.testing.assert_array_equal(restored.evolution.crack_width, original.evolution.crack_width)
    assert original.evolution.crack_width.max() > 0  # the cracks opened at 90 % are not forgotten
    np.testing.assert_array_equal(restored.dose_map.at(corners / 2), original.dose_map.at(corners / 2))
    np.testing.assert_array_equal(restored.stage.true_position(later[0]), original.stage.true_position(7200.0))
    for level in (0.3, 0.6):  # and they go on evolving alike
        soc[0] = level
        original.evolution.update(level)
        restored.evolution.update(level)
    np.testing.assert_array_equal(restored.evolution.crack_width, original.evolution.crack_width)
    fresh = FakeCZEMApi(lambda: 0.0, seed=3, soc_provider=lambda: 0.6)
    fresh.evolution.update(0.6)
    assert not np.array_equal(fresh.evolution.crack_width, original.evolution.crack_width)


def test_a_microscope_state_of_another_scene_is_refused() -> None:
    saved = FakeCZEMApi(lambda: 0.0, seed=3).snapshot()
    saved["dose"]["shape"] = [2, 2]
    fresh = FakeCZEMApi(lambda: 0.0, seed=3)
    with pytest.raises(StateError, match="sem.dose"):
        fresh.restore(saved)
