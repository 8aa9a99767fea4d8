"""Files HDF5 could not flush: never closed, never freed, and the process ends without HDF5's teardown.

Once a flush has failed (disk full, read-only, I/O error) HDF5 cannot close the file: closing it, freeing its
objects, or the library's own clean-up at exit then crashes the process (a segfault). Such a file is kept
open, as it was last flushed (readable, as after a crash), and the process ends with :func:`exit_now`.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

_KEPT: list[tuple[Any, str]] = []  # (the objects holding the file's HDF5 ids, its path)


def keep_open(holder: Any, path: str) -> None:
    """Keep ``holder`` (a file and the objects it opened) alive until the process ends."""
    _KEPT.append((holder, str(path)))


def unclosed_files() -> list[str]:
    """Paths of files left open because HDF5 could not write them any more."""
    return [path for _, path in _KEPT]


def exit_now(code: int) -> None:
    """End the process with ``code`` without HDF5's teardown if a file was left open; otherwise return."""
    if not _KEPT:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


@atexit.register
def _exit_before_hdf5_teardown() -> None:
    # Last resort for programs that did not call exit_now: status 1 rather than a segfault.
    if _KEPT:
        print(f"operando: {', '.join(unclosed_files())} could not be closed (the disk refused writes); it holds "
              f"what was flushed before", file=sys.stderr)
    exit_now(1)
