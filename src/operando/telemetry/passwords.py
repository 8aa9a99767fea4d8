"""Check a command sender's password against a mosquitto password file, so one user list serves both.

mosquitto_passwd writes ``user:$7$<iterations>$<salt b64>$<hash b64>`` (PBKDF2-SHA512) or, before 2.0,
``user:$6$<salt b64>$<hash b64>`` (SHA-512 of password + salt). Plain-text lines are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path

from operando.errors import OperandoError


class PasswordFileError(OperandoError, ValueError):
    """The command users file is missing or has a line that is not a mosquitto password hash."""


def _verify(encoded: str, password: str) -> bool:
    parts = encoded.split("$")
    if len(parts) == 5 and parts[1] == "7":
        iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
        computed = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    elif len(parts) == 4 and parts[1] == "6":
        salt, digest = base64.b64decode(parts[2]), base64.b64decode(parts[3])
        computed = hashlib.sha512(password.encode() + salt).digest()
    else:
        return False
    return hmac.compare_digest(computed, digest)


class PasswordFile:
    """Users and password hashes read once from ``path`` (made with ``mosquitto_passwd``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise PasswordFileError(f"command users file {self.path}: cannot be read "
                                    f"({exc.strerror})") from None
        except UnicodeDecodeError:
            raise PasswordFileError(f"command users file {self.path}: not a text file; make it with "
                                    f"mosquitto_passwd") from None
        self._hashes: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, encoded = line.partition(":")
            if not sep or not user or not encoded.startswith(("$7$", "$6$")):
                raise PasswordFileError(f"command users file {self.path} line {number}: expected "
                                        f"'user:$7$...' as written by mosquitto_passwd, got {line[:20]!r}...")
            try:
                _verify(encoded, "")  # proves the fields decode
            except (ValueError, binascii.Error):
                raise PasswordFileError(f"command users file {self.path} line {number}: the hash of user "
                                        f"{user!r} is damaged") from None
            self._hashes[user] = encoded
        if not self._hashes:
            raise PasswordFileError(f"command users file {self.path} names no user; add one with "
                                    f"mosquitto_passwd {self.path} USER")

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(self._hashes)

    def check(self, user: str, password: str) -> bool:
        """True when ``user`` is listed and ``password`` is theirs."""
        encoded = self._hashes.get(user)
        return encoded is not None and _verify(encoded, password)
