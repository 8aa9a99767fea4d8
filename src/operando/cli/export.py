"""``operando export FILE``: the record for other tools. ``--tiff DIR`` one ImageJ hyperstack per region
(time x detector, pixel size and frame times included: Fiji opens it calibrated; ``--per-detector`` one stack
per region and detector), ``--csv FILE`` the electrochemical record with EC-Lab's column names, ``--mpt FILE``
the same as an EC-Lab ASCII file, ``--frames-csv FILE`` every region's frame table. Works on a file a run is
still writing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from operando.export import write_csv, write_frames_csv, write_mpt, write_tiff_stacks
from operando.storage import UnreadableFile
from operando.storage.reader import NotARecord

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="write TIFF stacks and EC-Lab-like text from a record",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="the experiment's HDF5 file")
    parser.add_argument("--tiff", type=Path, metavar="DIR", help="folder for the TIFF stacks")
    parser.add_argument("--per-detector", action="store_true", help="one TIFF stack per region and detector")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="electrochemical record, EC-Lab columns")
    parser.add_argument("--mpt", type=Path, metavar="FILE", help="electrochemical record, EC-Lab ASCII .mpt")
    parser.add_argument("--frames-csv", type=Path, metavar="FILE", help="every region's frame table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True, soft_wrap=True)  # paths are never cut
    out = Console(soft_wrap=True)
    if not any((args.tiff, args.csv, args.mpt, args.frames_csv)):
        console.print("operando export: say what to write: --tiff DIR, --csv FILE, --mpt FILE or "
                      "--frames-csv FILE", markup=False)
        return EXIT_INVALID
    if not args.file.is_file():
        what = "a folder, not an experiment file" if args.file.is_dir() else "no such file"
        console.print(f"operando export: {args.file}: {what}", markup=False)
        return EXIT_INVALID
    targets = [t for t in (args.csv, args.mpt, args.frames_csv) if t is not None]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        console.print(f"operando export: {', '.join(taken)} already exist(s); nothing is overwritten",
                      markup=False)
        return EXIT_INVALID
    try:
        if args.tiff is not None:
            for written in write_tiff_stacks(args.file, args.tiff, per_detector=args.per_detector):
                out.print(f"tiff   {written}", markup=False)
        if args.csv is not None:
            out.print(f"csv    {args.csv} ({write_csv(args.file, args.csv)} points)", markup=False)
        if args.mpt is not None:
            out.print(f"mpt    {args.mpt} ({write_mpt(args.file, args.mpt)} points)", markup=False)
        if args.frames_csv is not None:
            out.print(f"frames {args.frames_csv} ({write_frames_csv(args.file, args.frames_csv)} frames)",
                      markup=False)
    except (NotARecord, UnreadableFile) as exc:  # not a record, or truncated/damaged: refused at once
        console.print(f"operando export: {exc}", markup=False)
        return EXIT_INVALID
    except (OSError, KeyError, ValueError) as exc:
        console.print(f"operando export: {args.file}: {exc}", markup=False)
        return 1
    return 0
