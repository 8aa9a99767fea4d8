"""The ``operando`` command. Each sub-command is a module of this package with ``register(subparsers)``;
commands from other packages (drivers' bridges, plugins) come through the ``operando.commands`` entry points.

Never a traceback: whatever a command lets escape ends as one line ``operando <command>: <what failed>`` on
stderr and exit status 1 (2 for invalid input, 3 interrupted); ``operando --debug ...`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
from importlib.metadata import entry_points

from operando import __version__
from operando.errors import OperandoError

EXIT_FAILED, EXIT_INVALID, EXIT_ABORTED = 1, 2, 3
# errors that mean "what was given is wrong" (a path that is not there, a value operando refuses)
INVALID_INPUT = (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="operando", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"operando {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails (for a bug report)")
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in arguments[:arguments.index("--")] if "--" in arguments else "--debug" in arguments
    if debug:  # a global option, accepted after the command too
        arguments.remove("--debug")
    parser = build_parser()
    args = parser.parse_args(arguments)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INVALID
    last_resort = logging.lastResort  # what logs a warning when nothing is configured: no traceback there
    if not debug:
        logging.lastResort = _brief_handler()
    try:
        code = int(args.handler(args) or 0)
        from operando.storage import exit_now  # imported here: the CLI's start stays light

        exit_now(code)  # a file HDF5 could not close must not reach its teardown (a crash at exit)
        return code
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"operando {args.command}: interrupted", file=sys.stderr)
        return EXIT_ABORTED
    except Exception as exc:  # noqa: BLE001 - the one place every unexpected failure ends
        if debug:
            traceback.print_exc()
        code = EXIT_INVALID if invalid_input(exc) else EXIT_FAILED
        hint = " (operando --debug shows where)" if code == EXIT_FAILED and not debug else ""
        print(f"operando {args.command}: {describe(exc)}{hint}", file=sys.stderr)
        return code
    finally:
        logging.lastResort = last_resort


class _BriefFormatter(logging.Formatter):
    """A logged warning or error as its message and, where an exception came with it, what failed."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({describe(record.exc_info[1])})"
        return text


def _brief_handler() -> logging.Handler:
    handler = logging.StreamHandler()  # sys.stderr as it is when a record comes
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_BriefFormatter())
    return handler


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, as a TaskGroup wraps what failed."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def invalid_input(exc: BaseException) -> bool:
    exc = _leaf(exc)
    return isinstance(exc, INVALID_INPUT) or (isinstance(exc, OperandoError) and isinstance(exc, ValueError))


def describe(exc: BaseException) -> str:
    """One line naming what failed: the file and the system's words for an OSError, else the message."""
    exc = _leaf(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
        text = f"{where}: {exc.strerror}" if where else exc.strerror
    elif isinstance(exc, RecursionError):
        text = "input nested too deeply to read"
    else:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, KeyError | AttributeError | TypeError | IndexError | AssertionError | RuntimeError):
            text = f"{type(exc).__name__}: {text}"  # an unexpected failure: its kind helps the bug report
    return " ".join(text.split())


if __name__ == "__main__":
    raise SystemExit(main())
