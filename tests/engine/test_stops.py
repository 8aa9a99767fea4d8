"""Software stops and safety limits on recorded points."""

import numpy as np

from operando.engine.events import PointBatch
from operando.engine.recorder import StepRecord
from operando.engine.stops import first_stop, first_violation
from operando.plan import SafetyLimits
from operando.techniques import ConstantCurrent, ConstantVoltage, Limit
from operando.timeline import DeviceClock
from tests.engine.plans import step


def batch(E: list[float], I: list[float], *, dt: float = 10.0, Q: list[float] | None = None,
          soc: list[float] | None = None, t0: float = 0.0) -> PointBatch:
    n = len(E)
    t_device = dt * np.arange(1, n + 1)
    return PointBatch(t=t0 + t_device, t_device=t_device, E_we=np.array(E), I=np.array(I),
                      Q=np.array(Q if Q is not None else [0.0] * n), soc=np.array(soc if soc else [0.5] * n),
                      cycle=np.zeros(n, np.int32), step=np.zeros(n, np.int32),
                      technique=np.zeros(n, np.uint8))


def record_for(planned, charge_at_start: float = 0.0) -> StepRecord:  # noqa: ANN001
    return StepRecord(planned, DeviceClock("p", 0.0), 0, charge_at_start)


def test_first_point_above_the_cut_off_ends_the_charge() -> None:
    planned = step(1, "charge", "CP", ConstantCurrent(15e-6, 1e6, (Limit("E_we", ">", 3.68),)))
    stop = first_stop(record_for(planned), batch([3.60, 3.67, 3.681, 3.69], [15e-6] * 4))
    assert stop is not None and stop.point == 2 and stop.action == "next"
    assert stop.description == "E_we > 3.68 V"


def test_hold_ends_when_current_falls_below_a_fifth_of_its_first_value() -> None:
    planned = step(2, "hold", "CA", ConstantVoltage(3.68, 1e6), relative_current_stop=0.2)
    record = record_for(planned)
    assert first_stop(record, batch([3.68] * 3, [15e-6, 8e-6, 3.1e-6])) is None
    stop = first_stop(record, batch([3.68] * 3, [3.01e-6, 2.99e-6, 2.5e-6]))
    assert stop is not None and stop.point == 1  # 2.99 uA < 15 uA / 5 = 3 uA
    assert "3e-06 A" in stop.description


def test_charge_limit_counts_from_the_step_start_and_soc_limit_can_end_a_group() -> None:
    planned = step(5, "pulse", "CP", ConstantCurrent(15e-6, 1e6), group="gitt",
                   stops=(Limit("abs_Q", ">", 0.1), Limit("soc", ">", 0.9, "end_group")))
    record = record_for(planned, charge_at_start=1.0)
    stop = first_stop(record, batch([3.0] * 3, [15e-6] * 3, Q=[1.05, 1.09, 1.11]))
    assert stop is not None and stop.point == 2 and stop.description == "|Q| > 0.1 C"
    stop = first_stop(record_for(planned, 1.0), batch([3.0] * 2, [15e-6] * 2, Q=[1.0, 1.0], soc=[0.89, 0.91]))
    assert stop is not None and stop.point == 1 and stop.action == "end_group"


def test_rest_ends_when_the_potential_settles() -> None:
    from operando.techniques import OpenCircuit

    planned = step(0, "rest", "OCV", OpenCircuit(1e6, (Limit("abs_dE_dt", "<", 1e-5),)))
    # 10 s apart: dE/dt = 1e-3, 2e-4, then 5e-6 V/s (the first point has no slope yet).
    stop = first_stop(record_for(planned), batch([3.0, 3.01, 3.012, 3.01205], [0.0] * 4))
    assert stop is not None and stop.point == 3


def test_safety_names_the_first_point_outside_the_window() -> None:
    safety = SafetyLimits(E_min=2.0, E_max=3.7, I_max=50e-6, max_duration=3600.0)
    assert first_violation(safety, batch([3.6, 3.65], [15e-6] * 2)) is None
    violation = first_violation(safety, batch([3.6, 3.71, 3.8], [15e-6] * 3))
    assert violation is not None and violation.point == 1 and violation.quantity == "E_we"
    assert violation.limit == 3.7 and "above E_max" in violation.message
    violation = first_violation(safety, batch([3.0, 3.0], [15e-6, -60e-6]))
    assert violation is not None and violation.quantity == "abs_I" and violation.value == 60e-6
    violation = first_violation(safety, batch([1.99], [0.0]))
    assert violation is not None and violation.quantity == "E_we" and "below E_min" in violation.message
    violation = first_violation(safety, batch([3.0], [0.0], t0=3600.0))
    assert violation is not None and violation.quantity == "duration"


def test_a_reading_that_is_not_a_number_trips_safety() -> None:
    safety = SafetyLimits(E_min=2.0, E_max=3.7, I_max=50e-6, max_duration=3600.0)
    violation = first_violation(safety, batch([3.0, float("nan")], [15e-6] * 2))
    assert violation is not None and violation.point == 1 and "unknown" in violation.message
    violation = first_violation(safety, batch([3.0], [float("inf")]))
    assert violation is not None and violation.quantity == "abs_I"
