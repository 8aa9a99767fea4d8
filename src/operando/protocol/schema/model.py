"""The protocol: cell, safety limits and steps, validated as one pydantic model (TOML and Python share it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError

from operando.cells import Cell, CurrentValue, PotentialValue
from operando.errors import ProtocolError
from operando.protocol.schema.base import Model, field_names
from operando.protocol.schema.errors import problems_from_validation
from operando.protocol.schema.imaging_model import Imaging
from operando.protocol.schema.sensor_limits import SensorLimitSpec
from operando.protocol.schema.steps import AnyStep, Duration


class Safety(Model):
    """Bounds that stop the run whatever the steps say; mandatory in every protocol."""

    voltage_min: PotentialValue
    voltage_max: PotentialValue
    current_max: CurrentValue  # magnitude; a C-rate is allowed ("2C")
    duration_max: Duration  # type: ignore[valid-type]
    safe_state: Literal["open_circuit"] = "open_circuit"
    # How long the run waits, suspended, for a lost potentiostat link or missing data before it fails.
    link_outage_max: Duration = 3600.0  # type: ignore[valid-type]
    # No new point for this many recording intervals of a running step is a fault (the run suspends).
    missing_points_max: int = Field(default=5, ge=1)
    sensors: dict[str, SensorLimitSpec] = Field(default_factory=dict)  # limits on the rig's cell sensors


class Protocol(Model):
    """A whole experiment: the cell's electrochemistry and, optionally, its imaging. Build it in Python with
    the same fields a TOML file has.

    Invalid input raises :class:`operando.errors.ProtocolError` naming each field path and bad value.
    """

    name: str = "protocol"
    description: str = ""
    cell: Cell
    safety: Safety
    steps: list[AnyStep] = Field(min_length=1)
    imaging: Imaging | None = None  # None: electrochemistry only

    _source_text: str = PrivateAttr(default="")
    _source_path: str | None = PrivateAttr(default=None)

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        *,
        source_text: str = "",
        source_path: str | None = None,
    ) -> Protocol:
        """Validate a parsed TOML/JSON mapping; errors carry the file name and, when known, the TOML line."""
        try:
            protocol = cls.model_validate(data)
        except ValidationError as exc:
            problems = problems_from_validation(exc, source_text, known_fields=field_names())
            raise ProtocolError(problems, source_path) from None
        protocol._source_text = source_text
        protocol._source_path = source_path
        return protocol

    @property
    def source_text(self) -> str:
        """The text it was read from; for a protocol built in Python, its JSON form."""
        return self._source_text or self.model_dump_json(indent=2, exclude_none=True)

    @property
    def source_path(self) -> str | None:
        return self._source_path
