"""``operando gui [FILE]``: the Qt window. Registered through the ``operando.commands`` entry point so the
core CLI never imports Qt; Qt itself is imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gui", help="open the Qt window: prepare a protocol, run or watch an experiment, replay a file",
        description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, default=None,
                        help="an experiment file (.h5) to replay, or a protocol (.toml) to open")
    parser.add_argument("--broker", default=None,
                        help="MQTT broker host[:port] of a running engine to attach to")
    parser.add_argument("--rig", default=None, help="the rig name the engine publishes under")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .app import main

    return main(file=args.file, broker=args.broker, rig=args.rig)
