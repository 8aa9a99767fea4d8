"""Remote commands: an allow-list, each validated, authenticated when required, obeyed on the engine's loop,
answered on the replies topic with the request id, and written to the event log with who sent it.

A command is a JSON object on ``operando/<rig>/commands/<name>``: ``id`` (echoed in the reply), ``user``
(who sends it), ``password`` (only when authentication is required) and the command's own fields.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from operando.telemetry.passwords import PasswordFile
from operando.telemetry.payloads import json_value
from operando.telemetry.topics import COMMANDS

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # characters of a note or reason
MAX_NAME = 64  # characters of an id or a user name
MAX_REMEMBERED = 256  # (author, id) pairs whose reply is kept for a second delivery
MAX_LOGGED_REFUSALS = 100  # refused commands written to the record; past that only counted (no flooding)
FIELDS = {  # command -> {field: required}
    "pause": {"reason": False},
    "resume": {},
    "abort": {"reason": False},
    "acquire-now": {"region": False},
    "note": {"text": True},
}
COMMON = ("id", "user", "password")
assert set(FIELDS) == set(COMMANDS)


class CommandRefused(ValueError):
    """A command that is not obeyed; the message says why, naming the field and value."""

    request: str | None = None  # the command's id, when it was read before the refusal


@dataclass(frozen=True)
class Command:
    name: str
    id: str | None
    user: str
    fields: dict[str, Any]


def _text(command: str, field: str, value: Any, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise CommandRefused(f"{command}: {field} must be text, got {json.dumps(value)[:40]}")
    if len(value) > limit:
        raise CommandRefused(f"{command}: {field} is {len(value)} characters long; at most {limit}")
    if not empty and not value.strip():
        raise CommandRefused(f"{command}: {field} is empty")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise CommandRefused(f"{command}: {field} holds control characters")
    return value


def parse(name: str, payload: bytes, *, retained: bool = False) -> Command:
    """Validate one command message; raises CommandRefused naming what was wrong (with the id when known)."""
    if name not in FIELDS:
        raise CommandRefused(f"unknown command {name!r}; allowed: {', '.join(COMMANDS)}")
    try:
        body = json.loads(payload.decode("utf-8")) if payload.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CommandRefused(f"{name}: the message is not JSON ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise CommandRefused(f"{name}: the message must be a JSON object, got {type(body).__name__}")
    request = body.get("id")
    if request is not None:
        request = _text(name, "id", str(request) if isinstance(request, int) else request, MAX_NAME)
    try:
        return _checked(name, body, request, retained)
    except CommandRefused as refused:
        refused.request = request
        raise


def _checked(name: str, body: dict[str, Any], request: str | None, retained: bool) -> Command:
    if retained:
        raise CommandRefused(f"{name}: retained command ignored (it would be obeyed again on every "
                             f"reconnect); publish commands without the retain flag")
    allowed = FIELDS[name]
    unknown = sorted(set(body) - set(allowed) - set(COMMON))
    if unknown:
        known = ", ".join((*COMMON, *allowed))
        raise CommandRefused(f"{name}: unknown field(s) {', '.join(unknown)}; known: {known}")
    user = _text(name, "user", body.get("user", "anonymous"), MAX_NAME)
    fields: dict[str, Any] = {}
    for field, required in allowed.items():
        if field not in body or body[field] is None:
            if required:
                raise CommandRefused(f"{name}: {field} is required")
            continue
        fields[field] = _text(name, field, body[field], MAX_NAME if field == "region" else MAX_TEXT)
    if "password" in body and not isinstance(body["password"], str):
        raise CommandRefused(f"{name}: password must be text")
    return Command(name, request, user, {**fields, "password": body.get("password")})


def _fingerprint(command: Command) -> tuple[Any, ...]:
    """What a command asks for (its name and fields, never the password): the same id must ask the same."""
    return (command.name, tuple(sorted((k, v) for k, v in command.fields.items() if k != "password")))


class CommandHandler:
    """Obeys commands on the experiment; ``users`` (a password file) makes each command prove its sender."""

    def __init__(self, experiment: Any, *, users: PasswordFile | None = None, require_auth: bool = False,
                 via: str = "MQTT") -> None:
        if require_auth and users is None:
            raise ValueError("command authentication required but no users file given")
        self.experiment = experiment
        self.users = users
        self.require_auth = require_auth
        self.via = via
        self.refused = 0
        # (author, id) -> (what was asked, its reply when known): QoS 1 may deliver twice
        self._answered: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], asyncio.Future[dict[str, Any]]]] = \
            OrderedDict()

    async def handle(self, name: str, payload: bytes, retained: bool = False) -> dict[str, Any]:
        """The reply to one command message (never raises).

        Replies are remembered per (authenticated author, id), and only once the sender is authenticated: a
        refused stranger cannot make a later genuine command with the same id look like a duplicate, and an
        id its author already used for another command is refused rather than answered with the old reply.
        """
        request: str | None = None
        user = "anonymous"
        reserved: tuple[str, str] | None = None  # this message's (author, id), once it is to be obeyed
        pending: asyncio.Future[dict[str, Any]] | None = None  # its reply, for a second delivery meanwhile
        obeyed = False
        try:
            try:
                command = parse(name, payload, retained=retained)
            except CommandRefused as refused:
                request = refused.request
                raise
            request, user = command.id, command.user
            self._authenticate(command)
            if request is not None:
                known = self._answered.get((command.user, request))
                if known is not None:
                    return await self._again(command, *known)  # or raises CommandRefused
                reserved = (command.user, request)  # before any await: a second delivery now waits for this
                pending = asyncio.get_running_loop().create_future()
                self._answered[reserved] = (_fingerprint(command), pending)
                while len(self._answered) > MAX_REMEMBERED:
                    self._answered.popitem(last=False)
            if self._final():
                raise CommandRefused(f"{name}: the experiment has ended ({self._state()})")
            detail = await self._obey(command)
            obeyed = True
        except CommandRefused as refused:
            reply = self._reply(name, request, False, str(refused))
            await self._log_refusal(name, user, str(refused))
        except ValueError as invalid:  # the engine's own refusal, e.g. resume when not paused
            obeyed = True  # asked of the engine: a second delivery gets this answer, not a second try
            reply = self._reply(name, request, False, f"{name}: {invalid}")
            await self._log_refusal(name, user, str(invalid))
        except Exception as exc:  # noqa: BLE001 - a command must never break the engine
            log.exception("command %s from %s failed", name, user)
            reply = self._reply(name, request, False, f"{name}: failed: {type(exc).__name__}: {exc}")
        else:
            reply = self._reply(name, request, True, detail)
        if pending is not None:
            pending.set_result(reply)
            if not obeyed and reserved in self._answered:  # refused before it was obeyed: a corrected
                del self._answered[reserved]                # command may use the same id
        return reply

    async def _again(self, command: Command, fingerprint: tuple[Any, ...],
                     reply: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
        """The reply to an id its author already used: the same reply for the same command (QoS 1 may deliver
        twice, even while the first is being obeyed); a different command under that id is refused."""
        if fingerprint == _fingerprint(command):
            return await asyncio.shield(reply)
        other = "with other fields" if fingerprint[0] == command.name else f"for {fingerprint[0]}"
        raise CommandRefused(f"{command.name}: id {command.id!r} was already used by {command.user} {other}; "
                             f"give every command a new id")

    def _authenticate(self, command: Command) -> None:
        password = command.fields.pop("password", None)
        if not self.require_auth:
            return
        if password is None or command.user == "anonymous":
            raise CommandRefused(f"{command.name}: not authenticated: this engine requires user and password "
                                 f"with every command")
        assert self.users is not None
        if not self.users.check(command.user, password):
            raise CommandRefused(f"{command.name}: not authenticated: wrong user or password for "
                                 f"{command.user!r}")

    async def _obey(self, command: Command) -> str:
        experiment, fields, author = self.experiment, command.fields, command.user
        if command.name == "note":
            try:
                await experiment.note(fields["text"], author)
            except RuntimeError:  # the bus closed: the run ended while the note was on its way
                raise CommandRefused(f"note: the experiment has ended ({self._state()})") from None
            return "noted"
        control = {"pause": "request_pause", "resume": "request_resume", "abort": "request_abort",
                   "acquire-now": "request_acquisition"}[command.name]
        method = getattr(experiment, control, None)
        if method is None:
            raise CommandRefused(f"{command.name}: this engine cannot {command.name}")
        if command.name == "pause":
            method(reason=fields.get("reason", f"paused by {author}"), author=author)
        elif command.name == "resume":
            method(author=author)
        elif command.name == "abort":
            method(reason=f"{fields.get('reason', 'aborted')} (by {author} over {self.via})")
        else:
            method(region=fields.get("region"), author=author)
        what = f"remote command {command.name} from {author} accepted"
        if fields.get("reason") or fields.get("region"):
            what += f" ({fields.get('region') or fields.get('reason')})"
        await self._note(what, author)
        return "accepted"

    async def _log_refusal(self, name: str, user: str, why: str) -> None:
        self.refused += 1
        if self.refused <= MAX_LOGGED_REFUSALS:  # the sender's name is only a claim here: operando writes it
            await self._note(f"remote command {name} from {user!r} refused: {why}", "operando")
        elif self.refused == MAX_LOGGED_REFUSALS + 1:
            await self._note(f"more than {MAX_LOGGED_REFUSALS} commands refused; further ones are not "
                             f"logged", "operando")

    async def _note(self, text: str, author: str) -> None:
        if self._final():
            return
        try:
            await self.experiment.note(text, author)
        except RuntimeError:  # the bus closed between the check and the note: the run just ended
            log.info("%s (not recorded: the experiment has ended)", text)

    def _state(self) -> str:
        return str(json_value(getattr(self.experiment, "state", "")))

    def _final(self) -> bool:
        return bool(getattr(getattr(self.experiment, "state", None), "final", False))

    def _reply(self, name: str, request: str | None, ok: bool, detail: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"id": request, "command": name, "ok": ok, "state": self._state()}
        timeline = getattr(self.experiment, "timeline", None)
        reply["t"] = json_value(timeline.now()) if timeline is not None else None
        reply["detail" if ok else "error"] = detail
        return reply
