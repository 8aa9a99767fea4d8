"""`operando simulate` with an abort point: ``python -m tests.engine.abort_subject PHASE SEED -- simulate ...``.

The real CLI (its signal handlers included) runs in this process; the probe of tests/engine/abort_points.py
watches the simulated rig's fakes and, at the chosen moment, prints ``ABORT-POINT`` on stdout so the test
sends the signal then; a call fired "during" is held until the engine has taken the abort. At the end one line
``FAKES {json}`` gives the fakes' final state (beam blanked, potentiostat channel state) and where it fired.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from operando.simulators.eclib import plugin as simulated_biologic
from operando.simulators.sem import plugin as simulated_zeiss

from operando.engine import experiment as engine
from tests.engine.abort_points import AbortPoint


def main(argv: list[str]) -> int:
    phase, seed, arguments = argv[0], int(argv[1]), argv[3:] if argv[2:3] == ["--"] else argv[2:]
    point = AbortPoint(phase, seed, lambda: print("ABORT-POINT", flush=True))
    built: dict[str, Any] = {}

    make_potentiostat, make_microscope = simulated_biologic.DRIVER.create, simulated_zeiss.DRIVER.create

    def watched_potentiostat(settings: Any, context: Any) -> Any:
        potentiostat = make_potentiostat(settings, context)
        built["eclib"] = context.shared["eclib"]
        point.watch_eclib(built["eclib"])
        return potentiostat

    def watched_microscope(settings: Any, context: Any) -> Any:
        microscope = make_microscope(settings, context)
        if context.shared.get("sem") is not None:  # made for a plan with imaging
            point.watch_sem(context.shared["sem"])
        return microscope

    # The simulated rig file's drivers (entry points): simulate builds its rig through them.
    simulated_biologic.DRIVER.create = watched_potentiostat
    simulated_zeiss.DRIVER.create = watched_microscope
    request_abort, run = engine.Experiment.request_abort, engine.Experiment.run

    def taken(self: Any, reason: str = "aborted by the user") -> None:
        request_abort(self, reason)
        point.took()

    async def watched_run(self: Any) -> Any:
        point.watch_experiment(self)
        return await run(self)

    engine.Experiment.request_abort = taken  # type: ignore[method-assign]
    engine.Experiment.run = watched_run  # type: ignore[method-assign]
    from operando.cli import main as operando

    try:
        code = operando(arguments)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    eclib = built.get("eclib")
    print("FAKES " + json.dumps({
        "fired": point.fired_at is not None, "fired_in": point.fired_in, "point": point.describe(),
        "beam_left_blanked": point.beam_left_blanked(),
        "channel": eclib.channels[0].state.name if eclib is not None else None,
        "techniques_started": eclib.calls["BL_StartChannel"] if eclib is not None else None,
        "running_when_taken": point.running_when_taken}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
