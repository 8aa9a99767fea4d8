"""Open a record to read it, live or finished, refusing a truncated or damaged file at once.

A SWMR reader expects metadata to be caught mid-write, so HDF5 retries every metadata read that fails its
checksum, 100 times with a back-off that doubles up to an hour per try: on a truncated or corrupt file that
is a hang in C (Ctrl-C ignored). Here the file's size is compared with the end of file its superblock records
(a truncated file is refused before HDF5 sees it) and the retries are bounded to a quarter of a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
from h5py import h5f, h5p

from operando.errors import OperandoError

SIGNATURE = b"\x89HDF\r\n\x1a\n"
READ_ATTEMPTS = 18  # a SWMR metadata read is tried this often: back-off 1 us doubling, 0.26 s in all
_DAMAGE = ("checksum", "read attempts", "ran off end", "bad object header", "truncated", "corrupt")
SETTLE = 0.5  # s a live writer may take to extend the file to the end its superblock already records


class UnreadableFile(OperandoError, OSError):
    """The file is not a readable experiment record: truncated, damaged, or not HDF5; says which."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unreadable file"


def _read_attempts_setter() -> ctypes._CFuncPtr | None:
    # h5py does not wrap H5Pset_metadata_read_attempts; its extension modules link the HDF5 library, whose
    # symbols a handle on them resolves. None where that does not hold (the size check still applies).
    try:
        function = ctypes.CDLL(h5p.__file__).H5Pset_metadata_read_attempts
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SET_READ_ATTEMPTS = _read_attempts_setter()


def _recorded_end(path: Path) -> tuple[int | None, bool]:
    """End of file the superblock (version 2 or 3, as libver "latest" writes) records (None if unknown), and
    whether it is marked open for writing (a live writer, or one that was killed)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        offset = 0
        while head != SIGNATURE:  # a user block puts the superblock at 512, 1024, 2048, ...
            offset = 512 if offset == 0 else offset * 2
            handle.seek(offset)
            head = handle.read(8)
            if len(head) < 8:
                raise UnreadableFile(f"{path} is not an HDF5 file (no HDF5 signature)")
        fixed = handle.read(4)
        if len(fixed) < 4:
            raise UnreadableFile(f"{path} is truncated inside its HDF5 header")
        version, offsets, flags = fixed[0], fixed[1], fixed[3]
        if version < 2 or offsets not in (2, 4, 8):
            return None, True
        addresses = handle.read(3 * offsets)
        if len(addresses) < 3 * offsets:
            raise UnreadableFile(f"{path} is truncated inside its HDF5 header")
        code = {2: "<H", 4: "<I", 8: "<Q"}[offsets]
        base, _extension, end = (struct.unpack(code, addresses[k * offsets:(k + 1) * offsets])[0]
                                 for k in range(3))
        return base + end, flags != 0


def check_whole(path: str | Path) -> None:
    """Raise :class:`UnreadableFile` if ``path`` is shorter than its HDF5 header says (cut off by a copy, a
    download or a full disk), or is not HDF5; a file open for writing gets :data:`SETTLE` s to be extended."""
    path = Path(path)
    deadline = time.monotonic() + SETTLE
    while True:
        end, writing = _recorded_end(path)
        size = path.stat().st_size
        if end is None or size >= end:
            return
        if not writing or time.monotonic() >= deadline:
            raise UnreadableFile(f"{path} is truncated: {size} bytes of the {end} its HDF5 header records "
                                 f"(an incomplete copy or download?); nothing was read")
        time.sleep(0.1)


def is_damage(error: BaseException) -> bool:
    """True for the errors HDF5 gives on a damaged file (h5py reports an object it cannot open as KeyError,
    whether it is missing or damaged: only the message tells)."""
    return isinstance(error, OSError | RuntimeError | KeyError) and any(word in str(error) for word in _DAMAGE)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def open_to_read(path: str | Path, *, swmr: bool = True, locking: bool | None = None) -> h5py.File:
    """``path`` opened read-only (SWMR by default: works while a run writes it; ``locking`` False for
    filesystems without file locks); a truncated, damaged or non-HDF5 file raises :class:`UnreadableFile`
    within about a second, never hangs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    check_whole(path)
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    if locking is not None:
        fapl.set_file_locking(locking, True)
    flags = h5f.ACC_RDONLY
    if swmr:
        flags |= h5f.ACC_SWMR_READ
        if _SET_READ_ATTEMPTS is not None:
            _SET_READ_ATTEMPTS(fapl.id, READ_ATTEMPTS)
    try:
        return h5py.File(h5f.open(str(path).encode(), flags, fapl=fapl))
    except (OSError, RuntimeError) as exc:
        raise UnreadableFile(f"{path} cannot be opened as an HDF5 file: {_first_line(exc)}") from None


@contextlib.contextmanager
def reading(path: str | Path, *, swmr: bool = True) -> Iterator[h5py.File]:
    """:func:`open_to_read` as a context; an HDF5 error while reading (a damaged object) becomes
    :class:`UnreadableFile` naming the file."""
    file = open_to_read(path, swmr=swmr)
    try:
        with file:
            yield file
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, UnreadableFile | FileNotFoundError):
            raise
        if isinstance(exc, KeyError) and not is_damage(exc):  # a missing object: the caller's message
            raise
        raise UnreadableFile(f"{path} is damaged (truncated or corrupt): {_first_line(exc).strip(chr(39))}"
                             ) from None
