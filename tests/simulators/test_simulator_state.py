"""A simulated cell saved mid-run and restored into a fresh cell continues exactly as the original (every
reading, noise included); a saved state that does not fit is refused with the field named."""

import json

import pytest
from operando.simulators.cell import CellParameters, SimulatedCell
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
