"""The engine commands' locks (operando.locks): taken before anything starts, held until the command returns;
a refusal is one line naming the other engine, exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from operando.locks import LockError, claim_new_record, lock_instruments, lock_record

EXIT_REFUSED = 2


def holding_locks(command: str, handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """``handler`` run with ``args.locks`` (an ExitStack released when it returns); a LockError it raises
    while taking a lock becomes one line on stderr and exit status 2."""

    @functools.wraps(handler)
    def locked(args: argparse.Namespace) -> int:
        with contextlib.ExitStack() as stack:
            args.locks = stack
            try:
                return handler(args)
            except LockError as exc:
                print(f"operando {command}: {exc}", file=sys.stderr)
                return EXIT_REFUSED

    return locked


def claim_out(args: argparse.Namespace, default: Path) -> Path:
    """Lock ``--out`` (which must not exist yet), or the first free numbered variant of ``default``."""
    path, lock = claim_new_record(args.out, numbered=False) if args.out is not None else \
        claim_new_record(default, numbered=True)
    args.locks.enter_context(lock)
    return path


def claim_record(args: argparse.Namespace, path: Path) -> None:
    """Lock an existing record that this command will continue (resume)."""
    args.locks.enter_context(lock_record(path))


def claim_instruments(args: argparse.Namespace, rig: Any) -> None:
    """Lock the real instruments of a rig file (``operando.rigfile.RigSpec``)."""
    for lock in lock_instruments(rig):
        args.locks.enter_context(lock)
