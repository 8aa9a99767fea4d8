"""Where a timed step stood at the interruption: up to its last point, or (with a saved rig state) up to the
read that brought it, when the technique had run on."""

import math

import numpy as np

from operando.engine.resume import _position
from operando.storage import ExperimentRecord
from operando.techniques import OpenCircuit, Recording
from tests.engine.plans import plan, step

REST = plan(step(0, "rest", "OCV", OpenCircuit(duration=1800.0, recording=Recording(dt=60.0))),
            step(1, "rest again", "OCV", OpenCircuit(duration=600.0)))


def record(last_point: float) -> ExperimentRecord:
    t = np.arange(60.0, last_point + 1, 60.0)
    n = len(t)
    ec = {"t": t, "t_device": t, "E_we": np.full(n, 3.0), "I": np.zeros(n), "Q": np.zeros(n), "soc": np.zeros(n),
          "cycle": np.zeros(n, np.int32), "step": np.zeros(n, np.int32), "technique": np.zeros(n, np.uint8)}
    started = (0.0, "step_started", {"step": 0, "name": "rest", "label": "OCV", "continued": False})
    return ExperimentRecord({}, {}, {}, ec, ("OCV", "OCV (pause)"), [], {}, [started])


def test_a_step_continues_from_its_last_point_without_a_saved_state() -> None:
    index, carry = _position(REST, record(600.0))
    assert index == 0 and carry.elapsed == 600.0 and carry.points == 10


def test_a_step_continues_from_the_read_after_its_last_point_with_one() -> None:
    index, carry = _position(REST, record(600.0), ran_until=655.0)
    assert index == 0 and carry.elapsed == 655.0
    _, earlier = _position(REST, record(600.0), ran_until=540.0)  # a state older than the points: ignored
    assert earlier.elapsed == 600.0
    _, none = _position(REST, record(600.0), ran_until=math.nan)
    assert none.elapsed == 600.0
