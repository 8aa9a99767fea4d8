"""An engine still connecting its instruments (state 'idle') shows as STARTING with Abort enabled: the engine
takes an abort then and ends the run before anything starts (tests/engine/test_abort_everywhere.py)."""

from __future__ import annotations

from operando.telemetry.client import TelemetryMessage


def _state(window, state: str) -> None:  # noqa: ANN001
    window._received(TelemetryMessage("rig-1", "state", None, {"state": state, "experiment": "short"}))


def test_an_engine_that_connects_can_be_aborted(window) -> None:  # noqa: ANN001
    controls = window.controls
    assert controls.badge.state == "idle" and not controls.abort_button.isEnabled()  # no engine: nothing to abort
    _state(window, "idle")
    assert controls.badge.state == "starting"
    assert controls.abort_button.isEnabled()
    assert not any(button.isEnabled() for button in (controls.pause_button, controls.resume_button,
                                                      controls.acquire_button, controls.note_button))
    _state(window, "running")
    assert controls.badge.state == "running" and controls.pause_button.isEnabled()
    _state(window, "aborted")
    assert controls.badge.state == "aborted" and not controls.abort_button.isEnabled()
