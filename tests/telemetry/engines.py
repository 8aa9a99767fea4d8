"""Engines for the telemetry tests: as a detached `operando simulate` process, or in a thread of the test."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from operando.simulators.rig import build_simulated_rig

from operando import clock
from operando.engine import Experiment, ExperimentResult
from operando.protocol import load_protocol, resolve
from operando.service import EngineProcess, TelemetryService, start_engine
from operando.telemetry import TelemetrySettings

SHORT = Path(__file__).with_name("short.toml")  # 3.2 h simulated: C/10 charge 2 h, D/10 discharge 1 h
IMAGING = Path(__file__).with_name("imaging.toml")  # the same with a 512 x 384 region every 40 min


def engine_process(tmp_path: Path, name: str, *options: str, speed: float = 3000,
                   env: dict[str, str] | None = None) -> tuple[EngineProcess, Path]:
    """`operando simulate short.toml --rig-name NAME ...` detached; returns it and its file."""
    out = tmp_path / f"{name}.h5"
    arguments = ["simulate", str(SHORT), "--out", str(out), "--speed", str(speed), "--rig-name", name,
                 *options]
    process = start_engine(arguments, log_path=tmp_path / f"{name}.log", env=env)
    return process, out


def finished(process: EngineProcess, timeout: float = 60) -> int:
    code = process.process.wait(timeout)
    return code


def log_of(process: EngineProcess) -> str:
    return process.log_path.read_text() if process.log_path and process.log_path.exists() else ""


class EngineThread(threading.Thread):
    """The engine with its telemetry service, on simulated time at ``speed``, in a thread of the test."""

    def __init__(self, out: Path, settings: TelemetrySettings | None, speed: float = 3000,
                 protocol: Path = SHORT) -> None:
        super().__init__(name=f"engine {settings.rig if settings else 'offline'}", daemon=True)
        self.out, self.settings, self.speed, self.protocol = out, settings, speed, protocol
        self.result: ExperimentResult | None = None
        self.error: BaseException | None = None
        self.service: TelemetryService | None = None
        self.started_service = threading.Event()

    def run(self) -> None:
        try:
            self.result = clock.run_simulated(self._main(), speed=self.speed)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc
        finally:
            self.started_service.set()

    async def _main(self) -> ExperimentResult:
        plan = resolve(load_protocol(self.protocol))
        rig = await build_simulated_rig(plan, seed=1)
        imaging = {"microscope": rig.microscope} if rig.microscope is not None else {}
        experiment = Experiment(plan, rig.potentiostat, self.out, poll_interval=rig.poll_interval, **imaging)
        if self.settings is None:
            return await experiment.run()
        async with TelemetryService(experiment, self.settings) as service:
            self.service = service
            self.started_service.set()
            return await experiment.run()

    def outcome(self, timeout: float = 60) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the engine did not finish"
        if self.error is not None:
            raise self.error
        return self.result
