"""One engine per cell: a record or an instrument held by a live engine is refused to a second one (exit 2,
one line naming the holder, nothing started); the operating system frees the lock when the holder is killed;
records without --out never share a name; a bad --out is one line, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from operando import locks
from operando.cli import main
from operando.cli.simulate import default_out
from operando.plan import Plan
from operando.protocol import load_protocol, resolve
from operando.rigfile import loads_rig
from operando.storage import read_experiment
from tests.test_end_to_end import light_thesis, points_in

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")

BIOLOGIC_RIG = """
name = "cell-a"
[potentiostat]
driver = "biologic"
address = "USB0"
channel = {channel}
"""

HOLD = textwrap.dedent("""
    import sys, time
    from operando import locks
    from operando.rigfile import load_rig
    held = locks.lock_instruments(load_rig(sys.argv[1]))
    print("held", flush=True)
    time.sleep(120)
""")


def wait_for(condition, within: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {within} s")


def kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    if child.stdout is not None:
        child.stdout.close()


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private instrument-lock folder (children inherit it), so tests never meet a real engine's locks."""
    folder = tmp_path / "instrument-locks"
    monkeypatch.setenv("OPERANDO_LOCK_DIR", str(folder))
    return folder


def test_resume_of_a_file_a_live_engine_writes_is_refused_and_the_lock_is_freed_by_sigkill(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    protocol = tmp_path / "thesis.toml"
    protocol.write_text(light_thesis())
    out = tmp_path / "live.h5"
    command = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())",
               "simulate", str(protocol), "--out", str(out), "--speed", "2000"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_for(lambda: points_in(out) > 0, 60, "the engine's first points")
        inode = out.stat().st_ino
        code = main(["resume", str(out)])
        refusal = capsys.readouterr().err.strip()
        assert child.poll() is None  # the live engine goes on
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        kill(child)
    assert code == 2
    assert len(refusal.splitlines()) == 1
    assert f"pid {child.pid} on host " in refusal and "simulate" in refusal and "live.h5" in refusal
    # Untouched: the same file (not replaced by a copy), no resumed event, time and frame numbers only go on.
    assert out.stat().st_ino == inode and not out.with_name(out.name + ".repairing").exists()
    record = read_experiment(out)
    assert record.events_of("resumed") == []
    assert np.all(np.diff(record.electrochem["t"]) > 0)
    for region in record.rois.values():
        np.testing.assert_array_equal(region.table["index"], np.arange(len(region)))
    # SIGKILL: the operating system freed the lock with its holder; the lock file left behind blocks nothing.
    assert locks.holder(locks.record_lock_path(out)) is None
    with locks.lock_record(out) as lock:
        assert lock.held
    assert not locks.record_lock_path(out).exists()  # a released lock leaves no file behind


def test_a_second_engine_on_the_same_instruments_is_refused(tmp_path: Path, lock_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    rig = tmp_path / "cell-a.toml"
    rig.write_text(BIOLOGIC_RIG.format(channel=1))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(rig)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = tmp_path / "second.h5"
        code = main(["run", str(EXAMPLES / "cv_li_in.toml"), "--rig", str(rig), "--out", str(out),
                     "--broker", "none"])
        refusal = capsys.readouterr().err.strip()
        assert code == 2 and not out.exists() and not locks.record_lock_path(out).exists()
        assert len(refusal.splitlines()) == 1
        assert "potentiostat of rig 'cell-a' (address=usb0 channel=1)" in refusal
        assert f"pid {holder.pid} on host" in refusal
        # Another channel of the same BioLogic drives another cell: allowed.
        other = loads_rig(BIOLOGIC_RIG.format(channel=2))
        with locks.holding(locks.lock_instruments(other)) as held:
            assert len(held) == 1
        # A resume on those instruments is refused too, before its file is even read.
        interrupted = tmp_path / "interrupted.h5"
        interrupted.write_bytes(b"not read")
        assert main(["resume", str(interrupted), "--rig", str(rig)]) == 2
        refusal = capsys.readouterr().err.strip()
        assert refusal.startswith("operando resume: the potentiostat of rig 'cell-a'") and \
            f"pid {holder.pid}" in refusal and len(refusal.splitlines()) == 1
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        with locks.holding(locks.lock_instruments(loads_rig(rig.read_text()))) as held:
            assert len(held) == 1  # the killed holder's lock is free again
    finally:
        kill(holder)


def test_instrument_addresses_name_the_physical_instrument() -> None:
    zeiss_local = loads_rig('name = "z"\n[potentiostat]\ndriver = "biologic"\n[microscope]\ndriver = "zeiss"\n')
    addresses = [locks.instrument_address(i) for i in zeiss_local.instruments]
    assert addresses == ["address=usb0 channel=1", "driver=zeiss on this computer"]
    bench = loads_rig((EXAMPLES / "rigs" / "keithley-bench.toml").read_text())
    assert [locks.instrument_address(i) for i in bench.instruments] == [
        "resource=usb0::0x05e6::0x2450::04512345::instr", "port=/dev/ttyusb0", "port=/dev/ttyusb1"]
    # Simulated instruments belong to their own process: two rehearsals never block each other.
    simulated = loads_rig((EXAMPLES / "rigs" / "simulated-keithley.toml").read_text())
    assert [locks.instrument_address(i) for i in simulated.instruments] == [None, None, None]
    assert locks.lock_instruments(simulated) == []


def test_a_locked_record_is_refused_in_process_and_freed_on_release(tmp_path: Path) -> None:
    record = tmp_path / "run.h5"
    with locks.lock_record(record):
        with pytest.raises(locks.LockHeld, match=rf"the record {record} is in use by another engine: "
                                                 rf"pid {os.getpid()} on host"):
            locks.lock_record(record)
    with locks.lock_record(record):
        pass


def plan() -> Plan:
    return resolve(load_protocol(EXAMPLES / "cv_li_in.toml"))


def test_default_out_never_collides_within_one_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    same_second = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)
    default = default_out(plan(), same_second)
    assert default == Path("runs/cv-lps-li-in-20261204T170000Z.h5")
    first, first_lock = locks.claim_new_record(default, numbered=True)
    second, second_lock = locks.claim_new_record(default, numbered=True)  # the first run still starting
    assert (first, second) == (default, Path("runs/cv-lps-li-in-20261204T170000Z-2.h5"))
    first.write_bytes(b"a record")
    first_lock.release()
    third, third_lock = locks.claim_new_record(default, numbered=True)  # the first has written its file
    assert third == Path("runs/cv-lps-li-in-20261204T170000Z-3.h5")
    second_lock.release(), third_lock.release()
    assert first.read_bytes() == b"a record"


@pytest.mark.parametrize("case", ["dangling link", "missing folder on a read-only tree", "existing file"])
def test_a_bad_out_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    if case == "dangling link":
        out = tmp_path / "link.h5"
        out.symlink_to(tmp_path / "gone" / "target.h5")
        expected = "is a symbolic link to"
    elif case == "missing folder on a read-only tree":
        out = Path("/proc/operando-nowhere/run.h5")  # /proc takes no new folder, even from root
        expected = "cannot make its folder /proc/operando-nowhere"
    else:
        out = tmp_path / "taken.h5"
        out.write_bytes(b"someone's record")
        expected = "already exists; a record is never overwritten"
    code = main(["simulate", str(EXAMPLES / "cv_li_in.toml"), "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and expected in error and len(error.splitlines()) == 1 and "Traceback" not in error
    assert not (tmp_path / "gone").exists()
    if case == "existing file":
        assert out.read_bytes() == b"someone's record"
