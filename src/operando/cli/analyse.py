"""``operando analyse FILE [--out RESULTS.h5]``: drift and local displacement fields of every region of an
experiment file, computed afterwards; prints a summary table and writes the fields to a new file."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyse", help="drift and local displacement fields of a recorded experiment file",
        description=__doc__,
    )
    parser.add_argument("file", help="the experiment HDF5 file (finished or still being written)")
    parser.add_argument("--out", help="write drift and the displacement fields to this new HDF5 file")
    parser.add_argument("--region", action="append", help="analyse only this region (repeatable)")
    parser.add_argument("--detector", help="register this detector's frames (default: ESB if recorded)")
    parser.add_argument("--grid", type=_grid, default=64, help="px per displacement cell (default 64, at least 4)")
    parser.set_defaults(handler=run)


def _grid(text: str) -> int:
    """--grid: a whole number of pixels, at least 4 (argparse turns the ValueError into a usage error)."""
    try:
        grid = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if grid < 4:
        raise argparse.ArgumentTypeError(f"must be at least 4 pixels, got {text!r}")
    return grid


def _nm(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value * 1e9:.1f}"


def run(args: argparse.Namespace) -> int:
    # Imported here: the drift package pulls in scikit-image, which every other command can do without.
    from operando.drift._analysis import AnalysisError, analyse_file, write_analysis
    from operando.drift._registration import RegistrationError

    if args.out:  # refused before the analysis, not after it
        folder = Path(args.out).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            why = "no such folder" if not folder.is_dir() else "not writable (read-only or not allowed)"
            print(f"operando analyse: cannot write --out {args.out}: {folder}: {why}", file=sys.stderr)
            return EXIT_INVALID
    try:
        results = analyse_file(args.file, regions=args.region, detector=args.detector, grid=args.grid)
        if args.out:
            write_analysis(results, args.out, source=str(args.file))
    except (AnalysisError, RegistrationError) as exc:
        print(f"operando analyse: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # the results file could not be written (disk full, removed folder)
        print(f"operando analyse: cannot write --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    table = Table(title=f"Drift and local displacement: {args.file}")
    for column in ("region", "detector", "frames", "registered", "keyframes", "largest drift (nm)",
                   "largest local displacement (nm)", "divergence range (%)"):
        table.add_column(column, justify="left" if column in ("region", "detector") else "right")
    for result in results:
        divergence = result.divergence[np.isfinite(result.divergence)] if result.divergence.size else []
        spread = (f"{100 * min(divergence):+.2f} .. {100 * max(divergence):+.2f}" if len(divergence)
                  else "-")
        local = result.max_local_displacement
        largest = float(np.nanmax(local)) if np.isfinite(local).any() else math.nan
        table.add_row(result.name, result.detector, str(len(result.shift)), str(result.registered),
                      str(int(result.keyframe.max()) + 1), _nm(result.total_drift), _nm(largest), spread)
    Console(width=140).print(table)
    if args.out:
        print(f"written: {args.out}")
    return 0

