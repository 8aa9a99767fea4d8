"""``operando watch``: a terminal dashboard of running engines (state, last points, frames, dose, drift,
events), for people on SSH. Reads MQTT only: it never slows or stops an experiment.

Exit status: 0 (Ctrl-C, or --once done), 1 no engine seen with --once, 2 invalid options.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from rich.console import Console
from rich.live import Live

from operando.telemetry.client import EngineClient
from operando.telemetry.dashboard import Dashboard
from operando.telemetry.settings import PASSWORD_VARIABLE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("watch", help="terminal dashboard of running engines", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rig", default="+", help="the rig to follow (default: every rig on the broker)")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                        help="mqtt[s]://[user@]host[:port] (password in $" + PASSWORD_VARIABLE + "); default "
                             "the embedded broker's mqtt://127.0.0.1:1883")
    parser.add_argument("--once", type=float, default=None, metavar="SECONDS",
                        help="listen for SECONDS, print the dashboard once and exit (for scripts)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    try:
        client = EngineClient(args.broker, args.rig, password=os.environ.get(PASSWORD_VARIABLE))
    except ValueError as exc:
        Console(stderr=True).print(f"operando watch: {exc}", markup=False)
        return 2
    if args.once is not None and not args.once > 0:
        Console(stderr=True).print(f"operando watch: --once must be positive seconds, got {args.once}")
        return 2
    try:
        return asyncio.run(_watch(client, console, args.once))
    except KeyboardInterrupt:
        return 0


async def _watch(client: EngineClient, console: Console, once: float | None) -> int:
    dashboard = Dashboard()
    async with client:
        messages = client.stream()

        async def follow() -> None:
            async for message in messages:
                dashboard.apply(message)

        follower = asyncio.create_task(follow())
        try:
            if once is not None:
                await asyncio.sleep(once)
                console.print(dashboard.render())
                if not dashboard.rigs:
                    console.print(f"operando watch: no engine seen on {client.broker.url} in {once} s",
                                  markup=False)
                    return 1
                return 0
            with Live(dashboard.render(), console=console, refresh_per_second=4) as live:
                while True:
                    await asyncio.sleep(0.25)
                    live.update(dashboard.render())
        finally:
            follower.cancel()
