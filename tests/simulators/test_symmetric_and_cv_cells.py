"""The symmetric Li | LPS | Li plating/stripping cell and the solid-electrolyte CV cell, end to end.

Both examples simulate to `completed`; the expectations are the models' physics computed by hand from the
parameters' documented values (docs/simulators.md), not read back from the code.
"""

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from operando.simulators.cell import SymmetricCell, SymmetricParameters
from operando.simulators.rig import build_simulated_rig

from operando.cli import main
from operando.clock import run_simulated
from operando.engine import Experiment, ExperimentState
from operando.protocol import load_protocol, loads_protocol, resolve
from operando.storage import read_experiment

ROOT = Path(__file__).resolve().parents[2]
PLATING = ROOT / "examples" / "plating_stripping.toml"
CV = ROOT / "examples" / "cv_li_in.toml"
HOUR = 3600.0

# The symmetric cell's parameters, as docs/simulators.md gives them: 5 mm Li disks, 500 um of LPS at 0.2 mS/cm,
# exchange current density 0.05 mA/cm^2 at each interface, 298.15 K.
AREA = math.pi * 0.25**2 * 1e-4  # m^2 (0.196 cm^2)
R_LPS = 500e-6 / (0.02 * AREA)  # ohm, ~1273
I0 = 0.5 * AREA  # A, ~9.8 uA
SCALE = 2 * 8.314462618 * 298.15 / 96485.33212  # V, 2RT/F


def overpotential(current: float) -> float:
    """Hand-computed V(I): ohmic drop plus two symmetric Butler-Volmer interfaces."""
    return current * R_LPS + 2 * SCALE * math.asinh(current / (2 * I0))


def simulate(plan, out: Path, during=None):  # noqa: ANN001, ANN201
    """Run ``plan``'s electrochemistry in process on the simulated rig; ``during(rig)`` runs alongside."""
    plan = replace(plan, imaging=None)

    async def run():  # noqa: ANN202
        rig = await build_simulated_rig(plan, seed=3)
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config)
        side = asyncio.create_task(during(rig)) if during else None
        result = await experiment.run()
        if side is not None:
            side.cancel()
        await rig.close()
        return result

    result = run_simulated(run())
    return result, read_experiment(result.path)


def test_overpotentials_are_hand_computed_and_ordered() -> None:
    v10, v20 = overpotential(10e-6), overpotential(20e-6)
    # 0.05 mA/cm^2: 12.7 mV through the LPS and 2 x 25.2 mV at the interfaces.
    assert v10 == pytest.approx(0.0630, abs=5e-4)
    assert v10 < v20 < 2 * v10  # rises with the current density, sub-linearly (Butler-Volmer)
    cell = SymmetricCell(SymmetricParameters(), seed=1)
    assert cell.rest(60.0).E_true == 0.0 and cell.current == 0.0
    assert cell.apply_current(10e-6, 60.0).E_true == pytest.approx(v10, rel=1e-9)
    assert cell.apply_current(-20e-6, 60.0).E_true == pytest.approx(-v20, rel=1e-9)
    assert cell.apply_voltage(v20, 60.0).I_true == pytest.approx(20e-6, rel=1e-9)  # the exact inverse


@pytest.fixture(scope="module")
def plating_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    plan = resolve(load_protocol(PLATING))
    return simulate(plan, tmp_path_factory.mktemp("plating") / "plating.h5")


def test_plating_stripping_completes_with_the_hand_computed_overpotentials(plating_run) -> None:  # noqa: ANN001
    result, record = plating_run
    assert result.status is ExperimentState.COMPLETED and record.status == "completed"
    ec = record.electrochem
    E, current = ec["E_we"], ec["I"]
    for amps in (10e-6, 20e-6, 40e-6, 80e-6):
        plating = np.isclose(current, -amps, rtol=1e-3, atol=0)
        stripping = np.isclose(current, amps, rtol=1e-3, atol=0)
        assert plating.sum() > 20 and stripping.sum() > 20
        # Plating drives the working electrode negative, stripping positive, by the same V(I); noise 50 uV.
        assert np.allclose(E[plating], -overpotential(amps), atol=5e-4)
        assert np.allclose(E[stripping], overpotential(amps), atol=5e-4)
    at_10 = np.median(E[np.isclose(current, 10e-6, rtol=1e-3, atol=0)])
    at_20 = np.median(E[np.isclose(current, 20e-6, rtol=1e-3, atol=0)])
    assert at_10 < at_20


def test_plating_stripping_rests_at_zero_volts_and_zero_current(plating_run) -> None:  # noqa: ANN001
    _, record = plating_run
    ec = record.electrochem
    rest = ec["I"] == 0.0
    assert rest.sum() > 100
    assert np.all(np.abs(ec["E_we"][rest]) < 5e-4)  # no EMF between two Li electrodes


def test_a_short_circuit_mid_run_collapses_the_voltage(tmp_path: Path) -> None:
    text = PLATING.read_text().replace("repeat = 4", "repeat = 1").replace("repeat = 5", "repeat = 2")
    plan = resolve(loads_protocol(text))
    shorted_at = 2.5 * HOUR  # mid-way through the first strip (0.5 h OCV, 1 h plate, 0.5 h rest, strip)

    async def short(rig) -> None:  # noqa: ANN001
        await asyncio.sleep(shorted_at)
        rig.cell.short_circuit(1.0)

    result, record = simulate(plan, tmp_path / "short.h5", during=short)
    assert result.status is ExperimentState.COMPLETED
    ec = record.electrochem
    passing = ec["I"] != 0.0
    before = passing & (ec["t"] < shorted_at - 60)
    after = passing & (ec["t"] > shorted_at + 120)
    assert before.sum() > 20 and after.sum() > 20
    assert np.all(np.abs(ec["E_we"][before]) > 0.05)  # ~63 mV at 10 uA
    assert np.all(np.abs(ec["E_we"][after]) < 5e-4)  # 10 uA x 1 ohm = 10 uV, plus noise


def test_plating_stripping_simulates_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One current (10 uA), two plate/strip reversals: the whole example takes ~40 s with its 86 frames.
    text = PLATING.read_text().replace("repeat = 4", "repeat = 1").replace("repeat = 5", "repeat = 2")
    (tmp_path / "plating.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "plating.toml", "--out", "plating.h5"]) == 0
    record = read_experiment(tmp_path / "plating.h5")
    assert record.status == "completed"
    assert np.allclose(record.electrochem["E_we"][record.electrochem["I"] < 0], -overpotential(10e-6), atol=5e-4)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("cv") / "cv.h5"
    assert main(["simulate", str(CV), "--out", str(out)]) == 0  # the whole example, ~5 s
    return read_experiment(out)


def test_cv_passes_no_current_inside_the_stability_window(cv_run) -> None:  # noqa: ANN001
    ec = cv_run.electrochem
    assert cv_run.status == "completed"
    sweeping = ec["step"] > 0
    starts = {step: ec["t"][ec["step"] == step].min() for step in (1, 2)}
    settled = sweeping & (ec["t"] > np.vectorize(lambda s: starts.get(s, 0.0))(ec["step"]) + 120)
    # LPS is stable from 1.7 to 2.5 V vs Li: 1.08 to 1.88 V vs Li-In; a margin of 0.12 V on either side.
    inside = settled & (ec["E_we"] > 1.2) & (ec["E_we"] < 1.76)
    assert inside.sum() > 1000
    assert np.all(np.abs(ec["I"][inside]) < 10e-9)


def test_cv_oxidation_and_reduction_outside_the_window_shrink_from_cycle_to_cycle(cv_run) -> None:  # noqa: ANN001
    ec = cv_run.electrochem
    E, current, step, cycle = ec["E_we"], ec["I"], ec["step"], ec["cycle"]
    oxidation = [current[(step == 1) & (cycle == n)] for n in (0, 1)]
    reduction = [current[(step == 2) & (cycle == n)] for n in (0, 1)]
    first_ox = (step == 1) & (cycle == 0)
    assert E[first_ox][np.argmax(current[first_ox])] > 1.9  # above 2.5 V vs Li
    first_red = (step == 2) & (cycle == 0)
    assert E[first_red][np.argmin(current[first_red])] < 1.0  # below 1.7 V vs Li
    assert oxidation[0].max() > 1e-6 and reduction[0].min() < -1e-6  # hundreds of times the window's current
    # Passivation: the decomposition products slow the second cycle.
    assert oxidation[1].max() < 0.8 * oxidation[0].max()
    assert reduction[1].min() > 0.8 * reduction[0].min()
