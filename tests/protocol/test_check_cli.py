"""`operando check`: exit 0 and the plan on good input, exit 2 and named errors on bad, JSON that parses."""

import json
from pathlib import Path

import pytest

from operando.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thesis_nmc622.toml"


def test_good_protocol_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "I = 15 uA" in out and "I = -15 uA" in out
    assert "E > 3.68 V (4.3 V vs Li+/Li)" in out
    assert "|I| < 3 uA" in out
    assert "E < 2.08 V (2.7 V vs Li+/Li)" in out
    assert "total estimated duration: 79.8 h" in out  # two 38.4 h C/60 phases to 64 % SOC, hold, rests


def test_json_output_parses_and_holds_the_plan_in_si_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is True
    steps = document["plan"]["steps"]
    assert steps[1]["technique"]["type"] == "ConstantCurrent"
    assert steps[1]["technique"]["current"] == pytest.approx(15e-6, rel=1e-4)
    assert steps[2]["technique"]["limits"][0]["value"] == pytest.approx(3e-6, rel=1e-4)
    assert document["plan"]["cell"]["counter_electrode"] == "Li-In"
    assert document["plan"]["estimated_duration"] == pytest.approx(79.8 * 3600, rel=1e-3)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


def test_bad_protocol_exits_2_naming_file_field_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EXAMPLE.read_text().replace('current = "C/60"', 'current = "15 V"'))
    assert main(["check", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: steps[1].current:" in captured.err and "'15 V'" in captured.err
    assert "nothing was started" in captured.err


def test_bad_protocol_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, EXAMPLE.read_text().replace('duration = "30 min"', 'duration = "-30 min"', 1))
    assert main(["check", path, "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False and document["source"] == path
    (problem,) = document["errors"]
    assert problem["path"] == "steps[0].duration" and "'-30 min'" in problem["message"]


def test_malformed_toml_and_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "name = \n")
    assert main(["check", path]) == 2
    assert "malformed TOML on TOML line 1" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.toml")]) == 2
    assert "no such protocol file" in capsys.readouterr().err


def test_the_installed_command_exits_2_on_bad_input(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, EXAMPLE.read_text().replace('technique = "cccv"', 'technique = "cccx"'))
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from operando.cli import main; sys.exit(main())", "check", path],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "steps[1].technique: unknown technique 'cccx'" in result.stderr
