"""A simulated Keithley 2450: its SCPI command set, error queue and clamping, wired to a simulated cell.

Commands are parsed as the instrument does (short or long forms, optional nodes, case-insensitive); unknown
headers queue -113, values out of range -222 and leave the setting unchanged, a query with nothing to answer
times out. The cell is advanced to ``clock()`` (the event loop's time, read from the instrument thread while
the loop holds simulated time) under whatever the output does: a current source that clamps at its voltage
limit, a voltage source that clamps at its current limit, or, output off, the off-state mode (high impedance
leaves the cell at rest; "normal" would hold 0 V across it and discharge it, as a real one does).
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from operando.simulators.cell import Reading, SimulatedCell

MAX_STEP = 10.0  # s of cell time per internal step
LINE_FREQUENCY = 50.0  # Hz: one power-line cycle of integration is 20 ms
NEAR_CLAMP_STEP = 0.5  # s per step within NEAR_CLAMP of a limit, so a clamp engages within a few mV
NEAR_CLAMP = 0.02  # V (or 2 % of a current limit)
CURRENT_RANGE = (-1.05, 1.05)  # A
VOLTAGE_RANGE = (-210.0, 210.0)  # V
VLIM_RANGE = (0.02, 210.0)  # V
ILIM_RANGE = (1e-9, 1.05)  # A

_LONG = {"SOURCE": "SOUR", "CURRENT": "CURR", "VOLTAGE": "VOLT", "VLIMIT": "VLIM", "ILIMIT": "ILIM",
         "FUNCTION": "FUNC", "RANGE": "RANG", "SENSE": "SENS", "OUTPUT": "OUTP", "TRACE": "TRAC",
         "CLEAR": "CLE", "SYSTEM": "SYST", "ERROR": "ERR", "RSENSE": "RSEN", "SMODE": "SMOD",
         "READBACK": "READ:BACK", "COUNT": "COUN", "STATE": "STAT", "LEVEL": "LEV"}
_OPTIONAL = {"LEV", "STAT", "NEXT", "IMM", "AMPL"}
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
ERRORS = {-113: "Undefined header", -222: "Parameter data out of range", -224: "Illegal parameter value",
          -221: "Settings conflict", -109: "Missing parameter", -410: "Query INTERRUPTED"}


Handler = Callable[["SimulatedKeithley2450", str, bool], None]  # (instrument, argument, is a query)


class NoReply(Exception):
    """The instrument has nothing to say: the VISA read times out."""


class LinkDown(Exception):
    """The cable is out: every VISA call fails with a lost connection."""


def normalise(header: str) -> str:
    """``:SOURce1:CURRent:LEVel`` -> ``SOUR:CURR`` (short forms, optional nodes and suffix 1 dropped)."""
    nodes = []
    for node in header.strip().lstrip(":").upper().split(":"):
        node = node[:-1] if node.endswith("1") and node[:-1].isalpha() else node
        node = _LONG.get(node, node)
        if node not in _OPTIONAL:
            nodes.append(node)
    return ":".join(nodes)


@dataclass
class _Source:
    function: str = "VOLT"
    current: float = 0.0
    voltage: float = 0.0
    vlim: float = 21.0  # V (factory default)
    ilim: float = 1.05e-4  # A (factory default 105 uA)
    readback: dict[str, bool] | None = None


class SimulatedKeithley2450:
    """The instrument: ``handle(command)`` for each SCPI message written, replies kept until read.

    Ground truth for tests: ``cell``, ``output_on``, ``clamped``, ``commands`` (everything written),
    ``charge_delivered`` (C through the cell while the output was on, noise-free).
    """

    def __init__(self, cell: SimulatedCell, clock: Callable[[], float], *, serial: str = "04512345",
                 firmware: str = "1.7.12b", seed: int = 0) -> None:
        self.cell = cell
        self.clock = clock
        self.identity = f"KEITHLEY INSTRUMENTS,MODEL 2450,{serial},{firmware}"
        self._random = random.Random(seed)
        self.commands: list[str] = []
        self.charge_delivered = 0.0
        self.linked = True
        self.muted = False
        self._garble = 0
        self._replies: deque[str] = deque()
        self._errors: deque[int] = deque()
        self._time: float | None = None
        self._reading: Reading | None = None
        self._reset()

    def _reset(self) -> None:
        self.source = _Source(readback={"CURR": True, "VOLT": True})
        self.sense_function = "CURR"
        self.output_on = False
        self.off_mode = {"CURR": "NORM", "VOLT": "NORM"}
        self.remote_sense = {"VOLT": False, "CURR": False}
        self.nplc = {"VOLT": 1.0, "CURR": 1.0}
        self.clamped = False
        self.buffer: list[tuple[float, float, float]] = []  # (measured, source, loop time)

    # -- fault injection -------------------------------------------------------------------------------------

    def unplug(self) -> None:
        self.linked = False

    def plug_in(self) -> None:
        self.linked = True

    def garble_next(self, count: int = 1) -> None:
        """The next ``count`` replies come back as line noise."""
        self._garble = count

    # -- physics ---------------------------------------------------------------------------------------------

    def advance(self) -> None:
        """Run the cell up to clock() under what the output does."""
        now = self.clock()
        if self._time is None:
            self._time = now
            self._reading = self.cell.rest(0.0)
        while self._time < now - 1e-9:
            step = min(now - self._time, self._step_length())
            self._reading = self._apply(step)
            if self.output_on:
                self.charge_delivered += self.cell.current * step
            self._time += step

    def _step_length(self) -> float:
        if not self.output_on or self.clamped:
            return MAX_STEP
        if self.source.function == "CURR":
            gap = self.source.vlim - abs(self.cell.voltage)
            return NEAR_CLAMP_STEP if gap < NEAR_CLAMP else MAX_STEP
        gap = self.source.ilim - abs(self.cell.current)
        return NEAR_CLAMP_STEP if gap < NEAR_CLAMP * self.source.ilim else MAX_STEP

    def _apply(self, dt: float) -> Reading:
        cell, source = self.cell, self.source
        if not self.output_on:
            if self.off_mode[source.function] == "NORM":
                return cell.apply_voltage(0.0, dt)  # a real "normal" off state holds 0 V: it shorts the cell
            return cell.rest(dt)
        if source.function == "CURR":
            if self.clamped:
                sign = 1.0 if source.current >= 0 else -1.0
                reading = cell.apply_voltage(sign * source.vlim, dt)
                if abs(reading.I_true) >= abs(source.current):
                    self.clamped = False
                return reading
            reading = cell.apply_current(source.current, dt)
            self.clamped = abs(reading.E_true) > source.vlim
            return reading
        if self.clamped:
            sign = 1.0 if self.cell.current >= 0 else -1.0
            reading = cell.apply_current(sign * source.ilim, dt)
            if (source.voltage - reading.E_true) * sign <= 0:
                self.clamped = False
            return reading
        reading = cell.apply_voltage(source.voltage, dt)
        self.clamped = abs(reading.I_true) > source.ilim
        return reading

    def _integrate(self) -> None:
        """A reading integrates over NPLC power-line cycles (50 Hz): the cell runs that long under the
        present control, ahead of the clock, which then catches up. So a reading right after the output
        turns on sees the new control, as on the instrument."""
        assert self._time is not None
        aperture = self.nplc[self.sense_function] / LINE_FREQUENCY
        self._reading = self._apply(aperture)
        if self.output_on:
            self.charge_delivered += self.cell.current * aperture
        self._time += aperture

    def _measure(self) -> tuple[float, float]:
        """(measured, source value) now: the sense function's reading and the source's readback."""
        assert self._reading is not None
        reading = self._reading
        noise = self.cell.params
        voltage = reading.E_true + self._random.gauss(0.0, noise.voltage_noise)
        current = reading.I_true + self._random.gauss(0.0, noise.current_noise)
        measured = voltage if self.sense_function == "VOLT" else current
        function = self.source.function
        if function == "CURR":
            source = current if self.source.readback and self.source.readback["CURR"] else self.source.current
        else:
            source = voltage if self.source.readback and self.source.readback["VOLT"] else self.source.voltage
        return measured, source

    # -- SCPI ------------------------------------------------------------------------------------------------

    def handle(self, message: str) -> None:
        """One message as written (several commands may be joined with ';')."""
        if not self.linked:
            raise LinkDown
        for command in message.split(";"):
            command = command.strip()
            if command:
                self.commands.append(command)
                self._command(command)

    def take_reply(self) -> str:
        """The oldest reply; NoReply when there is none (the VISA read would time out)."""
        if not self.linked:
            raise LinkDown
        if self.muted or not self._replies:
            raise NoReply
        reply = self._replies.popleft()
        if self._garble:
            self._garble -= 1
            return "#\x00\x7f?" + reply[::-1][:5]
        return reply

    def _error(self, code: int) -> None:
        if len(self._errors) < 32:
            self._errors.append(code)

    def _reply(self, text: str) -> None:
        self._replies.append(text)

    def _command(self, command: str) -> None:
        header, _, argument = command.partition(" ")
        argument = argument.strip()
        query = header.endswith("?")
        key = header if header.startswith("*") else normalise(header.rstrip("?"))
        key = key.upper()
        self.advance()
        handler = self._HANDLERS.get(key.rstrip("?") if key.startswith("*") else key)
        if handler is None:
            self._error(-113)
            return
        handler(self, argument, query)

    # each handler: (self, argument text, is a query)

    def _idn(self, argument: str, query: bool) -> None:
        if query:
            self._reply(self.identity)
        else:
            self._error(-113)

    def _cls(self, argument: str, query: bool) -> None:
        self._errors.clear()

    def _rst(self, argument: str, query: bool) -> None:
        self._reset()

    def _output(self, argument: str, query: bool) -> None:
        if query:
            self._reply("1" if self.output_on else "0")
            return
        state = _on_off(argument)
        if state is None:
            self._error(-224)
            return
        if state and not self.output_on:
            self.clamped = False
        self.output_on = state

    @staticmethod
    def _off_mode(function: str) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            if query:
                self._reply(self.off_mode[function])
                return
            mode = {"NORM": "NORM", "NORMAL": "NORM", "HIMP": "HIMP", "HIMPEDANCE": "HIMP", "ZERO": "ZERO",
                    "GUAR": "GUAR", "GUARD": "GUAR"}.get(argument.upper())
            if mode is None:
                self._error(-224)
            else:
                self.off_mode[function] = mode
        return handler

    def _source_function(self, argument: str, query: bool) -> None:
        if query:
            self._reply(self.source.function)
            return
        names = {"CURR": "CURR", "CURRENT": "CURR", "VOLT": "VOLT", "VOLTAGE": "VOLT"}
        function = names.get(argument.upper())
        if function is None:
            self._error(-224)
            return
        if self.output_on and function != self.source.function:
            self.clamped = False
        self.source.function = function

    def _sense_function(self, argument: str, query: bool) -> None:
        if query:
            self._reply(f'"{self.sense_function}:DC"')
            return
        function = {"VOLT": "VOLT", "VOLTAGE": "VOLT", "CURR": "CURR", "CURRENT": "CURR",
                    "VOLT:DC": "VOLT", "CURR:DC": "CURR"}.get(argument.strip('"\'').upper())
        if function is None:
            self._error(-224)
        else:
            self.sense_function = function

    @staticmethod
    def _number_setting(attribute: str, bounds: tuple[float, float]) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            if query:
                self._reply(f"{getattr(self.source, attribute):.6e}")
                return
            value = _number(argument)
            if value is None:
                self._error(-109 if not argument else -224)
            elif not bounds[0] <= value <= bounds[1]:
                self._error(-222)
            else:
                setattr(self.source, attribute, value)
        return handler

    @staticmethod
    def _trip(function: str) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            tripped = self.output_on and self.clamped and self.source.function == function
            self._reply("1" if tripped else "0")
        return handler

    @staticmethod
    def _readback(function: str) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            assert self.source.readback is not None
            if query:
                self._reply("1" if self.source.readback[function] else "0")
                return
            state = _on_off(argument)
            if state is None:
                self._error(-224)
            else:
                self.source.readback[function] = state
        return handler

    @staticmethod
    def _switch(table: str, function: str) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            values = getattr(self, table)
            if query:
                self._reply("1" if values[function] else "0")
                return
            state = _on_off(argument)
            if state is None:
                self._error(-224)
            else:
                values[function] = state
        return handler

    def _accept_on(self, argument: str, query: bool) -> None:
        if query:
            self._reply("1")
        elif _on_off(argument) is None:
            self._error(-224)

    @staticmethod
    def _nplc(function: str) -> Handler:
        def handler(self: SimulatedKeithley2450, argument: str, query: bool) -> None:
            if query:
                self._reply(f"{self.nplc[function]:g}")
                return
            value = _number(argument)
            if value is None or not 0.01 <= value <= 10:
                self._error(-222)
            else:
                self.nplc[function] = value
        return handler

    def _trace_clear(self, argument: str, query: bool) -> None:
        if argument and argument.strip('"\'') != "defbuffer1":
            self._error(-224)
            return
        self.buffer.clear()

    def _read(self, argument: str, query: bool) -> None:
        if not query:
            self._error(-113)
            return
        parts = [part.strip() for part in argument.split(",")] if argument else ['"defbuffer1"', "READ"]
        if parts[0].strip('"\'') != "defbuffer1":
            self._error(-224)
            return
        elements = [part.upper() for part in parts[1:]] or ["READ"]
        if not self.output_on:
            self._error(-221)  # no readings with the output off
            return
        self._integrate()
        measured, source = self._measure()
        now = self.clock()
        self.buffer.append((measured, source, now))
        relative = now - self.buffer[0][2]
        values = {"READ": measured, "READING": measured, "SOUR": source, "SOURCE": source, "REL": relative,
                  "RELATIVE": relative}
        if any(element not in values for element in elements):
            self._error(-224)
            return
        self._reply(",".join(f"{values[element]:.9e}" for element in elements))

    def _error_next(self, argument: str, query: bool) -> None:
        if not query:
            self._error(-113)
            return
        if self._errors:
            code = self._errors.popleft()
            self._reply(f'{code},"{ERRORS.get(code, "Error")};1;2024/01/01 00:00:00.000"')
        else:
            self._reply('0,"No error;0;0 0"')

    def _error_count(self, argument: str, query: bool) -> None:
        self._reply(str(len(self._errors)))

    @staticmethod
    def _level(function: str) -> Handler:
        attribute, bounds = ("current", CURRENT_RANGE) if function == "CURR" else ("voltage", VOLTAGE_RANGE)
        return SimulatedKeithley2450._number_setting(attribute, bounds)

    _HANDLERS: dict[str, Callable[..., None]] = {}


def _on_off(argument: str) -> bool | None:
    return {"ON": True, "1": True, "OFF": False, "0": False}.get(argument.strip().upper())


def _number(argument: str) -> float | None:
    text = argument.strip()
    return float(text) if _NUMBER.match(text) else None


_K = SimulatedKeithley2450
_K._HANDLERS = {
    "*IDN": _K._idn, "*CLS": _K._cls, "*RST": _K._rst,
    "OUTP": _K._output, "OUTP:CURR:SMOD": _K._off_mode("CURR"), "OUTP:VOLT:SMOD": _K._off_mode("VOLT"),
    "SOUR:FUNC": _K._source_function, "SENS:FUNC": _K._sense_function,
    "SOUR:CURR": _K._level("CURR"), "SOUR:VOLT": _K._level("VOLT"),
    "SOUR:CURR:VLIM": _K._number_setting("vlim", VLIM_RANGE),
    "SOUR:VOLT:ILIM": _K._number_setting("ilim", ILIM_RANGE),
    "SOUR:CURR:VLIM:TRIP": _K._trip("CURR"), "SOUR:VOLT:ILIM:TRIP": _K._trip("VOLT"),
    "SOUR:CURR:READ:BACK": _K._readback("CURR"), "SOUR:VOLT:READ:BACK": _K._readback("VOLT"),
    "SOUR:CURR:RANG:AUTO": _K._accept_on, "SOUR:VOLT:RANG:AUTO": _K._accept_on,
    "SENS:CURR:RANG:AUTO": _K._accept_on, "SENS:VOLT:RANG:AUTO": _K._accept_on,
    "SENS:VOLT:RSEN": _K._switch("remote_sense", "VOLT"),
    "SENS:CURR:RSEN": _K._switch("remote_sense", "CURR"),
    "SENS:VOLT:NPLC": _K._nplc("VOLT"), "SENS:CURR:NPLC": _K._nplc("CURR"),
    "TRAC:CLE": _K._trace_clear, "READ": _K._read,
    "SYST:ERR": _K._error_next, "SYST:ERR:COUN": _K._error_count,
}
