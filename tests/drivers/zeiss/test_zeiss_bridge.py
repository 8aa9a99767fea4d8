"""The SmartSEM bridge: framing, token, allow-list, vendor codes unchanged, serialisation, dropped links."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest
from operando.drivers.zeiss.bridge_client import BridgeClientSeam, BridgeRefused

from operando.errors import InstrumentConnectionLost
from tests.drivers.zeiss.helpers import TOKEN, RecordingSeam, running_bridge


def _raw_session(port: int, token: str = TOKEN) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    stream = sock.makefile("rb")
    sock.sendall(json.dumps({"token": token}).encode() + b"\n")
    return sock, stream


def test_calls_and_vendor_codes_pass_through_unchanged(recording_seam: RecordingSeam) -> None:
    with running_bridge(lambda: recording_seam) as server:
        client = BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5)
        assert client.InitialiseRemoting() == 0
        assert client.Get("AP_MANUALKV") == (0, 2000.0)
        assert client.Get("AP_MANUALKV", True) == (0, "2.00 kV")
        assert client.Get("AP_UNKNOWN") == (1000, 0.0)  # SmartSEM's code, not an exception
        assert client.Set("AP_MANUALKV", 40e3) == 1008
        assert client.Set("DP_FREEZE_ON", "End Frame") == 0
        assert client.GetLimits("AP_MANUALKV") == (0, 200.0, 30000.0)
        assert client.GetStagePosition() == (0, 0.0612, 0.0453, 0.0351, 54.0, 0.0, 0.0)
        assert client.MoveStage(0.06, 0.045, 0.035, 54.0, 0.0, 0.0) == 0
        assert client.Execute("CMD_FREEZE_ALL") == 0
        client.close()
    assert recording_seam.calls == [
        ("InitialiseRemoting",), ("Get", "AP_MANUALKV", False), ("Get", "AP_MANUALKV", True),
        ("Get", "AP_UNKNOWN", False), ("Set", "AP_MANUALKV", 40000.0), ("Set", "DP_FREEZE_ON", "End Frame"),
        ("GetLimits", "AP_MANUALKV"), ("GetStagePosition",),
        ("MoveStage", 0.06, 0.045, 0.035, 54.0, 0.0, 0.0),
        ("Execute", "CMD_FREEZE_ALL")]


def test_grab_payload_arrives_byte_for_byte_in_the_clients_file(tmp_path) -> None:
    payload = bytes(range(256)) * 4099  # not a multiple of any buffer size, every byte value
    seam = RecordingSeam(grab_bytes=payload)
    with running_bridge(lambda: seam) as server:
        client = BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5)
        target = tmp_path / "frame.tif"
        assert client.Grab(0, 0, 1024, 768, 0, str(target)) == 0
        assert target.read_bytes() == payload
        assert client.Get("AP_WD") == (0, 2000.0)  # the stream is still in step after the payload
        client.close()
    name, *rectangle, server_path = seam.calls[0]
    assert (name, rectangle) == ("Grab", [0, 0, 1024, 768, 0])
    assert server_path != str(target)  # the bridge never writes where a client says


def test_wrong_token_is_refused_logged_and_nothing_reaches_the_seam(recording_seam, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="operando.drivers.zeiss.bridge_server")
    with running_bridge(lambda: recording_seam) as server:
        client = BridgeClientSeam("127.0.0.1", server.port, "not the token", timeout=5)
        with pytest.raises(BridgeRefused, match="refused"):
            client.Get("AP_MANUALKV")
        sock, stream = _raw_session(server.port, token="wrong")
        assert json.loads(stream.readline())["ok"] is False
        assert stream.readline() == b""  # and the connection is closed
        sock.close()
    assert recording_seam.calls == []
    assert any("wrong token" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("request_", [
    {"id": 1, "method": "__class__", "args": []},
    {"id": 2, "method": "block", "args": []},
    {"id": 3, "method": "Execute", "args": ["MCF_C:/anything.mac"]},
    {"id": 4, "method": "Get", "args": ["AP_WD; drop", False]},
    {"id": 5, "method": "MoveStage", "args": [0, 0, 0, 0, 0]},
    {"id": 6, "method": "Set", "args": ["AP_WD", None]},
    {"id": 7, "method": "Grab", "args": [0, 0, 1024, 768, 0, "C:/Windows/evil.exe"]},
])
def test_requests_outside_the_allow_list_are_refused(recording_seam, request_) -> None:
    with running_bridge(lambda: recording_seam) as server:
        sock, stream = _raw_session(server.port)
        assert json.loads(stream.readline())["ok"] is True
        sock.sendall(json.dumps(request_).encode() + b"\n")
        reply = json.loads(stream.readline())
        assert reply["id"] == request_["id"] and "code" not in reply and "bad request" in reply["error"]
        sock.sendall(json.dumps({"id": 9, "method": "Get", "args": ["AP_WD", False]}).encode() + b"\n")
        assert json.loads(stream.readline()) == {"id": 9, "code": 0, "result": [2000.0]}
        sock.close()
    assert recording_seam.calls == [("Get", "AP_WD", False)]


def test_bridge_survives_a_client_vanishing_mid_call(recording_seam) -> None:
    recording_seam.block = threading.Event()
    with running_bridge(lambda: recording_seam) as server:
        sock, stream = _raw_session(server.port)
        assert json.loads(stream.readline())["ok"] is True
        sock.sendall(json.dumps({"id": 1, "method": "Get", "args": ["AP_WD", False]}).encode() + b"\n")
        time.sleep(0.2)
        sock.close()  # gone while SmartSEM is still working on its call
        recording_seam.block.set()
        recording_seam.block = None
        client = BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5)
        assert client.Get("AP_MANUALKV") == (0, 2000.0)
        client.close()
        assert server.calls == 2


def test_calls_from_two_clients_are_served_one_at_a_time(recording_seam) -> None:
    inside = []
    overlaps = []

    def get(name: str, as_string: bool = False):
        inside.append(name)
        if len(inside) > 1:
            overlaps.append(tuple(inside))
        time.sleep(0.01)
        inside.remove(name)
        return 0, 1.0

    recording_seam.Get = get
    with running_bridge(lambda: recording_seam) as server:
        clients = [BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5) for _ in range(2)]
        threads = [threading.Thread(target=lambda c=c: [c.Get("AP_WD") for _ in range(10)]) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        for client in clients:
            client.close()
        assert server.calls == 20
    assert overlaps == []


def test_dropped_link_is_a_clear_error_and_the_next_call_reconnects(recording_seam) -> None:
    with running_bridge(lambda: recording_seam) as server:
        port = server.port
        client = BridgeClientSeam("127.0.0.1", port, TOKEN, timeout=5, connect_timeout=1)
        assert client.Get("AP_WD")[0] == 0
    with pytest.raises(InstrumentConnectionLost, match=rf"127.0.0.1:{port} lost during Get\('AP_WD'"):
        client.Get("AP_WD")
    with pytest.raises(InstrumentConnectionLost, match="cannot connect"):
        client.Get("AP_WD")


def test_a_reply_that_never_comes_times_out_as_connection_lost(recording_seam) -> None:
    recording_seam.block = threading.Event()
    with running_bridge(lambda: recording_seam) as server:
        client = BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(InstrumentConnectionLost, match="no reply"):
            client.Get("AP_WD")
        assert time.monotonic() - started < 3
        recording_seam.block.set()
        recording_seam.block = None
        assert client.Get("AP_MANUALKV") == (0, 2000.0)  # reconnected; the bridge finished the slow call
        client.close()


@pytest.mark.parametrize("before_token", [False, True])
def test_a_deeply_nested_line_is_refused_and_the_bridge_lives(recording_seam, before_token) -> None:
    deep = b"[" * 60000 + b"\n"  # 60000 levels in 60 kB: under the line limit, over Python's stack
    with running_bridge(lambda: recording_seam) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        stream = sock.makefile("rb")
        if before_token:  # as the hello: refused like a wrong token, connection closed
            sock.sendall(deep)
            assert "wrong or missing token" in json.loads(stream.readline())["error"]
            assert stream.readline() == b""
        else:  # as a request: a bad-request reply, the session goes on
            sock.sendall(json.dumps({"token": TOKEN}).encode() + b"\n")
            assert json.loads(stream.readline())["ok"] is True
            sock.sendall(deep)
            reply = json.loads(stream.readline())
            assert reply["id"] is None and "bad request" in reply["error"] and "nested" in reply["error"]
            sock.sendall(json.dumps({"id": 2, "method": "Get", "args": ["AP_WD", False]}).encode() + b"\n")
            assert json.loads(stream.readline()) == {"id": 2, "code": 0, "result": [2000.0]}
        sock.close()
        client = BridgeClientSeam("127.0.0.1", server.port, TOKEN, timeout=5)  # the server is alive
        assert client.Get("AP_MANUALKV") == (0, 2000.0)
        client.close()
