"""A run that failed (here: the potentiostat's link lost for longer than safety.link_outage_max) is refused by
``operando resume`` with a message saying how to continue it, and continued with ``--after-failure``: the
interrupted step goes on, nothing recorded before is changed, and the run completes in the same file."""

from pathlib import Path

import numpy as np

from operando.cli import main
from operando.engine import ExperimentState
from operando.storage import read_experiment
from tests.test_end_to_end_link import HOUR, outage, plan_with, simulate


def test_a_failed_run_is_refused_then_continued_after_failure(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "failed.h5"
    plan = plan_with('link_outage_max = "30 min"')
    result, *_ = simulate(plan, out, during=outage(1 * HOUR, 10 * HOUR))
    assert result.status is ExperimentState.FAILED
    before = read_experiment(out, swmr=False)
    failed_step = int(before.electrochem["step"][-1])
    assert plan.steps[failed_step].name == "charge"  # it failed mid-charge

    assert main(["resume", str(out)]) == 2
    refusal = capsys.readouterr().err
    assert "the run failed" in refusal and "link_outage_max" in refusal and "--after-failure" in refusal
    assert read_experiment(out, swmr=False).status == "failed"  # untouched

    assert main(["resume", str(out), "--after-failure"]) == 0
    after = read_experiment(out, swmr=False)
    assert after.status == "completed"
    [resumed] = after.events_of("resumed")
    assert "continued after the run failed" in resumed["reason"] and "link_outage_max" in resumed["reason"]
    n = len(before.electrochem["t"])
    for name, column in before.electrochem.items():  # nothing recorded before the failure changed
        np.testing.assert_array_equal(after.electrochem[name][:n], column)
    # The charge that failed goes on (not restarted, not skipped), then every later step runs.
    assert after.electrochem["step"][n] == failed_step
    ended = [e["name"] for e in after.events_of("step_ended") if e["reason"] in ("limit", "duration")]
    assert ended[-3:] == ["charge", "rest after charge", "discharge"]
