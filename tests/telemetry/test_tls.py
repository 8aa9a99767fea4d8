"""TLS to the broker: the engine checks the broker's certificate against --broker-ca."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from operando.engine import ExperimentState
from operando.telemetry import TelemetrySettings, parse_broker
from tests.telemetry.brokers import Listener, Mosquitto, wait_until
from tests.telemetry.conftest import needs_mosquitto
from tests.telemetry.engines import EngineThread

pytestmark = [needs_mosquitto,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")]


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it (as docs/mosquitto.md makes them)."""
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    server, key, request = folder / "server.crt", folder / "server.key", folder / "server.csr"
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    new_key = ("-newkey", "rsa:2048", "-nodes")
    run("req", "-x509", *new_key, "-days", "2", "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=CA")
    run("req", *new_key, "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1")
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "2", "-extfile", str(extensions), "-out", str(server))
    key.chmod(0o644)  # mosquitto may read it as another user
    return ca, server, key


def test_telemetry_over_tls(tmp_path: Path) -> None:
    ca, server, key = _certificates(tmp_path)
    broker = Mosquitto(tmp_path, tls=(ca, server, key)).start()
    listener = Listener(broker.port, "operando/tls/#", ca_file=ca).start()
    try:
        address = parse_broker(f"mqtts://127.0.0.1:{broker.port}", ca_file=ca)
        assert address.tls and address.ca_file == ca
        engine = EngineThread(tmp_path / "tls.h5", TelemetrySettings(address, "tls"), speed=20000)
        engine.start()
        assert engine.outcome().status is ExperimentState.COMPLETED
        wait_until(lambda: (listener.last_state() or {}).get("state") == "completed", 10,
                   "the final state over TLS")
        assert engine.service.link.connections == 1
    finally:
        listener.stop()
        broker.kill()
