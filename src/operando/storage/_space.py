"""Disk space for a run: checked before the start and before every write, with a reserve to close the file.

A run stops with a clear fault while the file can still be completed, rather than failing mid-write: each
write must leave ``margin`` bytes free. If something else fills the disk anyway (a real ENOSPC), the reserve
file next to the record is deleted so that the status, the fault and the last points still fit and HDF5 can
close the file cleanly (HDF5 cannot close a file whose cached writes fail).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from operando.errors import OperandoError

MB = 1e6
MARGIN = 8_000_000  # bytes left free after every write: the fault, the status and the last points fit in it
RESERVE = 8_000_000  # bytes held by <record>.reserve until the run ends (released on a real disk-full)


class StorageError(OperandoError, OSError):
    """The record cannot be written (disk full, read-only, not allowed); says where and why."""

    def __str__(self) -> str:
        return str(self.strerror if self.strerror is not None else super().__str__())


def is_disk_full(error: BaseException) -> bool:
    """True for ENOSPC (or EDQUOT) as raised by the OS or reported inside an HDF5 error message."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "errno = 28" in text or "No space left on device" in text or "Disk quota exceeded" in text


def _mb(count: float) -> str:
    return f"{count / MB:.1f} MB"


class SpaceGuard:
    """The free space of the record's folder; holds the reserve file while the run writes."""

    def __init__(self, path: str | Path, *, margin: int = MARGIN, reserve: int = RESERVE) -> None:
        self.path = Path(path)
        self.folder = self.path.parent
        self.margin = int(margin)
        self.reserve = int(reserve)
        self.reserve_path = self.path.with_name(self.path.name + ".reserve")
        self.held = False

    def free(self) -> int:
        return shutil.disk_usage(self.folder).free

    def check(self, needed: int, *, frame: int = 0) -> None:
        """Raise :class:`StorageError` if writing ``needed`` bytes would leave less than the margin free."""
        free = self.free()
        if free - needed >= self.margin:
            return
        each = f"each frame needs {_mb(frame)}" if frame else f"the next write needs {_mb(needed)}"
        raise StorageError(errno.ENOSPC, f"disk nearly full: {_mb(free)} left on {self.folder}, {each} and "
                                         f"{_mb(self.margin)} are kept to close the file")

    def prepare(self, frame: int = 0) -> None:
        """Before anything moves: the folder exists and is writable, and holds a frame, the margin and the
        reserve; then take the reserve. Raises :class:`StorageError` naming the folder and the cause."""
        if self.path.is_symlink() and not self.path.exists():
            raise StorageError(errno.ENOENT, f"{self.path} is a symbolic link to a missing file; give another "
                                             f"--out")
        if self.path.exists() and not os.access(self.path, os.W_OK):  # a record to resume into
            raise StorageError(errno.EACCES, f"{self.path} is read-only; nothing can be added to it")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot make the folder {self.folder}: {exc.strerror}") from None
        free = self.free()
        needed = frame + self.margin + self.reserve
        if free < needed:
            what = f"one frame of {_mb(frame)}, " if frame else ""
            raise StorageError(errno.ENOSPC, f"disk nearly full: {_mb(free)} left on {self.folder}; a run needs "
                                             f"at least {_mb(needed)} ({what}{_mb(self.margin)} to close the "
                                             f"file and a {_mb(self.reserve)} reserve)")
        self.take()

    def take(self) -> None:
        """Write the reserve file (which also proves the folder writable)."""
        try:
            with open(self.reserve_path, "wb") as handle:
                if self.reserve:
                    try:
                        os.posix_fallocate(handle.fileno(), 0, self.reserve)
                    except (AttributeError, OSError) as exc:  # no fallocate here: write it out
                        if isinstance(exc, OSError) and exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                            raise
                        handle.write(b"\0" * self.reserve)
                        handle.flush()
                        os.fsync(handle.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):  # a read-only filesystem refuses even this
                self.reserve_path.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(exc.errno, f"disk nearly full: {_mb(self.free())} left on {self.folder}; "
                                              f"the {_mb(self.reserve)} reserve does not fit") from None
            raise StorageError(exc.errno, f"cannot write in {self.folder}: {exc.strerror}") from None
        self.held = True

    def release(self) -> bool:
        """Delete the reserve (a disk-full write, or the end of the run); True if space was freed."""
        if not self.held:
            return False
        self.held = False
        try:
            self.reserve_path.unlink(missing_ok=True)
        except OSError:
            return False
        return self.reserve > 0
