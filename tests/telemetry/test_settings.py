"""Broker addresses, loopback, and the refusal to start an engine open to commands from anyone."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest

from operando.telemetry.passwords import PasswordFile, PasswordFileError
from operando.telemetry.settings import (
    BrokerAddress,
    TelemetryConfigError,
    TelemetrySettings,
    is_loopback,
    parse_broker,
)
from tests.telemetry.brokers import MOSQUITTO_PASSWD


def test_broker_urls() -> None:
    assert parse_broker("embedded") == "embedded" and parse_broker(" None ") == "none"
    plain = parse_broker("mqtt://127.0.0.1:1884")
    assert plain == BrokerAddress("127.0.0.1", 1884)
    assert parse_broker("broker.lab") == BrokerAddress("broker.lab", 1883)
    tls = parse_broker("mqtts://alice:s%40cret@broker.lab")
    assert (tls.host, tls.port, tls.tls) == ("broker.lab", 8883, True)
    assert (tls.username, tls.password) == ("alice", "s@cret")
    assert tls.url == "mqtts://alice@broker.lab:8883"  # never the password


def test_broker_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERANDO_MQTT_PASSWORD", "from-env")
    assert parse_broker("mqtt://engine@10.0.0.5").password == "from-env"


@pytest.mark.parametrize(("text", "message"), [
    ("ftp://x", "scheme must be mqtt"), ("mqtt://", "no host"), ("mqtt://h:99999", "out of range"),
    ("mqtt://h/topic", "not a path")])
def test_bad_broker_urls_name_the_value(text: str, message: str) -> None:
    with pytest.raises(TelemetryConfigError, match=message) as raised:
        parse_broker(text)
    assert repr(text) in str(raised.value)


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.3.4.5") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("192.0.2.10") and not is_loopback("10.1.2.3")


def test_remote_commands_need_users_and_a_broker_login(tmp_path: Path) -> None:
    users = tmp_path / "users.passwd"
    remote = BrokerAddress("192.0.2.10", 1883)  # TEST-NET-1: never contacted, only judged
    with pytest.raises(TelemetryConfigError, match="--command-users"):
        TelemetrySettings(remote, "lab").checked()
    with pytest.raises(TelemetryConfigError, match="must log in"):
        TelemetrySettings(remote, "lab", command_users=users).checked()
    with pytest.raises(TelemetryConfigError, match="only allowed with a broker on loopback"):
        TelemetrySettings(remote, "lab", command_auth="off").checked()
    logged_in = BrokerAddress("192.0.2.10", 8883, "engine", "pw", tls=True)
    assert TelemetrySettings(logged_in, "lab", command_users=users).checked().auth_required
    assert not TelemetrySettings(remote, "lab", commands=False).checked().auth_required  # publish-only
    local = TelemetrySettings(BrokerAddress("127.0.0.1", 1883), "lab").checked()
    assert not local.auth_required and not TelemetrySettings("embedded", "lab").checked().auth_required
    with pytest.raises(TelemetryConfigError, match="--command-users"):
        TelemetrySettings("embedded", "lab", command_auth="required").checked()


def _pbkdf2_line(user: str, password: str, salt: bytes, iterations: int) -> str:
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"{user}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n"


def test_password_file_in_mosquitto_format(tmp_path: Path) -> None:
    path = tmp_path / "users"
    sha512_line = "bob:$6$" + base64.b64encode(b"salt").decode() + "$" + \
        base64.b64encode(hashlib.sha512(b"hunter2" + b"salt").digest()).decode() + "\n"
    path.write_text("# operators\n" + _pbkdf2_line("alice", "s3cret", b"0123456789ab", 101) + sha512_line)
    users = PasswordFile(path)
    assert users.users == ("alice", "bob")
    assert users.check("alice", "s3cret") and users.check("bob", "hunter2")
    assert not users.check("alice", "S3cret") and not users.check("bob", "s3cret")
    assert not users.check("carol", "s3cret")


@pytest.mark.skipif(MOSQUITTO_PASSWD is None,
                    reason="mosquitto_passwd not installed (apt-get install mosquitto)")
def test_password_file_written_by_mosquitto_passwd(tmp_path: Path) -> None:
    path = tmp_path / "users"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(path), "alice", "wonderland"], check=True)
    users = PasswordFile(path)
    assert users.check("alice", "wonderland") and not users.check("alice", "Wonderland")


@pytest.mark.parametrize(("text", "message"), [
    ("", "names no user"), ("alice:plaintext\n", "line 1: expected 'user:\\$7\\$"),
    ("alice:$7$101$!!!$???\n", "damaged")])
def test_bad_password_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users"
    path.write_text(text)
    with pytest.raises(PasswordFileError, match=message):
        PasswordFile(path)
    with pytest.raises(PasswordFileError, match="cannot be read"):
        PasswordFile(tmp_path / "missing")
