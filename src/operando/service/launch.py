"""Start an engine as its own process, detached from the caller (a GUI may close; the experiment goes on)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EngineProcess:
    """A detached engine: ``pid``, the command line it runs and where its output goes."""

    process: subprocess.Popen[bytes]
    command: list[str]
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None


def start_engine(arguments: list[str], *, log_path: str | Path | None = None,
                 cwd: str | Path | None = None, env: dict[str, str] | None = None) -> EngineProcess:
    """Run ``operando <arguments>`` (e.g. ``["simulate", "p.toml", "--broker", "embedded"]``) in a new
    session, so closing the caller's terminal or GUI does not stop it; its output goes to ``log_path``."""
    if not arguments or arguments[0] not in ("run", "simulate"):
        raise ValueError(f"start_engine runs 'operando run' or 'operando simulate', got {arguments[:1]!r}")
    command = [sys.executable, "-c", "from operando.cli import main; raise SystemExit(main())", *arguments]
    log_file = Path(log_path) if log_path is not None else None
    output = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, **(env or {})}, start_new_session=True)
    finally:
        if log_file is not None:
            output.close()  # type: ignore[union-attr]
    return EngineProcess(process, command, log_file)
