"""Read a protocol from a TOML file or text (tomllib); every error names the file, the field and the line."""

from __future__ import annotations

import os
import re
import tomllib

from operando.errors import ProtocolError
from operando.protocol.schema.model import Protocol

MAX_CHARACTERS = 10_000_000  # a protocol with its imaging plan is a few thousand


def loads_protocol(text: str, *, source_path: str | None = None) -> Protocol:
    """Parse and validate TOML text. Raises ProtocolError (malformed TOML carries its line and column)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark some Windows editors write first
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"line (\d+)", str(exc))
        line = f" on TOML line {where[1]}" if where else ""
        raise ProtocolError([("toml", f"malformed TOML{line}: {exc}", None)], source_path) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ProtocolError([("toml", "malformed TOML: arrays or tables nested too deeply", None)],
                            source_path) from None
    return Protocol.from_dict(data, source_text=text, source_path=source_path)


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read and validate the protocol file at ``path``."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as handle:  # -sig: a leading byte-order mark is not TOML
            text = handle.read(MAX_CHARACTERS + 1)  # bounded: a device or a huge file is not a protocol
    except FileNotFoundError:
        raise ProtocolError([("file", "no such protocol file", name)], name) from None
    except UnicodeDecodeError as exc:
        raise ProtocolError([("file", f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}): "
                                      f"a protocol is a TOML text file", name)], name) from None
    except OSError as exc:
        raise ProtocolError([("file", f"cannot read it: {exc}", name)], name) from None
    if len(text) > MAX_CHARACTERS:
        raise ProtocolError([("file", f"longer than {MAX_CHARACTERS // 1_000_000} million characters: not a "
                                      f"protocol", name)], name)
    return loads_protocol(text, source_path=name)
