"""Trigger bookkeeping, fed by hand-made points: when each kind fires, and when it must not."""

import math

import numpy as np
import pytest

from operando.engine.events import PointBatch
from operando.engine.triggers import RegionTriggers, manual_code
from operando.plan import Trigger
from tests.engine.imaging_rig import region


def points(t, E=None, Q=None, soc=None) -> PointBatch:  # noqa: ANN001
    t = np.asarray(t, float)
    n = len(t)

    def column(values, fill):  # noqa: ANN001, ANN202
        return np.asarray(values, float) if values is not None else np.full(n, fill)

    return PointBatch(t=t, t_device=t, E_we=column(E, 3.0), I=np.full(n, 15e-6), Q=column(Q, 0.0),
                      soc=column(soc, math.nan), cycle=np.zeros(n, np.int32), step=np.zeros(n, np.int32),
                      technique=np.zeros(n, np.uint8))


def test_every_fires_on_a_grid_from_zero_once_however_late() -> None:
    triggers = RegionTriggers(region("r", Trigger("every", interval=7200.0)))
    assert triggers.next_due() == 0.0
    assert [f.t for f in triggers.due(0.0)] == [0.0]
    assert triggers.next_due() == 7200.0
    assert triggers.due(7000.0) == []
    late = triggers.due(3 * 7200.0 + 5.0)  # a paused loop wakes late: one firing, the grid moves on
    assert [f.t for f in late] == [7200.0] and triggers.next_due() == 4 * 7200.0
    resumed = RegionTriggers(region("r", Trigger("every", interval=7200.0)), start=10_000.0)
    assert resumed.next_due() == 14_400.0  # a resumed run keeps the same 2 h grid


def test_soc_steps_fire_at_each_level_up_and_down_with_hysteresis() -> None:
    triggers = RegionTriggers(region("r", Trigger("soc_step", soc_step=0.1)), soc=0.0)
    up = triggers.points(points(range(6), soc=[0.05, 0.099, 0.1001, 0.15, 0.0999, 0.2003]))
    assert [f.t for f in up] == [2.0, 5.0]  # 10 % and 20 %; noise back under 10 % does not fire again
    down = triggers.points(points(range(6, 10), soc=[0.1995, 0.199, 0.198, 0.12]))
    assert [f.t for f in down] == [9.0]  # 20 % crossed downwards counts once it is clearly below
    assert triggers.points(points([10.0], soc=[math.nan])) == []


def test_charge_steps_count_charge_either_way() -> None:
    triggers = RegionTriggers(region("r", Trigger("charge_step", charge_step=1.0)))
    fired = triggers.points(points(range(7), Q=[0.0, 0.6, 1.05, 1.5, 1.0, 0.4, 0.3]))
    # |dQ| passed in all: 0.6, 1.05 (1 C: fires), 1.5, 2.0 (2 C: fires), 2.6, 2.7
    assert [f.t for f in fired] == [2.0, 4.0]


@pytest.mark.parametrize(("direction", "expected"), [("rising", [2.0, 6.0]), ("falling", [4.0]),
                                                      ("either", [2.0, 4.0, 6.0])])
def test_voltage_crossings_by_direction(direction: str, expected: list[float]) -> None:
    triggers = RegionTriggers(region("r", Trigger("voltage_crossing", voltage=3.5, direction=direction)))
    E = [3.40, 3.4995, 3.52, 3.5005, 3.45, 3.4999, 3.6]
    assert [f.t for f in triggers.points(points(range(7), E=E))] == expected


def test_step_boundaries_match_name_or_label_and_manual_has_a_code() -> None:
    wide = region("r", Trigger("step_end"), Trigger("step_start", step="discharge"),
                  Trigger("step_end", step="CA"))
    triggers = RegionTriggers(wide)
    assert [f.code for f in triggers.step_boundary("step_end", 10.0, "charge hold", "CA")] == [0, 2]
    assert [f.code for f in triggers.step_boundary("step_start", 11.0, "discharge", "CP")] == [1]
    assert triggers.step_boundary("step_start", 12.0, "rest", "OCV") == []
    assert manual_code(wide) == 3 and triggers.labels[3] == "manual request"
    assert manual_code(region("r", Trigger("every", interval=60.0), Trigger("manual"))) == 1


def test_a_fresh_run_images_at_t0_even_when_the_clock_moved_while_connecting() -> None:
    # On the wall clock (or a speed-limited simulation) the timeline has run a little by the time imaging
    # starts; the grid of an "every" trigger still starts at t = 0 for a fresh run, and where it is on resume.
    from operando.engine.history import PointHistory
    from operando.engine.imaging import Imaging, RegionStart
    from operando.techniques import OpenCircuit
    from tests.engine.imaging_rig import region, with_imaging
    from tests.engine.plans import plan, step

    async def publish(event) -> None:  # noqa: ANN001
        return None

    hourly = with_imaging(plan(step(0, "rest", "OCV", OpenCircuit(duration=7200.0))),
                          region("wide", Trigger("every", interval=3600.0)))
    fresh = Imaging(hourly, None, publish=publish, now=lambda: 0.4, history=PointHistory(), loop_offset=0.0,
                    ec_wait=1.0)
    assert fresh.regions["wide"].triggers.next_due() == 0.0
    resumed = Imaging(hourly, None, publish=publish, now=lambda: 5000.0, history=PointHistory(),
                      loop_offset=0.0, ec_wait=1.0, start={"wide": RegionStart(frames=2)})
    assert resumed.regions["wide"].triggers.next_due() == 7200.0
