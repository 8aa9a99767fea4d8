"""The base of every protocol model: strict fields, and errors in a researcher's terms when built in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from operando.cells import Cell
from operando.errors import ProtocolError
from operando.protocol.schema.errors import problems_from_validation


class Model(BaseModel):
    """Strict: unknown fields are refused (a typo must not silently drop a stop condition).

    Built from Python, an invalid value raises :class:`ProtocolError` naming the field, as a TOML file does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ProtocolError(problems_from_validation(exc, known_fields=field_names())) from None


def field_names() -> set[str]:
    """Every field a protocol may have (the cell's and every model's), to suggest one for a typo."""
    names: set[str] = set(Cell.model_fields)
    models: list[type[BaseModel]] = [Model]
    while models:
        model = models.pop()
        names.update(model.model_fields)
        models.extend(model.__subclasses__())
    return names
