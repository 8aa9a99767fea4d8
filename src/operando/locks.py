"""One engine per cell: exclusive locks on a record file and on a rig's instruments, held by the operating
system (flock, or msvcrt on Windows) so a process that dies, even by SIGKILL, frees them at once.

A record's lock is ``FILE.lock`` beside it; an instrument's lock lives in a per-user runtime folder
(``$OPERANDO_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/operando``, else ``<temp>/operando-<user>``), named after the
instrument's address (a BioLogic's address and channel, a VISA resource, a serial port, the SmartSEM bridge
host). Each lock file says who holds it (pid, host, command, since when), so a refusal can name the other
engine. A holder removes its lock file when it lets go; a file left by a killed holder is not a blocker, only
a name: the lock on it is gone with its process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from operando.errors import OperandoError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _LOCKED_BYTE = 1 << 30  # msvcrt locks are mandatory: lock a byte far past the holder's description

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

# Settings that say which physical instrument a driver talks to; values are compared case-insensitively.
ADDRESS_FIELDS = ("address", "channel", "resource", "port", "bridge_host", "bridge_port", "host")
SIMULATED_PREFIX = "simulated"  # drivers named simulated_* model an instrument per process: nothing to share


class LockError(OperandoError):
    """A lock could not be taken (its folder cannot be written, ...): nothing was started."""


class LockHeld(LockError):
    """Another live process holds the lock; ``holder`` is what it wrote about itself (may be empty)."""

    def __init__(self, what: str, holder: Mapping[str, Any], path: Path) -> None:
        self.what, self.holder, self.path = what, dict(holder), path
        super().__init__(f"{what} is in use by another engine: {describe_holder(holder)}; nothing was started "
                         f"(lock {path})")


def describe_holder(holder: Mapping[str, Any]) -> str:
    """'pid 1234 on host lab-pc since 2026-12-04T17:02:42Z (operando simulate p.toml)' from a lock's text."""
    if not holder.get("pid"):
        return "a process that has not said who it is yet"
    text = f"pid {holder['pid']} on host {holder.get('host', '?')} since {holder.get('since', '?')}"
    command = str(holder.get("command") or "").strip()
    return f"{text} ({command})" if command else text


def _identity() -> dict[str, Any]:
    command = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command[:300],
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()[:4096].decode("utf-8", "replace").strip("\0 \n")
        holder = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@dataclass
class Lock:
    """One held lock: ``what`` it protects and its lock file; :meth:`release` (or leaving ``with``) frees it."""

    what: str
    path: Path
    _fd: int | None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if sys.platform != "win32":  # removed while still locked: a waiter re-checks the file it locked
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock dropped without release: free it rather than block the next run
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def acquire(path: str | os.PathLike[str], what: str, details: Mapping[str, Any] | None = None) -> Lock:
    """Take the exclusive lock ``path`` at once for ``what`` (a phrase such as "the record run.h5");
    raises :class:`LockHeld` naming the holder, or :class:`LockError` when the lock file cannot be made."""
    path = Path(path)
    for _ in range(20):  # the holder may remove the file between our open and our lock: open it afresh
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise LockError(f"cannot create the lock file {path} for {what}: {exc.strerror or exc}; "
                            f"nothing was started") from None
        if not _try_lock(fd):
            os.close(fd)
            raise LockHeld(what, _read_holder(path), path)
        try:
            same = sys.platform == "win32" or os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            _unlock(fd)
            os.close(fd)
            continue
        text = json.dumps({**_identity(), "what": what, **(details or {})}).encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, text + b"\n")
        return Lock(what, path, fd)
    raise LockError(f"cannot take the lock file {path} for {what}: it keeps being replaced")


def holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who holds the lock ``path`` now (their description, possibly empty), or None when it is free."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return _read_holder(path)


# -- records -------------------------------------------------------------------------------------------------

def record_lock_path(record: str | os.PathLike[str]) -> Path:
    """``FILE.lock`` beside the record ``FILE``."""
    record = Path(record)
    return record.with_name(record.name + ".lock")


def lock_record(record: str | os.PathLike[str]) -> Lock:
    """The record's exclusive lock, for an engine that will write it (run, simulate, resume)."""
    record = Path(record)
    return acquire(record_lock_path(record), f"the record {record}", {"record": str(record.absolute())})


def claim_new_record(path: str | os.PathLike[str], *, numbered: bool = False) -> tuple[Path, Lock]:
    """Lock a record that does not exist yet; with ``numbered``, ``name-2.h5``, ``name-3.h5``... are tried
    until one is free, so runs started in the same second never share a name. Raises :class:`LockError`
    (exists, dangling link, folder not writable) or :class:`LockHeld`."""
    path = Path(path)
    for number in range(1, 1000 if numbered else 2):
        candidate = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        if os.path.islink(candidate) and not candidate.exists():
            raise LockError(f"--out {candidate} is a symbolic link to {os.readlink(candidate)}, which does not "
                            f"exist; give the record's real path")
        if candidate.exists():
            if numbered:
                continue
            raise LockError(f"--out {candidate} already exists; a record is never overwritten")
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LockError(f"--out {candidate}: cannot make its folder {candidate.parent}: "
                            f"{exc.strerror or exc}") from None
        if not os.access(candidate.parent, os.W_OK):
            raise LockError(f"--out {candidate}: the folder {candidate.parent} is not writable")
        try:
            lock = lock_record(candidate)
        except LockHeld:
            if numbered:
                continue
            raise
        if os.path.lexists(candidate):  # made between our look and our lock (its writer has let go since)
            lock.release()
            if numbered:
                continue
            raise LockError(f"--out {candidate} already exists; a record is never overwritten")
        return candidate, lock
    raise LockError(f"no free record name beside {path} (999 taken)")


# -- instruments ---------------------------------------------------------------------------------------------

def lock_folder() -> Path:
    """The per-user folder of instrument locks (made private on first use)."""
    chosen = os.environ.get("OPERANDO_LOCK_DIR")
    if chosen:
        folder = Path(chosen)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "operando"
    elif sys.platform == "win32":  # pragma: no cover
        folder = Path(os.environ.get("LOCALAPPDATA") or tempfile.gettempdir()) / "operando" / "locks"
    else:
        user = os.environ.get("USER") or str(os.getuid())
        folder = Path(tempfile.gettempdir()) / f"operando-{user}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LockError(f"cannot make the instrument lock folder {folder}: {exc.strerror or exc} (set "
                        "OPERANDO_LOCK_DIR to a writable folder); nothing was started") from None
    return folder


def _settings(instrument: Any) -> dict[str, Any]:
    settings = getattr(instrument, "settings", None)
    if hasattr(settings, "model_dump"):
        return dict(settings.model_dump())
    return dict(settings if isinstance(settings, Mapping) else getattr(instrument, "config", {}) or {})


def _normalised(name: str, value: Any) -> str:
    text = str(value).strip()
    if name == "port" and os.path.exists(text):  # /dev/serial/by-id/... and /dev/ttyUSB0 are one port
        text = os.path.realpath(text)
    return text.lower()


def instrument_address(instrument: Any) -> str | None:
    """What identifies the physical instrument of a rig file's entry ("address=usb0 channel=1",
    "port=/dev/ttyusb0"); a real driver that names no address drives the one on this computer; simulated
    drivers give None (each process has its own)."""
    driver = str(getattr(instrument, "driver", ""))
    if driver.startswith(SIMULATED_PREFIX):
        return None
    settings = _settings(instrument)
    if not settings.get("bridge_host"):
        settings.pop("bridge_port", None)  # a bridge port alone (its default) names no microscope
    parts = [f"{name}={_normalised(name, settings[name])}" for name in ADDRESS_FIELDS
             if settings.get(name) not in (None, "")]
    return " ".join(parts) if parts else f"driver={driver} on this computer"


def lock_instruments(rig: Any) -> list[Lock]:
    """Lock every real instrument of a rig file (``operando.rigfile.RigSpec``), all or none."""
    taken: list[Lock] = []
    folder = lock_folder() if any(instrument_address(i) for i in rig.instruments) else None
    try:
        for instrument in rig.instruments:
            address = instrument_address(instrument)
            if address is None or folder is None:
                continue
            digest = hashlib.sha256(address.encode()).hexdigest()[:20]
            what = f"the {instrument.where} of rig {rig.name!r} ({address})"
            taken.append(acquire(folder / f"instrument-{digest}.lock", what, {"instrument": address}))
    except BaseException:
        for lock in reversed(taken):
            lock.release()
        raise
    return taken


@contextlib.contextmanager
def holding(locks: Iterable[Lock]) -> Iterator[list[Lock]]:
    """Release ``locks`` on leaving (newest first)."""
    held = list(locks)
    try:
        yield held
    finally:
        for lock in reversed(held):
            lock.release()
