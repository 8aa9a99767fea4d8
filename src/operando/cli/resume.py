"""``operando resume FILE``: continue an interrupted experiment (its process died) in the same file.

The protocol is the file's own protocol text; the instruments come from its rig config (the simulated rig is
rebuilt from the rig file the record holds, with the same seed, and put back in the state saved with the last
recorded point: cell, potentiostat channel and specimen; a file without one gets the cell at the recorded state of
charge) or from ``--rig RIGFILE``. Imaging triggers take up where the record stops: one that fired but whose frame
was not written fires again. The step that was running continues with what it had left; charge, state of charge,
frame numbers and dose totals carry on; the gap is recorded as a ``resumed`` event. A run that failed (status
``failed``: a full disk, a link lost for longer than the protocol allows) is continued only with
``--after-failure``. Exit status as ``operando simulate``: 0 completed, 1 failed, 2 nothing was started, 3 aborted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console

from operando import clock
from operando.cli._locking import claim_instruments, claim_record, holding_locks
from operando.cli._signals import abort_on_signals
from operando.cli.simulate import EXIT_CODES, EXIT_INVALID, _follow, _progress, _speed, _summary
from operando.engine import CannotResume, Experiment, ExperimentResult, ExperimentState, read_resume_state
from operando.errors import OperandoError, ProtocolError
from operando.plan import Plan
from operando.protocol import loads_protocol, resolve
from operando.rigfile import BuiltRig, RigError, build, load_rig
from operando.roles.microscope import MicroscopeSettingError
from operando.simulated_rig import NAME as SIMULATED
from operando.simulated_rig import recorded_rig
from operando.storage import StorageError, UnreadableFile, read_experiment


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resume", help="continue an interrupted experiment in its own file", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="the experiment's HDF5 file (status running or interrupted)")
    parser.add_argument("--rig", type=Path, default=None,
                        help="rig file for real instruments (default: the file's own simulated rig)")
    parser.add_argument("--speed", default="max",
                        help="simulated runs: simulated seconds per wall second (default: max)")
    parser.add_argument("--after-failure", action="store_true",
                        help="continue a run that failed (status failed), once what made it fail is fixed: a "
                             "full disk freed, a lost link back")
    parser.set_defaults(handler=holding_locks("resume", run))


def _plan(path: Path) -> tuple[Plan, dict[str, Any]]:
    record = read_experiment(path)
    text = record.attrs.get("protocol_text", "")
    if not text:
        raise CannotResume(f"{path}: the file holds no protocol text to continue from")
    plan = resolve(loads_protocol(text, source_path=record.attrs.get("protocol_path") or None))
    return plan, json.loads(record.attrs.get("rig_config") or "{}")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True, soft_wrap=True)  # messages with paths are never cut
    path: Path = args.file
    try:
        speed = _speed(args.speed)
        if not path.exists():
            raise CannotResume(f"{path}: no such file")
        claim_record(args, path)  # a live engine still writing it: exit 2, the file untouched
        if args.rig is not None:  # its instruments in use by another engine: exit 2, nothing started
            claim_instruments(args, load_rig(args.rig))
        plan, rig_config = _plan(path)
        state = read_resume_state(path, plan, after_failure=args.after_failure)
    except (ProtocolError, CannotResume, ValueError, OSError) as exc:
        # h5py's own words need the file named; an UnreadableFile names it already
        where = (f"{path}: not a readable experiment file: "
                 if isinstance(exc, OSError) and not isinstance(exc, UnreadableFile) else "")
        console.print(f"operando resume: {where}{exc}", markup=False)
        return EXIT_INVALID
    simulated = args.rig is None
    if simulated and rig_config.get("rig") != SIMULATED:
        console.print(f"operando resume: {path} was recorded on rig {rig_config.get('rig')!r}; give its rig "
                      f"file with --rig", markup=False)
        return EXIT_INVALID
    runner = _resume(plan, path, state, rig_config, args.rig, console)
    try:
        outcome = clock.run_simulated(runner, speed=speed) if simulated else clock.run(runner)
    except StorageError as exc:  # the record's folder is full, read-only or not allowed
        console.print(f"operando resume: {exc}; nothing was started.", markup=False)
        return EXIT_INVALID
    except MicroscopeSettingError as exc:
        console.print(f"operando resume: {exc}; nothing was started.", markup=False)
        return EXIT_INVALID
    except (RigError, OperandoError, OSError) as exc:  # CannotResume: a saved state that does not fit
        console.print(f"operando resume: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        console.print(f"operando resume: interrupted; the file {path} is closed with status aborted.",
                      markup=False)
        return EXIT_CODES[ExperimentState.ABORTED]
    _summary(console, *outcome)
    return EXIT_CODES.get(outcome[0].status, 1)


async def _rig(plan: Plan, state: Any, rig_config: dict[str, Any], rig_file: Path | None) -> BuiltRig:
    if rig_file is not None:
        return await build(load_rig(rig_file), plan)
    cell = {}
    saved = state.rig_state
    if saved is None and math.isfinite(state.soc):
        # A file without a saved state (older): the cell rebuilt at the recorded state of charge only.
        cell["initial_soc"] = min(max(state.soc, 0.0), 1.0)
    rig = await build(recorded_rig(rig_config, cell), plan)
    if saved is not None:
        if rig.rig_state is None:
            await rig.close()
            raise CannotResume("the simulated rig cannot restore the state saved in the file")
        try:
            rig.restore(saved)  # the cell, potentiostat channel and specimen exactly as after the last point
        except ValueError as exc:
            await rig.close()
            raise CannotResume(f"the simulated rig's saved state cannot be restored: {exc}") from exc
    return rig


async def _resume(plan: Plan, path: Path, state: Any, rig_config: dict[str, Any], rig_file: Path | None,
                  console: Console) -> tuple[ExperimentResult, dict[str, tuple[int, float]]]:
    rig = await _rig(plan, state, rig_config, rig_file)
    try:
        # The file's own simulated rig saves its state again; a rig file given with --rig saves none.
        experiment = Experiment(plan, rig.potentiostat, path, poll_interval=rig.poll_interval,
                                rig_config=rig_config, microscope=rig.microscope, resume=state,
                                rig_state=rig.rig_state if rig_file is None else None)
    except BaseException:
        await rig.close()
        raise
    updates = experiment.bus.subscribe("progress", maxsize=64, overflow="drop_oldest")
    try:
        with abort_on_signals(experiment), _progress(console) as progress:
            task = progress.add_task(plan.name, total=plan.estimated_duration or None, step="resuming",
                                     cycle=0, E=math.nan, I=math.nan, soc=state.soc,
                                     hours=state.last_record / 3600.0, dose=0.0, completed=state.last_record,
                                     frames=sum(r.frames for r in state.regions.values()))
            watcher = asyncio.create_task(_follow(updates, progress, task))
            result = await experiment.run()
            await watcher
    finally:
        await rig.close()
    imaging = experiment.imaging
    frames = {name: (region.frames, region.cumulative_dose * 1e-18)  # e-/m^2 -> e-/nm^2
              for name, region in (imaging.regions.items() if imaging is not None else ())}
    return result, frames
