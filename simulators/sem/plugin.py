"""The simulated Zeiss in rig files (``driver = "simulated_zeiss"``): the real Zeiss driver over the fake
SmartSEM, its specimen following the rig's simulated cell's true state of charge, on the loop's clock."""

from __future__ import annotations

import asyncio

from operando.drivers.zeiss import ZeissMicroscope
from operando.simulators.keithley import shared_cell
from operando.simulators.sem.czemapi import FakeCZEMApi
from pydantic import BaseModel, ConfigDict

from operando.rigfile import Driver, RigContext


class SimulatedZeissSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "simulated-zeiss"


def create(settings: SimulatedZeissSettings, context: RigContext) -> ZeissMicroscope:
    """The fake SmartSEM is made now for a plan with imaging regions (its ground truth is there before the run
    starts); otherwise only if the microscope is ever connected (the engine leaves it out of such a plan)."""
    loop = asyncio.get_running_loop()

    def make() -> FakeCZEMApi:
        cell = shared_cell(context)  # cracks open on charge and close on discharge with the cell's true SOC
        sem = context.shared["sem"] = FakeCZEMApi(loop.time, seed=context.seed, soc_provider=lambda: cell.soc)
        context.keep_state("sem", sem.snapshot, sem.restore, required=False)
        return sem

    plan = context.plan
    sem = make() if plan is not None and plan.imaging is not None and plan.imaging.regions else None
    return ZeissMicroscope(lambda: sem if sem is not None else context.shared.get("sem") or make(),
                           name=settings.name)


DRIVER = Driver(create, role="microscope", settings=SimulatedZeissSettings,
                description="the Zeiss driver over the fake SmartSEM and the rig's simulated cell")
