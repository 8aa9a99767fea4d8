"""The Potentiostat role: load a technique, start it, read what it recorded, stop it. Async, SI units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from operando.roles.instrument import InstrumentInfo
from operando.techniques import Technique


@dataclass(frozen=True)
class Point:
    """One recorded point: ``t_device`` s on the instrument's clock since the technique started, E_we V, I A."""

    t_device: float
    E_we: float
    I: float
    cycle: int = 0


@dataclass(frozen=True)
class ImpedancePoint:
    """One impedance frequency: Z = Z_re + j Z_im ohm at ``frequency`` Hz, around the DC level E_dc V, I_dc A."""

    t_device: float
    frequency: float
    Z_re: float
    Z_im: float
    E_dc: float
    I_dc: float


@dataclass(frozen=True)
class Readout:
    """What a :meth:`Potentiostat.read` returns: new points since the last read, and whether still running."""

    points: tuple[Point, ...] = ()
    impedance: tuple[ImpedancePoint, ...] = ()
    running: bool = False


@runtime_checkable
class Potentiostat(Protocol):
    """A single-channel potentiostat as the engine drives it.

    ``start`` loads and starts one technique; ``read`` drains everything recorded since the previous read
    (call it until ``running`` is False to get the last points); ``stop`` ends the technique early;
    ``safe_state`` leaves the cell safe (channel stopped, i.e. open circuit) and must work after any fault.
    Vendor errors surface as :class:`operando.errors.InstrumentError` carrying the vendor's code and name.
    """

    async def connect(self) -> InstrumentInfo: ...

    async def start(self, technique: Technique) -> None: ...

    async def read(self) -> Readout: ...

    async def stop(self) -> None: ...

    async def safe_state(self) -> None: ...

    async def disconnect(self) -> None: ...


@runtime_checkable
class ChannelChecked(Protocol):
    """A potentiostat that can tell, once its link is back after an outage, whether its channel still runs
    what :meth:`Potentiostat.start` loaded; ``check_channel`` raises InstrumentError if not."""

    async def check_channel(self) -> None: ...
