"""A real mosquitto for tests, on a free loopback port, optionally with users; plain paho subscribers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

_SBIN = Path("/usr/sbin/mosquitto")  # root's PATH has it, a user's may not
MOSQUITTO = shutil.which("mosquitto") or (str(_SBIN) if _SBIN.exists() else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, what: str, step: float = 0.02) -> Any:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Mosquitto:
    """mosquitto on 127.0.0.1:``port``; ``users`` {name: password} turns anonymous access off."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, port: int | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.users = users or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.config = folder / f"mosquitto-{self.port}.conf"
        self.log = folder / f"mosquitto-{self.port}.log"
        self.errors = folder / f"mosquitto-{self.port}.err"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"log_dest file {self.log}",
                 "log_type all"]
        if tls is not None:  # (CA certificate, server certificate, server key)
            lines += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
        if os.geteuid() == 0:  # else mosquitto drops to user 'mosquitto', who cannot read the test's folder
            lines.append("user root")
        if self.users:
            passwords = folder / "broker.passwd"
            passwords.write_text("".join(f"{user}:{password}\n" for user, password in self.users.items()))
            subprocess.run([MOSQUITTO_PASSWD, "-U", str(passwords)], check=True)  # hashes in place
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines += ["allow_anonymous true"]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        with open(self.errors, "ab") as errors:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                            stderr=errors)
        wait_until(self._listening, 10, f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {self.errors.read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Listener:
    """A plain paho client (the library under aiomqtt, used directly) that records every message."""

    port: int
    topic: str = "operando/#"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    messages: list[Received] = field(default_factory=list)
    connect_result: Any = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        if self.ca_file is not None:
            self.client.tls_set(ca_certs=str(self.ca_file))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:  # noqa: ANN001
        self.connect_result = reason
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)
        self._connected.set()

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain),
                                          time.monotonic()))

    def start(self, wait: bool = True) -> Listener:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        if wait:
            assert self._connected.wait(10), "paho listener did not connect"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, suffix: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def publish(self, topic: str, body: dict[str, Any] | str, retain: bool = False) -> None:
        payload = body if isinstance(body, str) else json.dumps(body)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def reply(self, request: str, timeout: float = 10) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for message in self.on("/replies"):
                body = message.json()
                if body.get("id") == request:
                    return body
            return None
        return wait_until(found, timeout, f"the reply to {request}")

    def last_state(self) -> dict[str, Any] | None:
        states = self.on("/state")
        return states[-1].json() if states else None
