"""The BioLogic driver in rig files (``driver = "biologic"``): its settings and its entry point."""

from __future__ import annotations

from operando.drivers.biologic._driver import BiologicPotentiostat
from operando.drivers.biologic._seam import EClibLibrary
from pydantic import BaseModel, ConfigDict, Field

from operando.rigfile import Driver, RigContext


class BiologicSettings(BaseModel):
    """``[potentiostat]``: the instrument's address and channel, where EClib and its firmware files live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field("USB0", min_length=1)  # "USB0".."USB9" or the instrument's IP address
    channel: int = Field(1, ge=1, le=16)  # front-panel numbering
    eclib_path: str | None = None  # the DLL or its folder (default: the development package's lib folder)
    firmware_path: str | None = None  # folder of kernel*.bin and the FPGA files
    timeout: int = Field(5, ge=1, le=255)  # s, BL_Connect
    retries: int = Field(3, ge=0, le=20)


def create(settings: BiologicSettings, context: RigContext) -> BiologicPotentiostat:
    return BiologicPotentiostat(EClibLibrary(settings.eclib_path), settings.address, settings.channel,
                                firmware_path=settings.firmware_path, timeout=settings.timeout,
                                retries=settings.retries)


DRIVER = Driver(create, role="potentiostat", settings=BiologicSettings,
                description="BioLogic VMP3 / VMP-300 families through the EC-Lab Development Package (EClib)")
