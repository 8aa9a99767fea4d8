"""``operando check PROTOCOL [--json] [--rig RIG]``: validate a protocol (and that a rig can run it)."""

from __future__ import annotations

import argparse
import json
import sys

from operando.errors import ProtocolError
from operando.protocol import load_protocol, resolve
from operando.protocol.report import plan_to_dict, render_plan
from operando.rigfile import RigError, check_plan, load_rig

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="validate a protocol file and print the resolved plan", description=__doc__
    )
    parser.add_argument("protocol", help="the protocol TOML file")
    parser.add_argument("--json", action="store_true", help="print the plan (or the errors) as JSON")
    parser.add_argument("--rig", help="a rig file: also check that its instruments can run the plan")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        plan = resolve(load_protocol(args.protocol))
        if getattr(args, "rig", None):
            spec = load_rig(args.rig)
            found = check_plan(spec, plan)
            if found:
                raise RigError(found, f"{args.protocol} on {args.rig}")
    except (ProtocolError, RigError) as exc:
        if args.json:
            problems = [
                {"path": path, "message": message, "value": None if value is None else str(value)}
                for path, message, value in exc.problems
            ]
            print(json.dumps({"valid": False, "source": exc.source, "errors": problems}, indent=2))
        print(
            f"operando check: {args.protocol} is not a valid protocol"
            f"{' for this rig' if isinstance(exc, RigError) else ''}; nothing was started.\n{exc}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if args.json:
        print(json.dumps({"valid": True, "plan": plan_to_dict(plan)}, indent=2, allow_nan=False))
    else:
        print(render_plan(plan))
    return 0
