"""Keithley 2450 source-measure unit as a Potentiostat: SCPI over pyvisa, techniques run by the driver.

The instrument sources a current (voltage-clamped) or a voltage (current-clamped) and measures; it knows
nothing of limits, charge or recording rules. So while a technique runs, a sampler task on the event loop
reads ``:READ? "defbuffer1", READ, SOUR, REL`` every ``sample_interval`` s (the measured value, the measured
source value and the reading's relative time), counts the charge, tests the technique's stops and turns the
output off the moment one is met. Every VISA call runs on the driver's InstrumentThread.

Wiring: HI and sense HI to the working electrode, LO and sense LO to the counter/reference electrode, so a
positive current oxidises the working electrode (charges a cathode) and the voltage is E_we as measured.
Open circuit is a 0 A current source (the 2450 takes no readings with its output off); between techniques and
in the safe state the output is off in high-impedance mode, which disconnects the cell.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from operando.drivers.keithley._errors import ComplianceReached, KeithleyError
from operando.drivers.keithley._scpi import ResourceManager, ScpiLink
from operando.drivers.keithley._technique import Sample, TechniqueRun

from operando.instrument_thread import InstrumentThread
from operando.roles.instrument import InstrumentInfo
from operando.roles.potentiostat import Point, Readout
from operando.techniques import ConstantCurrent, ConstantVoltage, OpenCircuit, Technique

log = logging.getLogger(__name__)

DRIVER_NAME = "operando.drivers.keithley"
MODELS = ("2450", "2460", "2461", "2470")  # one SCPI command set
READ_QUERY = ':READ? "defbuffer1", READ, SOUR, REL'
ERROR_CHECK_INTERVAL = 60.0  # s between error-queue checks while sampling
COMPLIANCE_MARGIN = 1e-3  # fraction of a limit within which the instrument is taken to be clamping
MAX_CURRENT = 1.05  # A, the 2450's largest source range
MAX_VOLTAGE = 210.0  # V


def _number(value: float) -> str:
    return f"{value:.9g}"


class Keithley2450:
    """A Keithley 2450 (or 2460/2461/2470) channel as a :class:`operando.roles.Potentiostat`.

    ``voltage_limit`` V clamps any current source and ``current_limit`` A any voltage source (the hardware's
    last line of defence: reaching one raises :class:`ComplianceReached`); ``sample_interval`` s between
    readings while a technique runs (shorter if its recording interval is shorter); ``nplc`` the integration
    time in power-line cycles; ``four_wire`` remote sense. ``resource_manager`` makes the pyvisa resource
    manager (default: ``pyvisa.ResourceManager(visa_library)``).
    """

    supported_techniques = (OpenCircuit, ConstantCurrent, ConstantVoltage)

    def __init__(self, resource: str, *, resource_manager: Callable[[], ResourceManager] | None = None,
                 visa_library: str = "@py", timeout: float = 5.0, sample_interval: float = 1.0,
                 voltage_limit: float = 5.0, current_limit: float = 0.01, nplc: float = 1.0,
                 four_wire: bool = True) -> None:
        if not isinstance(resource, str) or not resource.strip():
            raise KeithleyError(f"resource must be a VISA resource name, got {resource!r}")
        for name, value, low, high in (("timeout", timeout, 0.01, 600.0),
                                       ("sample_interval", sample_interval, 0.01, 3600.0),
                                       ("voltage_limit", voltage_limit, 0.02, MAX_VOLTAGE),
                                       ("current_limit", current_limit, 1e-9, MAX_CURRENT),
                                       ("nplc", nplc, 0.01, 10.0)):
            if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
                raise KeithleyError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        self.resource = resource.strip()
        self.visa_library = visa_library
        self.timeout = float(timeout)
        self.sample_interval = float(sample_interval)
        self.voltage_limit = float(voltage_limit)
        self.current_limit = float(current_limit)
        self.nplc = float(nplc)
        self.four_wire = bool(four_wire)
        self.info: InstrumentInfo | None = None
        self._link = ScpiLink(self.resource, resource_manager or self._pyvisa_manager, timeout=self.timeout)
        self._thread: InstrumentThread | None = None
        self._run: TechniqueRun | None = None
        self._points: list[Point] = []
        self._sampler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None
        self._output_on = False
        self._started_at = 0.0  # loop time of the running technique's first reading
        self._relative_origin = 0.0  # its REL time stamp

    def _pyvisa_manager(self) -> ResourceManager:
        import pyvisa

        return pyvisa.ResourceManager(self.visa_library) if self.visa_library else pyvisa.ResourceManager()

    # -- plumbing ------------------------------------------------------------------------------------------

    async def _call(self, function: Callable[..., object], *args: object) -> object:
        if self._thread is None:
            raise KeithleyError(f"{self.resource}: not connected: call connect() first")
        return await self._thread.call(function, *args)

    async def _send(self, commands: list[str], context: str) -> None:
        await self._call(self._link.send, commands, context)

    # -- Potentiostat role ---------------------------------------------------------------------------------

    async def connect(self) -> InstrumentInfo:
        """Open the session, check the model, leave the output off in high impedance, set remote sense."""
        if self._thread is not None:
            raise KeithleyError(f"{self.resource}: already connected")
        self._thread = InstrumentThread(f"keithley-{self.resource}")
        try:
            await self._call(self._link.open)
            identity = str(await self._call(self._link.query, "*IDN?"))
            if not identity:
                raise KeithleyError(f"{self.resource}: an empty answer to *IDN?: nothing at this address "
                                    "speaks SCPI; check the resource name in the rig file")
            parts = [part.strip() for part in identity.split(",")]
            model = parts[1] if len(parts) > 1 else ""
            if len(parts) < 4 or "KEITHLEY" not in parts[0].upper() or not any(m in model for m in MODELS):
                raise KeithleyError(f"{self.resource} answered *IDN? with {identity!r}: not a Keithley "
                                    f"{'/'.join(MODELS)}; is the resource the right instrument?")
            sense = "ON" if self.four_wire else "OFF"
            # An output left on by a crashed session is not under anyone's control: off first.
            await self._send(["*CLS", ":OUTP OFF", ":OUTP:CURR:SMOD HIMP", ":OUTP:VOLT:SMOD HIMP",
                              f":SENS:VOLT:RSEN {sense}", f":SENS:CURR:RSEN {sense}"],
                             "the start-up settings")
        except BaseException:
            await self._close_link()
            raise
        self._output_on = False
        self.info = InstrumentInfo(
            model=f"Keithley {model.replace('MODEL', '').strip()}", serial=parts[2], firmware=parts[3],
            driver=DRIVER_NAME,
            settings={"resource": self.resource, "visa_library": self.visa_library,
                      "sample_interval": self.sample_interval, "voltage_limit": self.voltage_limit,
                      "current_limit": self.current_limit, "nplc": self.nplc, "four_wire": self.four_wire,
                      "timeout": self.timeout})
        return self.info

    def _configure(self, technique: Technique) -> list[str]:
        nplc = _number(self.nplc)
        if isinstance(technique, ConstantVoltage):
            if abs(technique.voltage) > self.voltage_limit:
                raise KeithleyError(f"hold at {technique.voltage:g} V is beyond the rig's voltage_limit "
                                    f"{self.voltage_limit:g} V")
            return [":SOUR:FUNC VOLT", ":SOUR:VOLT:RANG:AUTO ON",
                    f":SOUR:VOLT:ILIM {_number(self.current_limit)}",
                    ":SOUR:VOLT:READ:BACK ON", ':SENS:FUNC "CURR"', ":SENS:CURR:RANG:AUTO ON",
                    f":SENS:CURR:NPLC {nplc}", f":SOUR:VOLT {_number(technique.voltage)}"]
        current = technique.current if isinstance(technique, ConstantCurrent) else 0.0
        if abs(current) > self.current_limit:
            raise KeithleyError(f"{current:g} A is beyond the rig's current_limit {self.current_limit:g} A")
        return [":SOUR:FUNC CURR", ":SOUR:CURR:RANG:AUTO ON",
                f":SOUR:CURR:VLIM {_number(self.voltage_limit)}",
                ":SOUR:CURR:READ:BACK ON", ':SENS:FUNC "VOLT"', ":SENS:VOLT:RANG:AUTO ON",
                f":SENS:VOLT:NPLC {nplc}", f":SOUR:CURR {_number(current)}"]

    async def start(self, technique: Technique) -> None:
        """Set the source, turn the output on, take the first reading and start sampling."""
        if not isinstance(technique, self.supported_techniques):
            raise KeithleyError(f"a source-measure unit cannot run {type(technique).__name__}; it runs "
                                f"{', '.join(t.__name__ for t in self.supported_techniques)}")
        await self._end_sampler()
        commands = self._configure(technique)
        run = TechniqueRun(technique)
        if self._points:
            log.warning("%s: %d points of the previous technique were never read; discarding them",
                        self.resource, len(self._points))
            self._points.clear()
        self._failure = None
        await self._send([":OUTP OFF", *commands, ':TRAC:CLE "defbuffer1"'], f"the settings of "
                                                                          f"{type(technique).__name__}")
        await self._send([":OUTP ON"], "turning the output on")
        self._output_on = True
        self._run = run
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        await self._sample(run)
        self._wake = asyncio.Event()
        self._sampler = asyncio.create_task(self._sample_loop(run), name=f"keithley sampler {self.resource}")

    def _interval(self, run: TechniqueRun) -> float:
        return min(self.sample_interval, run.recording.dt)

    async def _sample_loop(self, run: TechniqueRun) -> None:
        loop = asyncio.get_running_loop()
        last_check = loop.time()
        try:
            while not run.finished:
                elapsed = loop.time() - self._started_at
                # Wake exactly at the end of a timed technique so the next one starts on time.
                pause = min(self._interval(run), max(1e-3, run.duration - elapsed))
                try:
                    await asyncio.wait_for(self._wake.wait(), pause)
                except TimeoutError:
                    pass
                if run.finished:
                    break
                await self._sample(run)
                if not run.finished and loop.time() - last_check >= ERROR_CHECK_INTERVAL:
                    last_check = loop.time()
                    await self._call(self._link.check_errors, "a reading")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - kept for read(), which hands it to the engine
            self._failure = exc
            run.end(f"failed: {exc}")
            log.error("%s: sampling failed: %s; turning the output off", self.resource, exc)
            await self._output_off_quietly()

    async def _sample(self, run: TechniqueRun) -> None:
        reply = str(await self._call(self._link.query, READ_QUERY))
        try:
            measured, source, relative = (float(part) for part in reply.split(","))
        except ValueError:
            raise KeithleyError(f"{self.resource}: unreadable reading {reply!r} (expected "
                                "'<measured>,<source>,<relative time>')") from None
        if isinstance(run.technique, ConstantVoltage):
            voltage, current = source, measured
        else:
            voltage, current = measured, source
        if run.samples == 0:
            self._relative_origin = relative
        sample = Sample(relative - self._relative_origin, voltage, current)
        point = run.add(sample)
        if point is not None:
            self._points.append(point)
        self._check_compliance(run, sample)
        overdue = asyncio.get_running_loop().time() - self._started_at - run.duration
        if not run.finished and overdue > max(1.0, 2 * self._interval(run)):
            # The instrument's relative time has not reached the end while the host's clock is well past it.
            run.end(f"duration {run.duration:g} s on the host clock (the instrument's time stamps lag)")
            log.warning("%s: ended %s on the host clock: the instrument's REL time lags by %.3g s",
                        self.resource, type(run.technique).__name__, overdue)
        if run.finished:
            await self._send([":OUTP OFF"], "turning the output off")
            self._output_on = False
            log.debug("%s: %s ended: %s", self.resource, type(run.technique).__name__, run.reason)

    def _check_compliance(self, run: TechniqueRun, sample: Sample) -> None:
        if isinstance(run.technique, ConstantVoltage):
            if abs(sample.I) >= self.current_limit * (1 - COMPLIANCE_MARGIN):
                run.end("current compliance")
                raise ComplianceReached(f"{self.resource}: the current reached the current_limit "
                                        f"{self.current_limit:g} A during a hold at {sample.E_we:g} V: the "
                                        "instrument clamps, the voltage is no longer held",
                                        name="current compliance")
        elif abs(sample.E_we) >= self.voltage_limit * (1 - COMPLIANCE_MARGIN):
            run.end("voltage compliance")
            raise ComplianceReached(f"{self.resource}: the cell reached the voltage_limit "
                                    f"{self.voltage_limit:g} V under current: the instrument clamps, the "
                                    "current is no longer the set one", name="voltage compliance")

    async def read(self) -> Readout:
        """Points recorded since the last read; raises what stopped the sampler, once, after its points."""
        if self._thread is None:
            raise KeithleyError(f"{self.resource}: not connected: call connect() first")
        points, self._points = tuple(self._points), []
        if not points and self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        running = self._run is not None and not self._run.finished
        return Readout(points=points, running=running or (self._failure is not None))

    async def stop(self) -> None:
        """End the technique now (output off); its last points stay for the next read()."""
        run = self._run
        if run is not None and not run.finished:
            run.end("stopped by the engine")
        await self._end_sampler()
        if self._output_on:
            await self._send([":OUTP OFF"], "turning the output off")
            self._output_on = False

    async def _end_sampler(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return
        self._wake.set()
        try:
            await sampler
        except asyncio.CancelledError:
            if not sampler.cancelled():
                raise

    async def _output_off_quietly(self) -> None:
        try:
            if not self._link.is_open:
                await self._call(self._link.open)
            await self._send([":OUTP OFF"], "turning the output off")
            self._output_on = False
        except Exception as exc:  # noqa: BLE001 - reported; the caller is already on its way out
            log.error("%s: could not turn the output off: %s: the cell may still be under current",
                      self.resource, exc)

    async def safe_state(self) -> None:
        """Output off (high impedance: the cell is disconnected), whatever happened before; never raises."""
        run = self._run
        if run is not None and not run.finished:
            run.end("safe state")
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            try:
                await sampler
            except BaseException:  # noqa: BLE001 - whatever it died of, the output goes off next
                pass
        if self._thread is not None:
            await self._output_off_quietly()

    async def disconnect(self) -> None:
        """Turn the output off (nothing would enforce a technique's limits any more) and close the session."""
        if self._thread is None:
            return
        await self.safe_state()
        await self._close_link()

    async def _close_link(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            await thread.call(self._link.close)
        finally:
            thread.close(wait=True)
