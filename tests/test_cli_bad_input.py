"""Never a traceback from a command: every command given bad input (missing files, folders given as files,
empty, binary and non-HDF5 files, bad numbers, negative values) ends with one line "operando <command>: ..."
naming the problem, exit status 1, 2 or 3, and no traceback; ``--debug`` shows the traceback of an unexpected
failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import operando.protocol  # noqa: F401 - pydantic before Qt: shiboken's import hook breaks a late pydantic import
from operando.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHORT = ROOT / "tests" / "telemetry" / "short.toml"
RIG = ROOT / "examples" / "rigs" / "simulated-biologic.toml"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder of bad inputs: a sub-folder, an empty file, a binary one, a text file named .h5, deep TOML."""
    (tmp_path / "folder").mkdir()
    for name in ("empty.toml", "empty.h5"):
        (tmp_path / name).write_bytes(b"")
    for name in ("binary.toml", "binary.h5", "binary.token", "binary.passwd"):
        (tmp_path / name).write_bytes(PNG)
    (tmp_path / "text.h5").write_text("time,voltage\n0,3.7\n")
    (tmp_path / "deep.toml").write_text("a = " + "[" * 60000 + "]" * 60000 + "\n")
    with h5py.File(tmp_path / "other.h5", "w") as other:  # HDF5, but not an operando record
        other["x"] = np.arange(3)
    with h5py.File(tmp_path / "flat.h5", "w") as flat:  # a region whose frames are not (n, detector, y, x)
        flat.create_group("entry/rois/r1")["frames"] = np.zeros((2, 3), np.uint16)
    with h5py.File(tmp_path / "labels.h5", "w") as labels:
        region = labels.create_group("entry/rois/r1")
        region["frames"] = np.zeros((1, 1, 8, 8), np.uint16)
        region.attrs["detectors"] = "SE2, ESB"
    return tmp_path


# (command line with {d} for the folder of bad inputs, allowed exit statuses, what the error must name)
CASES: list[tuple[str, set[int], str]] = [
    ("check {d}/missing.toml", {2}, "no such protocol file"),
    ("check {d}/folder", {2}, "Is a directory"),
    ("check {d}/empty.toml", {2}, "safety"),
    ("check {d}/binary.toml", {2}, "not UTF-8 text (byte 0x89 at offset 0)"),
    ("check {d}/deep.toml", {2}, "nested too deeply"),
    ("check {d}/text.h5", {2}, "malformed TOML"),
    ("simulate {d}/missing.toml --out {d}/o.h5", {2}, "no such protocol file"),
    ("simulate {d}/binary.toml --out {d}/o.h5", {2}, "not UTF-8 text"),
    (f"simulate {SHORT} --speed -5 --out {{d}}/o.h5", {2}, "--speed: must be a positive factor"),
    (f"simulate {SHORT} --speed abc --out {{d}}/o.h5", {2}, "--speed: expected a factor"),
    (f"simulate {SHORT} --speed nan --out {{d}}/o.h5", {2}, "--speed"),
    (f"simulate {SHORT} --seed 1.5 --out {{d}}/o.h5", {2}, "--seed: expected a whole number"),
    (f"simulate {SHORT} --out {{d}}/folder", {2}, "already exists"),
    (f"simulate {SHORT} --out {{d}}/empty.h5", {2}, "already exists"),
    (f"simulate {SHORT} --broker embedded --telemetry-interval abc --out {{d}}/o.h5", {2},
     "--telemetry-interval"),
    (f"simulate {SHORT} --broker embedded --telemetry-interval=-1s --out {{d}}/o.h5", {2},
     "--telemetry-interval must be zero or positive"),
    (f"simulate {SHORT} --broker embedded --embedded-port 99999999 --out {{d}}/o.h5", {2}, "--embedded-port"),
    (f"simulate {SHORT} --broker embedded --command-users {{d}}/missing.passwd --out {{d}}/o.h5", {2},
     "cannot be read"),
    (f"simulate {SHORT} --broker embedded --command-users {{d}}/binary.passwd --out {{d}}/o.h5", {2},
     "not a text file"),
    (f"simulate {SHORT} --broker foo://x --out {{d}}/o.h5", {2}, "the scheme must be mqtt://"),
    (f"run {SHORT} --rig {{d}}/missing.toml --out {{d}}/o.h5", {2}, "no such rig file"),
    (f"run {SHORT} --rig {{d}}/folder --out {{d}}/o.h5", {2}, "Is a directory"),
    (f"run {SHORT} --rig {{d}}/empty.toml --out {{d}}/o.h5", {2}, "potentiostat"),
    (f"run {SHORT} --rig {{d}}/binary.toml --out {{d}}/o.h5", {2}, "not UTF-8 text"),
    (f"run {SHORT} --rig {{d}}/deep.toml --out {{d}}/o.h5", {2}, "nested too deeply"),
    (f"run {SHORT} --rig {RIG} --speed -1 --out {{d}}/o.h5", {2}, "--speed"),
    ("run {d}/missing.toml --rig " + str(RIG), {2}, "no such protocol file"),
    ("resume {d}/missing.h5", {2}, "no such file"),
    ("resume {d}/folder", {2}, "folder: not a readable experiment file"),
    ("resume {d}/empty.h5", {2}, "empty.h5"),
    ("resume {d}/binary.h5", {2}, "binary.h5"),
    ("resume {d}/text.h5", {2}, "text.h5"),
    ("resume {d}/other.h5", {2}, "other.h5: not an operando experiment file (it has no 'entry')"),
    ("resume {d}/missing.h5 --speed -1", {2}, "--speed"),
    ("export {d}/missing.h5 --csv {d}/o.csv", {2}, "no such file"),
    ("export {d}/folder --csv {d}/o.csv", {2}, "folder: a folder, not an experiment file"),
    ("export {d}/empty.h5 --csv {d}/o.csv", {2}, "empty.h5 is not an HDF5 file"),
    ("export {d}/binary.h5 --csv {d}/o.csv", {2}, "binary.h5 is not an HDF5 file"),
    ("export {d}/text.h5 --mpt {d}/o.mpt", {1, 2}, "text.h5"),
    ("export {d}/text.h5", {2}, "say what to write"),
    ("export {d}/other.h5 --csv {d}/o.csv", {2}, "other.h5: not an operando experiment file (it has no 'entry')"),
    ("export {d}/flat.h5 --tiff {d}/stacks", {2}, "flat.h5: not an operando experiment file (it has no 'electrochem')"),
    ("analyse {d}/missing.h5", {2}, "no such file"),
    ("analyse {d}/folder", {2}, "folder: a folder, not an experiment file"),
    ("analyse {d}/empty.h5", {2}, "empty.h5 is not an HDF5 file"),
    ("analyse {d}/binary.h5", {2}, "binary.h5 is not an HDF5 file"),
    ("analyse {d}/text.h5", {2}, "text.h5 is not an HDF5 file"),
    ("analyse {d}/other.h5", {2}, "other.h5: no regions of interest"),
    ("analyse {d}/flat.h5", {2}, "region 'r1': frames must be (frame, detector, y, x), got shape (2, 3)"),
    ("analyse {d}/labels.h5", {2}, "region 'r1': its 'detectors' attribute is not a JSON list"),
    ("analyse {d}/text.h5 --grid 0", {2}, "--grid: must be at least 4 pixels, got '0'"),
    ("analyse {d}/text.h5 --grid -5", {2}, "--grid: must be at least 4 pixels, got '-5'"),
    ("analyse {d}/text.h5 --grid 2.5", {2}, "--grid: expected a whole number of pixels"),
    ("watch --once -1", {2}, "--once must be positive"),
    ("watch --once 1 --broker foo://x", {2}, "the scheme must be mqtt://"),
    ("watch --once 1 --rig a/b", {2}, "rig name 'a/b'"),
    ("gui {d}/missing.h5", {2}, "no such file"),
    ("gui {d}/folder", {2}, "is a folder"),
    ("bridge --token-file {d}/missing.token", {2}, "cannot read it"),
    ("bridge --token-file {d}/folder", {2}, "cannot read it"),
    ("bridge --token-file {d}/empty.h5", {2}, "is empty"),
    ("bridge --token-file {d}/binary.token", {2}, "is not UTF-8 text"),
]


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("operando ")]


def _run_main(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(arguments)
    except SystemExit as exit_:  # argparse's own usage errors: "operando X: error: ...", status 2
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    return code, " ".join(err.split()) if "Traceback" not in err else err


@pytest.mark.parametrize(("line", "codes", "names"), CASES, ids=[case[0].split()[0] + ": " + case[2]
                                                                  for case in CASES])
def test_bad_input_ends_in_one_line_naming_the_problem(line: str, codes: set[int], names: str, files: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    arguments = line.format(d=files).split()
    code, err = _run_main(arguments, capsys)
    assert "Traceback" not in err, err
    assert code in codes, err
    assert err.startswith(f"operando {arguments[0]}") or f"operando {arguments[0]}: error:" in err, err
    assert names in err, err
    assert not (files / "o.h5").exists()  # nothing was started


def test_no_display_is_one_line_not_a_qt_abort(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Qt needs no DISPLAY off Linux")
    for variable in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["gui"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("operando gui: no display to open a window on")


# an unexpected failure inside a command: the one place in cli/__init__.py that catches it

def _failing(exc: BaseException) -> Callable[..., int]:
    def run(args: object) -> int:
        raise exc
    return run


@pytest.mark.parametrize(("exc", "code", "line"), [
    (RuntimeError("the stage controller returned nonsense"), 1,
     "operando check: RuntimeError: the stage controller returned nonsense (operando --debug shows where)"),
    (ZeroDivisionError("integer division or modulo by zero"), 1,
     "operando check: integer division or modulo by zero (operando --debug shows where)"),
    (PermissionError(13, "Permission denied", "/data/run.h5"), 1,
     "operando check: /data/run.h5: Permission denied (operando --debug shows where)"),
    (FileNotFoundError(2, "No such file or directory", "cells.csv"), 2,
     "operando check: cells.csv: No such file or directory"),
    (ExceptionGroup("unhandled errors in a TaskGroup", [OSError(28, "No space left on device", "r.h5")]), 1,
     "operando check: r.h5: No space left on device (operando --debug shows where)"),
    (ValueError("line one\nline two"), 1, "operando check: line one line two (operando --debug shows where)"),
    (KeyboardInterrupt(), 3, "operando check: interrupted"),
])
def test_an_unexpected_failure_is_one_line_and_its_exit_status(exc: BaseException, code: int, line: str,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("operando.cli.check.run", _failing(exc))
    assert main(["check", "p.toml"]) == code
    err = capsys.readouterr().err
    assert err == line + "\n"


@pytest.mark.parametrize("position", ["before", "after"])
def test_debug_shows_the_traceback(position: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("operando.cli.check.run", _failing(RuntimeError("boom")))
    arguments = ["--debug", "check", "p.toml"] if position == "before" else ["check", "p.toml", "--debug"]
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in _failing" not in err
    assert "raise exc" in err and err.splitlines()[-1] == "operando check: RuntimeError: boom"


# as a user runs it: a separate process, its real stderr

def _operando(*arguments: str, cwd: Path, code: str = "") -> subprocess.CompletedProcess[str]:
    script = f"{code}\nfrom operando.cli import main\nraise SystemExit(main())"
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60, check=False)


@pytest.mark.parametrize(("arguments", "code", "names"), [
    (["check", "binary.toml"], 2, "binary.toml: file: not UTF-8 text"),
    (["analyse", "text.h5", "--grid", "0"], 2, "--grid: must be at least 4 pixels"),
    (["resume", "folder"], 2, "folder"),
    (["bridge", "--token-file", "binary.token"], 2, "is not UTF-8 text"),
])
def test_as_a_process_no_traceback_reaches_the_terminal(arguments: list[str], code: int, names: str,
                                                        files: Path) -> None:
    done = _operando(*arguments, cwd=files)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and names in done.stderr


def test_as_a_process_an_unexpected_failure_and_debug(files: Path) -> None:
    broken = "import operando.cli.check as check\ndef run(args): return {}['plan']\ncheck.run = run"
    plain = _operando("check", "p.toml", cwd=files, code=broken)
    assert plain.returncode == 1
    assert plain.stderr == "operando check: KeyError: 'plan' (operando --debug shows where)\n"
    debug = _operando("--debug", "check", "p.toml", cwd=files, code=broken)
    assert debug.returncode == 1
    assert "Traceback (most recent call last):" in debug.stderr and "KeyError: 'plan'" in debug.stderr
    assert debug.stderr.splitlines()[-1] == "operando check: KeyError: 'plan'"


def test_as_a_process_a_logged_exception_is_one_line(files: Path) -> None:
    logs = ("import logging, operando.cli.check as check\n"
            "def run(args):\n"
            "    try:\n"
            "        {}['beam']\n"
            "    except KeyError:\n"
            "        logging.getLogger('operando.drivers.zeiss').exception('could not stop the scan')\n"
            "    return 1\n"
            "check.run = run")
    plain = _operando("check", "p.toml", cwd=files, code=logs)
    assert plain.returncode == 1
    assert plain.stderr == "could not stop the scan (KeyError: 'beam')\n"
    debug = _operando("check", "p.toml", "--debug", cwd=files, code=logs)
    assert "Traceback (most recent call last):" in debug.stderr and "could not stop the scan" in debug.stderr
