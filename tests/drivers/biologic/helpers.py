"""A simulated BioLogic rig (cell, fake EClib on the loop's clock, driver), collectors."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from operando.drivers.biologic import BiologicPotentiostat
from operando.simulators.cell import CellParameters, SimulatedCell
from operando.simulators.eclib import FakeEClib

from operando.roles.potentiostat import ImpedancePoint, Point


def single(value: float) -> float:
    """``value`` rounded to IEEE-754 single precision, as an EccParam or a data word carries it."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


@dataclass
class Rig:
    cell: SimulatedCell
    fake: FakeEClib
    driver: BiologicPotentiostat


def make_rig(board: str = "VMP300", *, seed: int = 3, firmware_loaded: bool = False, channel: int = 1,
             **cell_parameters: float) -> Rig:
    """Build the rig inside a running (simulated-time) loop: the fake reads that loop's clock."""
    cell = SimulatedCell(CellParameters(**cell_parameters), seed=seed)
    fake = FakeEClib(cell, asyncio.get_running_loop().time, board=board, firmware_loaded=firmware_loaded)
    driver = BiologicPotentiostat(fake, "USB0", channel=channel, retry_delay=0.1)
    return Rig(cell, fake, driver)


async def collect(driver: BiologicPotentiostat, period: float) -> tuple[list[Point], list[ImpedancePoint]]:
    """Read every ``period`` s until the technique has ended and everything is drained."""
    points: list[Point] = []
    impedance: list[ImpedancePoint] = []
    while True:
        await asyncio.sleep(period)
        readout = await driver.read()
        points += readout.points
        impedance += readout.impedance
        if not readout.running:
            return points, impedance
