"""The rig's instruments as one session: connected together, made safe together, disconnected together.

The potentiostat, the microscope (when the plan images) and the cell sensors. A connect that fails, or is cut
short by an abort (an EHT run-up, a firmware load take minutes), leaves every instrument safe and
disconnected; so does :meth:`InstrumentSession.close` at the end of a run, whatever ended it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from operando.clock import InstrumentTimeout
from operando.engine.acquisition import RegionSetter
from operando.engine.events import Event, Fault
from operando.engine.sensors import SensorPoller
from operando.plan import RegionOfInterest
from operando.roles.instrument import InstrumentInfo
from operando.roles.microscope import Microscope
from operando.roles.potentiostat import Potentiostat

log = logging.getLogger(__name__)


class InstrumentSession:
    """Connects, makes safe and disconnects ``potentiostat``, ``microscope`` (checking ``regions`` on it) and
    ``sensors``; a safe state gets ``safe_state_timeout`` s of wall time per instrument."""

    def __init__(self, potentiostat: Potentiostat, *, potentiostat_name: str = "potentiostat",
                 microscope: Microscope | None = None, microscope_name: str = "microscope",
                 regions: Sequence[RegionOfInterest] = (), sensors: SensorPoller | None = None,
                 safe_state_timeout: float = 30.0) -> None:
        self.potentiostat = potentiostat
        self.potentiostat_name = potentiostat_name
        self.microscope = microscope
        self.microscope_name = microscope_name
        self.regions = tuple(regions)
        self.sensors = sensors
        self.safe_state_timeout = safe_state_timeout
        self.released = False  # an abort cut the connection short: every instrument is safe and disconnected

    async def connect(self, abort: Callable[[], Awaitable[Any]]) -> dict[str, InstrumentInfo]:
        """Connect every instrument; returns what each says it is. One that cannot connect raises; ``abort``
        (awaited beside the connection) returning first cuts it short: :attr:`released` is then set and the
        instruments that had connected are returned, for the record of a run that never started."""
        instruments: dict[str, InstrumentInfo] = {}
        connecting = asyncio.ensure_future(self._connect_each(instruments))
        aborted = asyncio.ensure_future(abort())
        try:
            await asyncio.wait((connecting, aborted), return_when=asyncio.FIRST_COMPLETED)
        finally:
            aborted.cancel()
            if not connecting.done():
                connecting.cancel()
                await asyncio.wait((connecting,))  # its cleanup: instruments safe and disconnected
        if connecting.cancelled() and aborted.done() and not aborted.cancelled():
            self.released = True
            return instruments
        return connecting.result()

    async def _connect_each(self, instruments: dict[str, InstrumentInfo]) -> dict[str, InstrumentInfo]:
        """Connect the potentiostat, the microscope (blanked, regions checked, EHT on) and the sensors, filling
        ``instruments``; whatever stops it (a fault, a cancellation) leaves them safe and disconnected."""
        try:
            instruments[self.potentiostat_name] = await self.potentiostat.connect()
            if self.microscope is not None:
                instruments[self.microscope_name] = await self.microscope.connect()
                await self.microscope.blank()
                checker = RegionSetter(self.microscope)
                for region in self.regions:
                    await checker.check(region)
                if not (await self.microscope.beam()).on:
                    await self.microscope.beam_on()
            if self.sensors is not None:
                instruments.update(await self.sensors.connect())
        except BaseException as stopped:
            # A cancelled connect may follow a channel that ran before: stopped, as on any abort. A microscope
            # that failed to connect released itself.
            cancelled = isinstance(stopped, asyncio.CancelledError)
            await self.make_safe(cell=cancelled or self.potentiostat_name in instruments,
                                 beam=self.microscope_name in instruments)
            await self.disconnect()
            raise
        return instruments

    async def close(self, report: Callable[[Event], Awaitable[None]] | None = None,
                    now: Callable[[], float] = lambda: 0.0) -> None:
        """Make every instrument safe, then disconnect them all."""
        await self.make_safe(report=report, now=now)
        await self.disconnect()

    async def make_safe(self, *, cell: bool = True, beam: bool = True,
                        report: Callable[[Event], Awaitable[None]] | None = None,
                        now: Callable[[], float] = lambda: 0.0) -> None:
        """The cell first (potentiostat in its safe state), then the beam (blanked, stage stopped). A failure is
        logged, and with ``report`` published as a fault at ``now()``: nothing more can be done from software."""
        if cell:
            await self._safe(self.potentiostat, self.potentiostat_name, report, now)
        if beam and self.microscope is not None:
            await self._safe(self.microscope, self.microscope_name, report, now)

    async def _safe(self, instrument: Potentiostat | Microscope, name: str,
                    report: Callable[[Event], Awaitable[None]] | None, now: Callable[[], float]) -> None:
        try:
            async with InstrumentTimeout(self.safe_state_timeout):
                await instrument.safe_state()
        except Exception as exc:  # noqa: BLE001 - reported; nothing more can be done from software
            if isinstance(exc, TimeoutError) and not str(exc):  # TimeoutError has no message of its own
                exc = TimeoutError(f"no answer within {self.safe_state_timeout:g} s")
            log.error("%s: safe state failed: %s", name, exc)
            if report is not None:
                await report(Fault(now(), f"safe state failed: {exc}", name, getattr(exc, "code", None),
                                   getattr(exc, "name", "")))

    async def disconnect(self) -> None:
        """Disconnect the sensors, the potentiostat and the microscope; a failed goodbye is only worth a line."""
        if self.sensors is not None:
            await self.sensors.disconnect()
        for instrument, name in ((self.potentiostat, self.potentiostat_name),
                                 (self.microscope, self.microscope_name)):
            if instrument is None:
                continue
            try:
                await instrument.disconnect()
            except Exception as exc:  # noqa: BLE001 - already safe
                log.warning("%s: disconnect failed: %s", name, exc)
