"""The ``operando`` command. Each sub-command is a module of this package with ``register(subparsers)``;
commands from other packages (drivers' bridges, plugins) come through the ``operando.commands`` entry points."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points

from operando import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="operando", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"operando {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(commands)
    for entry in entry_points(group="operando.commands"):
        try:
            entry.load()(commands)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            print(f"operando: command plugin {entry.name!r} failed to load: {exc}", file=sys.stderr)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    code = int(args.handler(args) or 0)
    from operando.storage import exit_now  # a file HDF5 could not close must not reach its teardown (crash)
    exit_now(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
