"""The Zeiss driver in rig files (``driver = "zeiss"``): COM on the SmartSEM PC, or the bridge elsewhere."""

from __future__ import annotations

from pathlib import Path

from operando.drivers.zeiss.bridge_client import BridgeClientSeam
from operando.drivers.zeiss.com_seam import ComSeam
from operando.drivers.zeiss.config import ZeissConfig
from operando.drivers.zeiss.driver import ZeissMicroscope
from pydantic import BaseModel, ConfigDict, Field, model_validator

from operando.rigfile import Driver, RigContext
from operando.units import quantity_type

Length = quantity_type("length", positive=True)
Duration = quantity_type("time", positive=True)


class ZeissSettings(BaseModel):
    """``[microscope]``: ``bridge_host`` (+ port, token file) to go through the bridge, else COM locally."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bridge_host: str | None = None
    bridge_port: int = Field(7520, ge=1, le=65535)
    token_file: str | None = None
    remote: bool = True  # InitialiseRemoting (support PC) rather than Initialise (the SmartSEM PC itself)
    beam_shift_full_scale: Length = 10e-6  # type: ignore[valid-type]
    call_timeout: Duration = 30.0  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _bridge_needs_token(self) -> ZeissSettings:
        if self.bridge_host is not None and not self.token_file:
            raise ValueError("token_file: the bridge needs the file holding its shared token")
        return self


def create(settings: ZeissSettings, context: RigContext) -> ZeissMicroscope:
    config = ZeissConfig(remote=settings.remote, beam_shift_full_scale=settings.beam_shift_full_scale,
                         call_timeout=settings.call_timeout)
    if settings.bridge_host is not None:
        token = Path(settings.token_file or "").read_text(encoding="utf-8")
        host, port = settings.bridge_host, settings.bridge_port
        return ZeissMicroscope(lambda: BridgeClientSeam(host, port, token), config)
    return ZeissMicroscope(ComSeam, config)


DRIVER = Driver(create, role="microscope", settings=ZeissSettings,
                description="Zeiss SmartSEM (Crossbeam, Merlin, Ultra) by CZEMApi, local or via the bridge")
