"""``operando gui [FILE]``: the Qt window. Registered through the ``operando.commands`` entry point so the
core CLI never imports Qt; Qt itself is imported only when the command runs."""

from __future__ import annotations

import argparse
import os
import sys
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


def _no_display() -> str | None:
    """Why Qt could not open a window here (it would abort the process), or None."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
            "session or with ssh -X, or watch a run from here with operando watch")


def run(args: argparse.Namespace) -> int:
    if args.file is not None and not args.file.is_file():
        what = "is a folder, not a file" if args.file.is_dir() else "no such file"
        print(f"operando gui: {args.file}: {what}", file=sys.stderr)
        return 2
    missing = _no_display()
    if missing is not None:
        print(f"operando gui: {missing}", file=sys.stderr)
        return 1
    from .app import main

    return main(file=args.file, broker=args.broker, rig=args.rig)
