"""The import-linter contracts in pyproject hold: the core imports no driver, simulator or Qt."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold(tmp_path: Path) -> None:
    # import-linter walks one folder per package; build the installed layout (operando/drivers, ...) from the
    # source folders so it sees the same tree the wheel installs.
    staged = tmp_path / "operando"
    shutil.copytree(ROOT / "src" / "operando", staged)
    for folder in ("drivers", "simulators", "ui"):
        shutil.copytree(ROOT / folder, staged / folder)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_core_module_is_under_the_core_contract() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    listed = set(contract["source_modules"])
    core = {f"operando.{p.stem}" for p in (ROOT / "src" / "operando").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    missing = core - listed
    assert not missing, f"add {sorted(missing)} to the first import-linter contract's source_modules in pyproject"


def test_every_protocol_part_is_in_the_protocol_layers() -> None:
    # A new module or sub-package of operando.protocol must take its place in the layers, or nothing checks it.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"]
                    if c["type"] == "layers" and c.get("containers") == ["operando.protocol"])
    layered = {name.strip() for layer in contract["layers"] for name in layer.replace(":", "|").split("|")}
    folder = ROOT / "src" / "operando" / "protocol"
    parts = {p.stem for p in folder.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts == layered, f"operando.protocol's parts {sorted(parts)} differ from its layers {sorted(layered)}"
