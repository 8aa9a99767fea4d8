"""``operando run PROTOCOL --rig RIG``: run a protocol on the instruments a rig file names, headless, with
telemetry and remote commands (an embedded broker by default; see docs/telemetry.md).

The experiment goes on whatever happens to its clients (GUI, ``operando watch``) or to the broker. Ctrl-C
or SIGTERM abort safely. Exit status: 0 completed, 1 failed, 2 invalid input (nothing started), 3 aborted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from pathlib import Path

from rich.console import Console

from operando import clock
from operando.cli._locking import claim_instruments, claim_out, holding_locks
from operando.cli._signals import abort_on_signals
from operando.cli.simulate import EXIT_CODES, EXIT_INVALID, _speed, default_out
from operando.engine import Event, Experiment, ExperimentResult, ExperimentState
from operando.errors import ProtocolError
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.rigfile import RigError, RigSpec, build, check_plan, load_rig
from operando.service import add_service_arguments, serving, settings_from_args
from operando.storage import StorageError
from operando.telemetry import TelemetrySettings

LOGGED = ("state_changed", "step_started", "step_ended", "fault", "safety_tripped", "note", "region_lost")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a protocol on a rig, headless, with telemetry",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", help="the protocol TOML file")
    parser.add_argument("--rig", required=True, type=Path, help="the rig file (TOML; see examples/rigs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the HDF5 file to write (default: runs/<protocol name>-<UTC time>.h5); "
                             "never overwritten")
    parser.add_argument("--speed", default=None,
                        help="only for rigs of simulated instruments: simulated seconds per wall second "
                             "(default: real time)")
    add_service_arguments(parser, default_broker="embedded")
    parser.set_defaults(handler=holding_locks("run", run))


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        speed = None if args.speed is None else _speed(args.speed)
        plan = resolve(load_protocol(args.protocol))
        spec = load_rig(args.rig)
        problems = check_plan(spec, plan)
        if problems:
            raise RigError(problems, spec.path)
        telemetry = settings_from_args(args, default_rig=spec.name)
    except ProtocolError as exc:
        console.print(f"operando run: {args.protocol} is not a valid protocol; nothing was started.",
                      markup=False)
        console.print(str(exc), markup=False)
        return EXIT_INVALID
    except ValueError as exc:  # rig file, telemetry options, --speed
        console.print(f"operando run: {exc}", markup=False)
        return EXIT_INVALID
    claim_instruments(args, spec)  # another engine on these instruments: exit 2, nothing started
    out = claim_out(args, default_out(plan))
    try:
        result = clock.run(_run(plan, spec, out, telemetry, console), speed=speed)
    except RigError as exc:
        console.print(f"operando run: {exc}", markup=False)
        return EXIT_INVALID
    except StorageError as exc:  # the record's folder is full, read-only or not allowed
        console.print(f"operando run: {exc}; nothing was started.", markup=False)
        return EXIT_INVALID
    except KeyboardInterrupt:
        console.print(f"operando run: interrupted; the file {out} is closed with status aborted.",
                      markup=False)
        return EXIT_CODES[ExperimentState.ABORTED]
    console.print(f"operando run: {result.status.value} ({result.reason}); {result.points} points over "
                  f"{result.duration / 3600.0:.2f} h in {result.path}", markup=False, soft_wrap=True)
    return EXIT_CODES.get(result.status, 1)


def _experiment(plan: Plan, rig, out: Path) -> Experiment:  # noqa: ANN001 - operando.rigfile.BuiltRig
    options = {}
    if rig.microscope is not None:
        options["microscope"] = rig.microscope
    if rig.sensors:
        options["sensors"] = rig.sensors
        options["sensor_intervals"] = rig.sensor_intervals
    return Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval, rig_config=rig.config,
                      **options)


async def _run(plan: Plan, spec: RigSpec, out: Path, telemetry: TelemetrySettings | None,
               console: Console) -> ExperimentResult:
    rig = await build(spec, plan)
    try:
        experiment = _experiment(plan, rig, out)
        events = experiment.bus.subscribe("run log", maxsize=256, overflow="drop_oldest")
        logger = asyncio.create_task(_log(events, console))
        with abort_on_signals(experiment):
            async with serving(experiment, telemetry, lambda line: console.print(line, markup=False)):
                console.print(f"operando run: {plan.name} on rig {spec.name} -> {out}", markup=False)
                result = await experiment.run()
            await logger
    finally:
        await rig.close()
    return result


async def _log(events, console: Console) -> None:  # noqa: ANN001 - an engine bus subscription
    """One plain line per event worth a look in a terminal or a service's journal; drops rather than lags."""
    async for event in events:
        if event.kind in LOGGED:
            console.print(f"{_hours(event)} {event.kind}: {_describe(event)}", markup=False, soft_wrap=True)


def _hours(event: Event) -> str:
    return f"[{event.t / 3600.0:8.3f} h]" if math.isfinite(event.t) else "[   -    ]"


def _describe(event: Event) -> str:
    payload = event.payload()
    if event.kind == "state_changed":
        return f"{payload['old']} -> {payload['new']} ({payload.get('reason', '')})"
    if event.kind == "note":
        return f"{payload['text']} [{payload['author']}]"
    if event.kind in ("step_started", "step_ended"):
        return f"step {payload['step']} {payload['name']}" + (f" ({payload['reason']})" if "reason" in payload
                                                               and event.kind == "step_ended" else "")
    return str(payload.get("message") or payload.get("reason") or payload)
