"""The simulated Keithley in a rig file (``driver = "simulated_keithley2450"``): the real driver, a simulated
instrument behind a VISA-like resource manager, and the plan's cell, on the loop's clock."""

from __future__ import annotations

import asyncio
from typing import Any

from operando.drivers.keithley import Keithley2450, Keithley2450Settings, clamps
from operando.simulators.cell import SimulatedCell, simulated_cell
from operando.simulators.keithley._instrument import SimulatedKeithley2450
from operando.simulators.keithley._visa import SimulatedResourceManager
from pydantic import Field

from operando.plan import Plan
from operando.rigfile import Driver, RigContext

RESOURCE = "USB0::0x05E6::0x2450::04512345::INSTR"


class SimulatedKeithleySettings(Keithley2450Settings):
    """The real driver's settings, a default resource, and ``cell``: CellParameters overrides."""

    resource: str = RESOURCE
    cell: dict[str, Any] = Field(default_factory=dict)


def shared_cell(context: RigContext, overrides: dict[str, Any] | None = None) -> SimulatedCell:
    """The rig's one simulated cell (made from the plan's cell on first use, shared by every simulator)."""
    cell = context.shared.get("cell")
    if cell is None:
        plan: Plan | None = context.plan
        cell = context.shared["cell"] = simulated_cell(plan.cell if plan is not None else None, overrides,
                                                       seed=context.seed)
    return cell


def simulated_keithley(cell: SimulatedCell, *, resource: str = RESOURCE, seed: int = 0,
                       **options: Any) -> tuple[Keithley2450, SimulatedKeithley2450]:
    """The real driver over a simulated 2450 wired to ``cell``; call inside the running loop."""
    loop = asyncio.get_running_loop()
    # The instrument reads loop.time() from the driver's thread while the loop holds simulated time.
    instrument = SimulatedKeithley2450(cell, loop.time, seed=seed)
    driver = Keithley2450(resource, resource_manager=lambda: SimulatedResourceManager({resource: instrument}),
                          **options)
    return driver, instrument


def create(settings: SimulatedKeithleySettings, context: RigContext) -> Keithley2450:
    voltage, current = clamps(settings, context)
    driver, instrument = simulated_keithley(
        shared_cell(context, settings.cell), resource=settings.resource, seed=context.seed,
        timeout=settings.timeout, sample_interval=settings.sample_interval, voltage_limit=voltage,
        current_limit=current, nplc=settings.nplc, four_wire=settings.four_wire)
    context.shared["keithley2450"] = instrument  # ground truth for whoever holds the rig
    return driver


DRIVER = Driver(create, role="potentiostat", settings=SimulatedKeithleySettings,
                supported_techniques=Keithley2450.supported_techniques,
                description="the Keithley 2450 driver over a simulated 2450 and the plan's simulated cell")
