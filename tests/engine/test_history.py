"""The electrochemical state at a frame's mid-scan time, by hand from a few points."""

import asyncio
import math

import numpy as np
import pytest

from operando.clock import run_simulated
from operando.engine.events import PointBatch
from operando.engine.history import PointHistory


def batch(t, E, I, Q, soc, step=0) -> PointBatch:  # noqa: ANN001, E741
    n = len(t)
    return PointBatch(t=np.array(t, float), t_device=np.array(t, float), E_we=np.array(E, float),
                      I=np.array(I, float), Q=np.array(Q, float), soc=np.array(soc, float),
                      cycle=np.zeros(n, np.int32), step=np.full(n, step, np.int32),
                      technique=np.zeros(n, np.uint8))


def test_linear_between_the_points_around_the_time() -> None:
    history = PointHistory(capacity=3.24)
    history.add(batch([0.0, 60.0], [3.0, 3.6], [1e-5, 2e-5], [0.0, 6e-4], [0.0, 0.2]))
    history.add(batch([120.0], [3.9], [3e-5], [1.8e-3], [0.3], step=1))
    state = history.state_at(75.0)  # a quarter of the way from 60 s to 120 s
    assert state.source == "interpolated"
    assert state.E_we == pytest.approx(3.6 + 0.25 * 0.3) and state.I == pytest.approx(2.25e-5)
    assert state.Q == pytest.approx(6e-4 + 0.25 * 1.2e-3) and state.soc == pytest.approx(0.225)
    assert state.step == 0 and history.state_at(100.0).step == 1  # the nearest point's step


def test_after_the_last_point_the_state_is_held_and_marked() -> None:
    history = PointHistory(capacity=3.0)
    assert history.state_at(5.0).source == "none" and math.isnan(history.state_at(5.0).E_we)
    history.add(batch([0.0, 60.0], [3.0, 3.1], [1e-3, 1e-3], [0.0, 0.06], [0.0, 0.02]))
    state = history.state_at(90.0)
    assert state.source == "extrapolated" and state.E_we == 3.1
    assert state.Q == pytest.approx(0.06 + 1e-3 * 30) and state.soc == pytest.approx(0.02 + 0.03 / 3.0)


def test_waiting_for_the_point_after_a_time() -> None:
    async def main() -> tuple[bool, bool, float]:
        history = PointHistory()
        history.add(batch([0.0], [3.0], [0.0], [0.0], [0.0]))

        async def later() -> None:
            await asyncio.sleep(50.0)
            history.add(batch([50.0], [3.0], [0.0], [0.0], [0.0]))

        task = asyncio.create_task(later())
        came = await history.wait_after(40.0, patience=100.0)
        waited = asyncio.get_running_loop().time()
        never = await history.wait_after(500.0, patience=30.0)
        await task
        return came, never, waited

    came, never, waited = run_simulated(main())
    assert came and waited == pytest.approx(50.0) and not never


def test_old_points_are_forgotten_but_the_one_before_is_kept() -> None:
    history = PointHistory()
    for k in range(5):
        history.add(batch([60.0 * k], [3.0 + k], [0.0], [0.0], [0.0]))
    history.forget_before(150.0)
    assert history.state_at(150.0).E_we == pytest.approx(5.5)  # between 120 s (5 V) and 180 s (6 V)
