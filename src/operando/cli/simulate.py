"""``operando simulate PROTOCOL``: run a protocol on the simulated rig (cell, BioLogic, fake EClib) to a file.

The rig is the built-in simulated rig file (operando/simulated_rig.toml), built as ``operando run`` builds any.

Exit status: 0 completed, 1 failed (instrument fault or error), 2 invalid input (nothing started), 3 aborted
(safety limit, Ctrl-C or SIGTERM; the file is closed and consistent in every case).
"""

from __future__ import annotations

import argparse
import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from operando import clock
from operando.cli._locking import claim_out, holding_locks
from operando.cli._signals import abort_on_signals
from operando.engine import (
    Experiment,
    ExperimentResult,
    ExperimentState,
    FrameAcquired,
    PointsRecorded,
    StepStarted,
)
from operando.errors import ProtocolError
from operando.ocv import NoOcvCurve
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.rigfile import RigError, build
from operando.roles.microscope import MicroscopeSettingError
from operando.service import add_service_arguments, serving, settings_from_args
from operando.simulated_rig import simulated_rig
from operando.storage import StorageError
from operando.telemetry import TelemetrySettings

EXIT_CODES = {ExperimentState.COMPLETED: 0, ExperimentState.FAILED: 1, ExperimentState.ABORTED: 3}
EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run a protocol on the simulated rig and write its HDF5 file", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", help="the protocol TOML file")
    parser.add_argument("--out", type=Path, default=None,
                        help="the HDF5 file to write (default: runs/<protocol name>-<UTC time>.h5); "
                             "never overwritten")
    parser.add_argument("--speed", default="max",
                        help="simulated seconds per wall second, e.g. 3600 = one simulated hour a second "
                             "(default: max, as fast as possible)")
    parser.add_argument("--seed", default="0", help="seed of the simulated cell's noise (default 0)")
    add_service_arguments(parser, default_broker="none")
    parser.set_defaults(handler=holding_locks("simulate", run))


def _speed(text: str) -> float:
    if text.strip().lower() in ("max", "inf", "fastest"):
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"--speed: expected a factor such as 3600 or 'max', got {text!r}") from None
    if not (speed > 0):
        raise ValueError(f"--speed: must be a positive factor of real time, got {text!r}")
    return speed


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--seed: expected a whole number, got {text!r}") from None


def default_out(plan: Plan, now: datetime | None = None) -> Path:
    """runs/<protocol name>-<UTC time>.h5 in the working folder (claim_out numbers it when it is taken)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in plan.name) or "experiment"
    return Path("runs") / f"{safe_name}-{stamp}.h5"


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        speed, seed = _speed(args.speed), _seed(args.seed)
        telemetry = settings_from_args(args, default_rig="simulated")
        plan = resolve(load_protocol(args.protocol))
    except ProtocolError as exc:
        console.print(f"operando simulate: {args.protocol} is not a valid protocol; nothing was started.",
                      markup=False)
        console.print(str(exc), markup=False)
        return EXIT_INVALID
    except ValueError as exc:
        console.print(f"operando simulate: {exc}", markup=False)
        return EXIT_INVALID
    out = claim_out(args, default_out(plan))  # locked, new, in a writable folder; else exit 2
    try:
        result = clock.run_simulated(_simulate(plan, out, seed, console, telemetry), speed=speed)
    except RigError as exc:  # the simulated drivers are not installed, or the cell cannot be simulated
        if isinstance(exc.__cause__, NoOcvCurve):  # a material the simulated cell has no curve for
            console.print(f"operando simulate: {exc.__cause__}; nothing was started.", markup=False,
                          soft_wrap=True)
            return EXIT_INVALID
        console.print(f"operando simulate: {exc}", markup=False)
        return 1
    except MicroscopeSettingError as exc:  # a region the microscope cannot image: refused before the start
        console.print(f"operando simulate: {exc}; nothing was started.", markup=False)
        return EXIT_INVALID
    except StorageError as exc:  # the record's folder is full, read-only or not allowed
        console.print(f"operando simulate: {exc}; nothing was started.", markup=False)
        return EXIT_INVALID
    except KeyboardInterrupt:
        # Without signal handlers (Windows) Ctrl-C cancels the run: it still went safe and closed the file.
        console.print(f"operando simulate: interrupted; the file {out} is closed with status aborted.",
                      markup=False)
        return EXIT_CODES[ExperimentState.ABORTED]
    _summary(console, *result)
    return EXIT_CODES.get(result[0].status, 1)


async def _simulate(plan: Plan, out: Path, seed: int, console: Console,
                    telemetry: TelemetrySettings | None = None,
                    ) -> tuple[ExperimentResult, dict[str, tuple[int, float]]]:
    rig = await build(simulated_rig(seed=seed), plan)
    try:
        experiment = Experiment(plan, rig.potentiostat, out, poll_interval=rig.poll_interval,
                                rig_config=rig.config, microscope=rig.microscope, rig_state=rig.rig_state)
    except BaseException:
        await rig.close()
        raise
    updates = experiment.bus.subscribe("progress", maxsize=64, overflow="drop_oldest")
    try:
        with abort_on_signals(experiment), _progress(console) as progress:
            task = progress.add_task(plan.name, total=plan.estimated_duration or None, step="starting",
                                     cycle=0, E=math.nan, I=math.nan, soc=math.nan, hours=0.0, frames=0,
                                     dose=0.0)
            watcher = asyncio.create_task(_follow(updates, progress, task))
            async with serving(experiment, telemetry, lambda line: console.print(line, markup=False)):
                result = await experiment.run()
            await watcher
    finally:
        await rig.close()
    imaging = experiment.imaging
    frames = {name: (region.frames, region.cumulative_dose * 1e-18)  # e-/m^2 -> e-/nm^2
              for name, region in (imaging.regions.items() if imaging is not None else ())}
    return result, frames


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[step]}[/] cycle {task.fields[cycle]}"), BarColumn(),
        TextColumn("E {task.fields[E]:.4f} V  I {task.fields[I]:+.3e} A  SOC {task.fields[soc]:.1%}  "
                   "t {task.fields[hours]:.2f} h  frames {task.fields[frames]}  "
                   "dose {task.fields[dose]:.3g} e-/nm2"),
        console=console, transient=False)


async def _follow(updates, progress: Progress, task) -> None:  # noqa: ANN001 - rich's own types
    """Show the latest point, step, frame count and highest region dose; drops updates rather than slow the
    run."""
    frames: dict[str, tuple[int, float]] = {}  # region -> (frames, dose e-/nm^2) as last seen
    async for event in updates:
        if isinstance(event, FrameAcquired):
            frames[event.region] = (event.index + 1, event.cumulative_dose * 1e-18)  # e-/m^2 -> e-/nm^2
            progress.update(task, frames=sum(n for n, _ in frames.values()),
                            dose=max(dose for _, dose in frames.values()))
        if isinstance(event, StepStarted):
            progress.update(task, step=f"{event.step}: {event.name} ({event.label})", cycle=event.cycle)
        elif isinstance(event, PointsRecorded):
            points = event.points
            soc = float(points.soc[-1])
            progress.update(task, completed=float(points.t[-1]), E=float(points.E_we[-1]),
                            I=float(points.I[-1]), soc=0.0 if math.isnan(soc) else soc,
                            hours=float(points.t[-1]) / 3600.0, cycle=int(points.cycle[-1]))


def _summary(console: Console, result: ExperimentResult, frames: dict[str, tuple[int, float]]) -> None:
    """Plain lines (never wrapped or cut, so the file path can be copied)."""
    colour = {"completed": "green", "aborted": "yellow", "failed": "red"}.get(result.status.value, "white")
    rows = [("status", f"[{colour}]{result.status.value}[/] ({escape(result.reason)})"),
            ("points", f"{result.points}"),
            ("charge passed", f"{result.charged / 3.6:.4g} mAh ({result.charged:.4g} C)"),  # 1 mAh = 3.6 C
            ("discharge passed", f"{result.discharged / 3.6:.4g} mAh ({result.discharged:.4g} C)"),
            ("simulated time", f"{result.duration / 3600.0:.2f} h"),
            *((f"frames {name}", f"{count} ({dose:.4g} e-/nm2 in all)")
              for name, (count, dose) in sorted(frames.items())),
            ("file", escape(str(result.path)))]
    out = Console(soft_wrap=True)
    for label, value in rows:
        out.print(f"{label:<17} {value}")
    if result.status is not ExperimentState.COMPLETED:
        console.print(f"operando simulate: {result.status.value}: {result.reason}", markup=False)
