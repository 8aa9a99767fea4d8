"""What `operando watch` draws from messages: state, points, dose in e-/nm^2, drift in nm, authors."""

from __future__ import annotations

from rich.console import Console

from operando.telemetry.client import TelemetryMessage
from operando.telemetry.dashboard import Dashboard


def _screen(dashboard: Dashboard) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(dashboard.render())
    return console.export_text()


def test_the_dashboard_shows_what_arrived_per_rig() -> None:
    dashboard = Dashboard()
    assert "waiting for an engine" in _screen(dashboard)
    state = {"state": "paused", "experiment": "thesis [fast]", "t": 7200.0,
             "step": {"index": 1, "name": "charge", "label": "CP"}, "cycle": 0, "E_we": 3.5, "I": 1.5e-05,
             "soc": 0.25, "file": "/data/run.h5",
             "next_trigger": {"region": "particle", "trigger": "every 2400 s", "t": 9600.0},
             "regions": {"particle": {"frames": 3, "cumulative_dose": 1.17e18, "dose_budget": 2e20}}}
    for kind, region, payload in [
            ("state", None, state), ("status", None, {"status": "offline"}),
            ("electrochem", None, {"t": [3600.0, 3660.0], "E_we": [3.41, 3.42], "I": [1.5e-5, 1.5e-5],
                                   "soc": [0.1, 0.11], "Q": [0, 0], "cycle": [0, 0], "step": [1, 1]}),
            ("frames", "particle", {"t": 5400.0}),
            ("drift", "particle", {"shift": [2.29e-8, -5.3e-9], "confidence": 0.93}),
            ("events", None, {"kind": "note", "t": 7000.0, "text": "dewar [refilled]", "author": "alice"})]:
        dashboard.apply(TelemetryMessage("lab-1", kind, region, payload))
    screen = _screen(dashboard)
    assert "lab-1" in screen and "thesis [fast]" in screen  # markup-like text shown as written
    assert "PAUSED" in screen and "OFFLINE" in screen
    assert "step 1: charge (CP)" in screen and "SOC 25 %" in screen and "file /data/run.h5" in screen
    assert "next frame particle at 2.667 h" in screen  # 9600 s
    assert "1.017 h" in screen and "3.42 V" in screen  # the last point: 3660 s
    assert "1.17" in screen and "200" in screen  # 1.17e18 e-/m^2 = 1.17 e-/nm^2 of a 200 e-/nm^2 budget
    assert "+22.9, -5.3" in screen and "0.93" in screen  # drift nm, confidence
    assert "dewar [refilled] [alice]" in screen
