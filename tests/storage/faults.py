"""Helpers of the storage fault tests: a small tmpfs to fill, the CLI as a subprocess, a short imaging protocol."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())"]

# 3.2 h on the simulated thesis cell; one 1024 x 768 region on SE2 + ESB (3.1 MB a frame) every 15 min:
# 13 frames (40 MB) if the disk holds them.
PROTOCOL = """
name = "storage-faults"

[cell]
material = "NMC622"
active_mass = "3.2549 mg"
counter_electrode = "Li-In"
initial_soc = 0.0

[safety]
voltage_min = "1.0 V vs Li"
voltage_max = "4.4 V vs Li"
current_max = "1 mA"
duration_max = "20 h"

[[steps]]
name = "rest"
technique = "rest"
duration = "10 min"

[[steps]]
name = "charge"
technique = "constant_current"
current = "C/10"
until.voltage = "4.3 V vs Li+/Li"
until.time = "2 h"
record.every = "60 s"

[[steps]]
name = "discharge"
technique = "constant_current"
current = "D/10"
until.voltage = "3.0 V vs Li+/Li"
until.time = "1 h"
record.every = "60 s"

[[imaging.regions]]
name = "particle"
stage_position = "current"
pixel_size = "40 nm"
frame_size = "1024x768"
dwell = "100 ns"
detectors = ["SE2", "ESB"]
accelerating_voltage = "2 kV"
probe_current = "1 nA"
min_interval = "5 min"
settle_time = "1 s"
triggers = [{ every = "15 min" }]
dose_budget = "500 e-/nm^2"
"""
FRAME_BYTES = 2 * 2 * 1024 * 768 + 4 * 2 * 12 * 16  # pixels of both detectors + displacement field


def protocol(folder: Path) -> Path:
    path = folder / "storage-faults.toml"
    path.write_text(PROTOCOL)
    return path


def operando(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"})


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "19m") mounted on ``folder``; skips the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
