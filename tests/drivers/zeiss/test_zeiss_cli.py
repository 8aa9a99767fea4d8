"""`operando bridge`: registered through the entry point, clear errors on bad arguments, serves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from operando.drivers.zeiss.bridge_client import BridgeClientSeam

from operando.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_bridge_is_a_subcommand_of_operando(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bridge", "--help"])
    assert exit_.value.code == 0
    assert "--token-file" in capsys.readouterr().out


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: p / "missing.token", "cannot read it"),
    (lambda p: (p / "empty.token").write_text("  \n") and p / "empty.token", "is empty"),
])
def test_a_bad_token_file_is_named_and_refused(tmp_path, capsys, make, expected) -> None:
    token_file = make(tmp_path)
    assert main(["bridge", "--token-file", str(token_file)]) == 2
    err = capsys.readouterr().err
    assert "--token-file" in err and str(token_file) in err and expected in err


def test_a_bad_seam_spec_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "t").write_text("secret-token")
    assert main(["bridge", "--token-file", str(tmp_path / "t"), "--seam", "no_colon_here"]) == 2
    assert "--seam" in capsys.readouterr().err


def test_the_command_serves_on_loopback_until_stopped(tmp_path) -> None:
    (tmp_path / "t").write_text("a-long-shared-token\n")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())", "bridge",
         "--token-file", str(tmp_path / "t"), "--port", "0",
         "--seam", "tests.drivers.zeiss.helpers:RecordingSeam"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        port = None
        for line in process.stderr:
            match = re.search(r"serving on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        assert port, "the bridge did not report where it listens"
        client = BridgeClientSeam("127.0.0.1", port, "a-long-shared-token", timeout=5)
        assert client.Get("AP_MANUALKV") == (0, 2000.0)
        client.close()
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()
