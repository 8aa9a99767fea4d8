"""Commands: validation naming the field, authentication, the allow-list, duplicates, and the record.

The experiment here is a recorder of the calls the contract names (request_pause, ...); the real engine
takes the same commands in test_end_to_end.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import pytest

from operando.engine.events import ExperimentState
from operando.telemetry.commands import MAX_LOGGED_REFUSALS, CommandHandler, CommandRefused, parse
from operando.telemetry.passwords import PasswordFile
from tests.telemetry.schemas import validate


class Clock:
    def now(self) -> float:
        return 42.0


class Recorder:
    """Keeps the calls; refuses what the engine refuses (resume when not paused, unknown region)."""

    def __init__(self) -> None:
        self.state = ExperimentState.RUNNING
        self.timeline = Clock()
        self.calls: list[tuple] = []
        self.notes: list[tuple[str, str]] = []

    def request_pause(self, reason: str = "", author: str = "") -> None:
        self.calls.append(("pause", reason, author))

    def request_resume(self, author: str = "") -> None:
        raise ValueError("cannot resume: the experiment is running, not paused")

    def request_abort(self, reason: str = "aborted by the user") -> None:
        self.calls.append(("abort", reason))

    def request_acquisition(self, region: str | None = None, author: str = "") -> None:
        if region not in (None, "wide"):
            raise ValueError(f"unknown region {region!r}; regions: wide")
        self.calls.append(("acquire", region, author))

    async def note(self, text: str, author: str = "researcher") -> None:
        self.notes.append((text, author))


def handle(handler: CommandHandler, name: str, body: dict | str, retained: bool = False) -> dict:
    payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    reply = asyncio.run(handler.handle(name, payload, retained))
    validate("reply", reply)
    return reply


def test_the_allowed_commands_reach_the_experiment_with_their_sender() -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment)
    assert handle(handler, "pause", {"id": "1", "user": "alice", "reason": "dewar"})["ok"]
    assert handle(handler, "acquire-now", {"id": "2", "user": "bob", "region": "wide"})["ok"]
    assert handle(handler, "acquire-now", {"id": "3", "user": "bob"})["ok"]
    reply = handle(handler, "abort", {"id": "4", "user": "carol", "reason": "cell shorted"})
    assert reply == {"id": "4", "command": "abort", "ok": True, "state": "running", "t": 42.0,
                     "detail": "accepted"}
    assert experiment.calls == [("pause", "dewar", "alice"), ("acquire", "wide", "bob"),
                                ("acquire", None, "bob"), ("abort", "cell shorted (by carol over MQTT)")]
    reply = handle(handler, "note", {"id": "5", "user": "dave", "text": "charging looks slow"})
    assert reply["detail"] == "noted"
    assert ("charging looks slow", "dave") in experiment.notes
    accepted = [note for note in experiment.notes if note[0].startswith("remote command")]
    assert accepted[0] == ("remote command pause from alice accepted (dewar)", "alice")
    assert len(accepted) == 4  # pause, 2 x acquire, abort: each written with who sent it


@pytest.mark.parametrize(("name", "body", "error"), [
    ("reboot", {}, "unknown command 'reboot'; allowed: pause, resume, abort, acquire-now, note"),
    ("pause", "{not json", "pause: the message is not JSON"),
    ("pause", "[1, 2]", "pause: the message must be a JSON object, got list"),
    ("pause", {"reason": "x", "force": True},
     "pause: unknown field(s) force; known: id, user, password, reason"),
    ("note", {"user": "alice"}, "note: text is required"),
    ("note", {"text": "   "}, "note: text is empty"),
    ("note", {"text": 5}, "note: text must be text, got 5"),
    ("note", {"text": "x" * 2001}, "note: text is 2001 characters long; at most 2000"),
    ("note", {"text": "bell\x07"}, "note: text holds control characters"),
    ("acquire-now", {"region": "nowhere"}, "acquire-now: unknown region 'nowhere'; regions: wide"),
    ("resume", {}, "resume: cannot resume: the experiment is running, not paused"),
])
def test_bad_commands_are_refused_naming_what_was_wrong(name: str, body, error: str) -> None:  # noqa: ANN001
    experiment = Recorder()
    reply = handle(CommandHandler(experiment), name, body)
    assert reply["ok"] is False
    assert reply["error"].startswith(error)
    assert experiment.calls == []
    assert experiment.notes[-1][1] == "operando" and "refused" in experiment.notes[-1][0]


def test_retained_commands_are_never_obeyed() -> None:
    experiment = Recorder()
    reply = handle(CommandHandler(experiment), "abort", {"id": "r"}, retained=True)
    assert not reply["ok"] and "retained command ignored" in reply["error"]
    assert reply["id"] == "r"  # the sender learns which of its commands was refused
    assert experiment.calls == []


def test_a_command_delivered_twice_is_obeyed_once() -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment)
    first = handle(handler, "pause", {"id": "same", "user": "alice"})
    second = handle(handler, "pause", {"id": "same", "user": "alice"})
    assert first == second and len(experiment.calls) == 1


def test_an_id_reused_for_another_command_is_refused_not_answered_with_the_old_reply() -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment)
    assert handle(handler, "pause", {"id": "x", "user": "alice", "reason": "dewar"})["ok"]
    other = handle(handler, "abort", {"id": "x", "user": "alice"})
    assert other["command"] == "abort" and not other["ok"]
    assert other["error"] == "abort: id 'x' was already used by alice for pause; give every command a new id"
    changed = handle(handler, "pause", {"id": "x", "user": "alice", "reason": "other"})
    assert changed["error"] == "pause: id 'x' was already used by alice with other fields; give every command " \
                               "a new id"
    assert experiment.calls == [("pause", "dewar", "alice")]
    assert any("remote command abort from 'alice' refused: abort: id 'x' was already used" in text
               for text, _ in experiment.notes)
    # the same id from someone else is their own command
    assert handle(handler, "abort", {"id": "x", "user": "bob"})["ok"]
    assert experiment.calls[-1] == ("abort", "aborted (by bob over MQTT)")


def test_a_second_delivery_while_the_first_is_being_obeyed_waits_for_its_reply() -> None:
    class Slow(Recorder):
        async def note(self, text: str, author: str = "researcher") -> None:
            for _ in range(5):  # the record takes a while: the duplicate arrives meanwhile
                await asyncio.sleep(0)
            await super().note(text, author)

    async def twice() -> list[dict]:
        handler = CommandHandler(experiment)
        payload = json.dumps({"id": "p", "user": "alice"}).encode()
        return list(await asyncio.gather(handler.handle("pause", payload), handler.handle("pause", payload)))

    experiment = Slow()
    first, second = asyncio.run(twice())
    assert first == second and first["ok"]
    assert experiment.calls == [("pause", "paused by alice", "alice")]


def _users(tmp_path: Path) -> PasswordFile:
    salt = b"fixedsalt123"
    digest = hashlib.pbkdf2_hmac("sha512", b"wonderland", salt, 101, 64)
    path = tmp_path / "users"
    path.write_text(f"alice:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}\n")
    return PasswordFile(path)


def test_with_authentication_only_listed_users_with_their_password_are_obeyed(tmp_path: Path) -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment, users=_users(tmp_path), require_auth=True)
    refused = [handle(handler, "pause", {"id": "a"}),
               handle(handler, "pause", {"id": "b", "user": "alice"}),
               handle(handler, "pause", {"id": "c", "user": "alice", "password": "Wonderland"}),
               handle(handler, "pause", {"id": "d", "user": "mallory", "password": "wonderland"})]
    assert [reply["ok"] for reply in refused] == [False] * 4
    assert all("not authenticated" in reply["error"] for reply in refused)
    assert experiment.calls == []
    assert handle(handler, "pause", {"id": "e", "user": "alice", "password": "wonderland"})["ok"]
    assert experiment.calls == [("pause", "paused by alice", "alice")]
    logged = "\n".join(text for text, _ in experiment.notes)
    assert "remote command pause from 'mallory' refused: pause: not authenticated" in logged
    assert "wonderland" not in logged  # a password never reaches the record


def test_a_refused_stranger_cannot_shadow_an_authenticated_command_with_the_same_id(tmp_path: Path) -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment, users=_users(tmp_path), require_auth=True)
    assert "not authenticated" in handle(handler, "abort", {"id": "a1"})["error"]
    assert "not authenticated" in handle(handler, "abort", {"id": "a1", "user": "alice", "password": "x"})["error"]
    reply = handle(handler, "abort", {"id": "a1", "user": "alice", "password": "wonderland"})
    assert reply["ok"] and experiment.calls == [("abort", "aborted (by alice over MQTT)")]
    # a stranger claiming alice's name with her id gets no cached answer: refused as unauthenticated
    assert "not authenticated" in handle(handler, "abort", {"id": "a1", "user": "alice"})["error"]
    again = handle(handler, "abort", {"id": "a1", "user": "alice", "password": "wonderland"})
    assert again == reply and len(experiment.calls) == 1  # a second delivery is answered, not obeyed


def test_refusals_written_to_the_record_are_capped() -> None:
    experiment = Recorder()
    handler = CommandHandler(experiment)
    for index in range(MAX_LOGGED_REFUSALS + 20):
        handle(handler, "fly", {"id": str(index)})
    refusals = [text for text, _ in experiment.notes if "refused" in text]
    assert len(refusals) == MAX_LOGGED_REFUSALS + 1  # the last one says that further ones are not logged
    assert handler.refused == MAX_LOGGED_REFUSALS + 20


def test_after_the_end_commands_are_refused_and_not_written() -> None:
    experiment = Recorder()
    experiment.state = ExperimentState.COMPLETED
    reply = handle(CommandHandler(experiment), "pause", {"id": "late"})
    assert reply["error"] == "pause: the experiment has ended (completed)"
    assert experiment.notes == [] and experiment.calls == []


def test_parse_keeps_integer_ids_as_text() -> None:
    assert parse("resume", b'{"id": 7}').id == "7"
    with pytest.raises(CommandRefused, match="id is 65 characters"):
        parse("resume", json.dumps({"id": "x" * 65}).encode())
