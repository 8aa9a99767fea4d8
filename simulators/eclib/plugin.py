"""The simulated BioLogic in rig files (``driver = "simulated_biologic"``): the real driver over the fake
EClib over the rig's simulated cell, on the loop's clock."""

from __future__ import annotations

import asyncio
from typing import Any

from operando.drivers.biologic import BiologicPotentiostat
from operando.simulators.eclib import DEVICES, FakeEClib
from operando.simulators.keithley import shared_cell
from pydantic import BaseModel, ConfigDict, Field, field_validator

from operando.rigfile import Driver, RigContext


class SimulatedBiologicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    board: str = "VMP300"
    cell: dict[str, Any] = Field(default_factory=dict)  # CellParameters overrides

    @field_validator("board")
    @classmethod
    def _known(cls, board: str) -> str:
        if board.replace("-", "").replace(" ", "").upper() not in DEVICES:
            raise ValueError(f"board {board!r} is not simulated; choose one of {', '.join(DEVICES)}")
        return board


def create(settings: SimulatedBiologicSettings, context: RigContext) -> BiologicPotentiostat:
    loop = asyncio.get_running_loop()
    cell = shared_cell(context, settings.cell)
    eclib = FakeEClib(cell, loop.time, settings.board)
    context.shared["eclib"] = eclib  # ground truth
    # Saved with the points, put back by `operando resume`: the cell exactly, the channel's last reading.
    context.keep_state("cell", cell.snapshot, cell.restore)
    context.keep_state("eclib", eclib.snapshot, eclib.restore, required=False)
    return BiologicPotentiostat(eclib, "USB0", 1)


DRIVER = Driver(create, role="potentiostat", settings=SimulatedBiologicSettings,
                description="the BioLogic driver over the fake EClib and the plan's simulated cell")
