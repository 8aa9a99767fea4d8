"""A fake EClib: the DLL's BL_* calls over ctypes arguments, driven by a simulated cell on simulated time.

Same function names, arguments (byref pointers, structures, arrays), return codes and buffer encodings as the
vendor DLL, so the real driver runs unchanged on it. Channel 0 (front-panel 1) holds the cell. Each call first
advances the cell to ``clock()`` under whatever the channel is doing. Faults can be injected; the ground truth
(cell, channel state, what was loaded, which threads called) is readable for tests.
"""

from __future__ import annotations

import asyncio
import ctypes
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from operando.drivers.biologic import (
    DATA_BUFFER_WORDS,
    ERROR_CODES,
    MAX_SLOTS,
    BoardType,
    FirmwareCode,
    ParamType,
    ProgramState,
)
from operando.simulators.cell import Reading, SimulatedCell
from operando.simulators.eclib import _rows, _schema
from operando.simulators.eclib._build import build_program
from operando.simulators.eclib._programs import Program
from operando.simulators.state import StateError

LIBRARY_VERSION = b"6.06 (simulated)"
REST_CHUNK = 600.0  # s, longest single rest interval handed to the cell while the channel is idle
# Words a channel's data memory holds while nobody reads it (ChannelInfo.MemSize 2 MB of 4-byte words): a
# link outage of days at a point a minute fits; rows beyond it are lost on the board, counted as IRQskipped.
BUFFER_WORDS = 500_000

# Instrument name -> (DeviceInfo.DeviceCode, board type of its channels).
DEVICES: dict[str, tuple[int, BoardType]] = {
    "VMP3": (5, BoardType.ESSENTIAL), "SP150": (14, BoardType.ESSENTIAL), "SP150E": (36, BoardType.ESSENTIAL),
    "VMP300": (12, BoardType.PREMIUM), "SP300": (16, BoardType.PREMIUM), "SP200": (21, BoardType.PREMIUM),
    "VSP300": (20, BoardType.PREMIUM),
}

OK, NOT_CONNECTED, CHANNEL_NOT_PLUGGED, INVALID_PARAMETERS = 0, -1, -3, -4
FUNCTION_FAILED, CHANNEL_RUNNING, UPDATE_PARAMETERS = -6, -13, -15
COMM_FAILED, CONNECTION_FAILED = -200, -201
FIRMWARE_INVALID_FILE, FPGA_INVALID_FILE, FIRMWARE_NOT_LOADED = -302, -306, -308
ECC_NOT_FOUND, INCOMPATIBLE_ECC = -400, -401


def _target(argument: Any) -> Any:
    """The ctypes object behind a byref()/pointer() argument, or the argument itself."""
    if isinstance(argument, ctypes._Pointer):
        return argument.contents
    inner = getattr(argument, "_obj", None)  # ctypes.byref() wraps the object in a CArgObject
    return inner if inner is not None else argument


def _value(argument: Any) -> Any:
    """A Python value from a plain value or a ctypes simple instance."""
    return argument.value if isinstance(argument, ctypes._SimpleCData) else argument


def _text(argument: Any) -> str:
    value = _value(argument)
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


@dataclass
class LoadedTechnique:
    """A technique as the channel holds it after BL_LoadTechnique (values per label, by index)."""

    ecc_file: str
    name: str
    technique_id: int
    values: dict[str, list[Any]]
    sent: list[tuple[str, int, ParamType, Any]]  # (label, index, type, value) in the order received


@dataclass
class _Channel:
    firmware: FirmwareCode = FirmwareCode.NONE
    state: ProgramState = ProgramState.STOP
    technique: LoadedTechnique | None = None
    program: Program | None = None
    start_clock: float = 0.0
    fifo: deque[tuple[int, int, tuple[int, ...]]] = field(default_factory=deque)
    words: int = 0  # words held in the fifo
    skipped: int = 0  # rows lost to a full memory since the last BL_GetData


class FakeEClib:
    """EClib for a simulated instrument whose channel 1 is wired to ``cell``; ``clock()`` gives seconds.

    ``board`` names the instrument (VMP300 default; VMP3, SP150, SP300, ...), which fixes its board family.
    ``firmware_loaded`` says whether the channel already runs the development package's kernel.
    """

    def __init__(self, cell: SimulatedCell, clock: Callable[[], float], board: str = "VMP300", *,
                 channels: int = 1, address: str = "USB0", firmware_loaded: bool = False) -> None:
        key = board.replace("-", "").replace(" ", "").upper()
        if key not in DEVICES:
            raise ValueError(f"board {board!r} is not simulated; choose one of {', '.join(DEVICES)}")
        if not 1 <= channels <= MAX_SLOTS:
            raise ValueError(f"channels must be 1..{MAX_SLOTS}, got {channels!r}")
        self.cell = cell
        self.clock = clock
        self.device_code, self.board_type = DEVICES[key]
        self.premium = self.board_type is BoardType.PREMIUM
        self.family = "VMP-300" if self.premium else "VMP3"
        self.time_base = _rows.TIME_BASE[self.family]
        self.address = address
        self.channels = [_Channel(FirmwareCode.KERNEL if firmware_loaded else FirmwareCode.NONE)
                         for _ in range(channels)]
        self.connection_id: int | None = None
        self._next_id = 1
        self._time: float | None = None
        self._reading: Reading | None = None
        self._link_up = True
        self._failures: list[tuple[int, int | None, frozenset[str] | None]] = []  # code, calls left, names
        self._reject_next_load: int | None = None
        self._other_reader = False  # another client drains channel 1's data before this one can
        self.buffer_words = BUFFER_WORDS
        # Ground truth for tests.
        self.calls: Counter[str] = Counter()
        self.call_threads: Counter[str] = Counter()
        self.calls_on_event_loop: list[str] = []
        self.loads: list[LoadedTechnique] = []
        self.firmware_loads: list[tuple[str, str, bool]] = []

    # --- ground truth and fault injection ------------------------------------------------------------------

    def state(self, channel: int = 0) -> ProgramState:
        """The state of ``channel`` (0-based) as the instrument has it now."""
        return self.channels[channel].state

    def fail_calls(self, code: int = COMM_FAILED, count: int | None = 1, calls: Iterable[str] | None = None,
                   ) -> None:
        """The next ``count`` calls (of the named functions, or any but conversions) return ``code``;
        ``count=None`` keeps failing until :meth:`clear_faults`."""
        self._failures.append((code, count, frozenset(calls) if calls is not None else None))

    def clear_faults(self) -> None:
        self._failures.clear()
        self._reject_next_load = None

    def reject_next_technique(self, code: int = INCOMPATIBLE_ECC) -> None:
        """The next BL_LoadTechnique fails with ``code`` (default -401, .ecc not for this firmware)."""
        self._reject_next_load = code

    def occupy_channel(self, channel: int = 0) -> None:
        """Another client (EC-Lab, a second PC) starts a program on ``channel``: loads now return -13."""
        self._advance()
        self.channels[channel].state = ProgramState.RUN
        self.channels[channel].program = None

    def other_client_reads(self, reading: bool = True) -> None:
        """Another client connected to the instrument (EC-Lab, a second PC) reads channel 1's data first:
        loads and starts succeed, the channel runs, and BL_GetData hands this client no rows."""
        self._advance()
        self._other_reader = reading
        if reading:
            self._take_from_fifo(self.channels[0], len(self.channels[0].fifo))

    def power_cycle(self, firmware_loaded: bool = False) -> None:
        """The instrument restarts: every channel stops and forgets its technique and data (the firmware too,
        unless another client loaded it again); connections are gone."""
        self._advance()
        self.channels = [_Channel(FirmwareCode.KERNEL if firmware_loaded else FirmwareCode.NONE)
                         for _ in self.channels]
        self.connection_id = None

    def drop_link(self) -> None:
        """The USB/Ethernet link goes down; the instrument keeps running its technique on its own."""
        self._link_up = False

    def restore_link(self) -> None:
        """The link is back; the old connection id is no longer valid (-1) until BL_Connect again."""
        self._link_up = True
        self.connection_id = None

    # --- saving and restoring (a resumed simulated run) ------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The channel's last reading (a new technique starts from it); the cell is saved on its own."""
        reading = self._reading
        return {"reading": None if reading is None else [reading.E_we, reading.I, reading.E_true, reading.I_true]}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`snapshot` saved (the channel stays stopped: the engine starts what follows)."""
        reading = state.get("reading") if isinstance(state, dict) else ()
        if reading is not None and not (isinstance(reading, list) and len(reading) == 4 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in reading)):
            raise StateError(f"eclib.reading: expected four numbers or null, got {reading!r}")
        self._reading = None if reading is None else Reading(*(float(v) for v in reading))

    # --- plumbing ------------------------------------------------------------------------------------------

    def _enter(self, name: str, connection_id: Any = None, channel: Any = None, *, needs_link: bool = True,
               ) -> int:
        """Bookkeeping every call does: who calls, time, faults, connection and channel checks."""
        self.calls[name] += 1
        self.call_threads[threading.current_thread().name] += 1
        try:
            asyncio.get_running_loop()
            self.calls_on_event_loop.append(name)
        except RuntimeError:
            pass
        self._advance()
        if not needs_link:
            return OK
        for position, (code, left, names) in enumerate(self._failures):
            if names is None or name in names:
                if left is not None:
                    if left <= 1:
                        del self._failures[position]
                    else:
                        self._failures[position] = (code, left - 1, names)
                return code
        if not self._link_up:
            return CONNECTION_FAILED if name == "BL_Connect" else COMM_FAILED
        if connection_id is not None and (self.connection_id is None or _value(connection_id) !=
                                          self.connection_id):
            return NOT_CONNECTED
        if channel is not None and not 0 <= _value(channel) < len(self.channels):
            return CHANNEL_NOT_PLUGGED
        return OK

    def _advance(self) -> None:
        """Run the cell up to clock(): the loaded technique while the channel runs, open circuit otherwise."""
        now = self.clock()
        if self._time is None:
            self._time = now
        channel = self.channels[0]
        while self._time < now - 1e-9:
            if channel.state is ProgramState.RUN and channel.program is not None:
                program = channel.program
                program.advance(self.cell, now - channel.start_clock)
                self._reading = program.reading
                if program.finished:
                    channel.state = ProgramState.STOP
                    self._time = channel.start_clock + program.t
                else:
                    self._time = now  # the program stops within EPS of the target
            else:
                dt = min(now - self._time, REST_CHUNK)
                self._reading = self.cell.rest(dt)
                self._time += dt
        if self._other_reader:
            self._take_from_fifo(channel, len(channel.fifo))

    @staticmethod
    def _take_from_fifo(channel: _Channel, rows: int) -> list[tuple[int, int, tuple[int, ...]]]:
        taken = [channel.fifo.popleft() for _ in range(min(rows, len(channel.fifo)))]
        channel.words -= sum(len(words) for _, _, words in taken)
        return taken

    def _present(self) -> Reading:
        if self._reading is None:
            self._reading = Reading(E_we=self.cell.ocv, I=0.0, E_true=self.cell.ocv, I_true=0.0)
        return self._reading

    def _fill_current_values(self, channel: _Channel, values: Any) -> None:
        reading = self._present()
        values.State = int(channel.state)
        values.MemFilled = 4 * channel.words
        values.TimeBase = self.time_base
        values.Ewe = reading.E_we
        values.EweRangeMin, values.EweRangeMax = -10.0, 10.0
        values.Ece = 0.0
        values.EceRangeMin, values.EceRangeMax = -10.0, 10.0
        values.I = reading.I if channel.state is ProgramState.RUN else 0.0
        values.IRange = int(channel.technique.values.get("I_Range", [12])[0]) if channel.technique else 12
        values.ElapsedTime = channel.program.t if channel.program is not None else 0.0
        values.Eoverflow = values.Ioverflow = values.Saturation = values.OptErr = values.OptPos = 0
        values.Freq = values.Rcomp = 0.0

    # --- connection ----------------------------------------------------------------------------------------

    def BL_GetLibVersion(self, version: Any, size: Any) -> int:
        self._enter("BL_GetLibVersion", needs_link=False)
        capacity = _target(size)
        if len(LIBRARY_VERSION) + 1 > capacity.value:
            capacity.value = len(LIBRARY_VERSION) + 1
            return INVALID_PARAMETERS
        ctypes.memmove(version, LIBRARY_VERSION + b"\0", len(LIBRARY_VERSION) + 1)
        capacity.value = len(LIBRARY_VERSION) + 1
        return OK

    def BL_Connect(self, address: Any, timeout: Any, connection_id: Any, device_info: Any) -> int:
        code = self._enter("BL_Connect")
        if code != OK:
            return code
        if _text(address).strip().upper() != self.address.upper():
            return CONNECTION_FAILED
        self.connection_id = self._next_id
        self._next_id += 1
        _target(connection_id).value = self.connection_id
        info = _target(device_info)
        info.DeviceCode = self.device_code
        info.RAMSize, info.CPU = 128, 1
        info.NumberOfChannels = info.NumberOfSlots = len(self.channels)
        info.FirmwareVersion = 606
        info.FirmwareDate_yyyy, info.FirmwareDate_mm, info.FirmwareDate_dd = 2023, 5, 12
        info.HTdisplayOn, info.NbOfConnectedPC = 0, 1
        return OK

    def BL_Disconnect(self, connection_id: Any) -> int:
        code = self._enter("BL_Disconnect", connection_id)
        if code == OK:
            self.connection_id = None
        return code

    def BL_TestConnection(self, connection_id: Any) -> int:
        return self._enter("BL_TestConnection", connection_id)

    def BL_GetChannelsPlugged(self, connection_id: Any, channels: Any, size: Any) -> int:
        code = self._enter("BL_GetChannelsPlugged", connection_id)
        if code != OK:
            return code
        for index in range(min(_value(size), MAX_SLOTS)):
            channels[index] = index < len(self.channels)
        return OK

    def BL_GetChannelInfos(self, connection_id: Any, channel: Any, info: Any) -> int:
        code = self._enter("BL_GetChannelInfos", connection_id, channel)
        if code != OK:
            return code
        index = _value(channel)
        state = self.channels[index]
        record = _target(info)
        record.Channel = index
        record.BoardVersion = 3
        record.BoardSerialNumber = 20_000 + index
        record.FirmwareCode = int(state.firmware)
        kernel = state.firmware is FirmwareCode.KERNEL
        record.FirmwareVersion = 606 if kernel else 0
        record.XilinxVersion = (0x0395 if self.premium else 0x0437) if kernel else 0
        record.AmpCode = record.NbAmps = record.MUXboard = record.GPRAboard = 0
        record.Lcboard, record.Zboard = 0, 1
        record.MemSize = 2_000_000
        record.MemFilled = 4 * state.words
        record.State = int(state.state)
        record.MaxIRange, record.MinIRange, record.MaxBandwidth = 10, 0, 9 if self.premium else 7
        record.NbOfTechniques = 1 if state.technique else 0
        return OK if kernel else FIRMWARE_NOT_LOADED

    def BL_GetChannelBoardType(self, connection_id: Any, channel: Any, board_type: Any) -> int:
        code = self._enter("BL_GetChannelBoardType", connection_id, channel)
        if code == OK:
            _target(board_type).value = int(self.board_type)
        return code

    def BL_LoadFirmware(self, connection_id: Any, channels: Any, results: Any, size: Any, show_gauge: Any,
                        force_reload: Any, firmware: Any, fpga: Any) -> int:
        code = self._enter("BL_LoadFirmware", connection_id)
        if code != OK:
            return code
        expected_firmware, expected_fpga = _schema.FIRMWARE_FILES[self.board_type]
        firmware_name, fpga_name = _schema.base_name(_text(firmware)), _schema.base_name(_text(fpga))
        self.firmware_loads.append((firmware_name, fpga_name, bool(_value(force_reload))))
        if firmware_name != expected_firmware:
            return FIRMWARE_INVALID_FILE
        if fpga_name != expected_fpga:
            return FPGA_INVALID_FILE
        for index in range(min(_value(size), MAX_SLOTS)):
            results[index] = OK
            if not channels[index]:
                continue
            if index >= len(self.channels):
                results[index] = CHANNEL_NOT_PLUGGED
                continue
            state = self.channels[index]
            if state.state is ProgramState.RUN:
                results[index] = CHANNEL_RUNNING
            elif state.firmware is not FirmwareCode.KERNEL or _value(force_reload):
                self.channels[index] = _Channel(FirmwareCode.KERNEL)
        return OK

    # --- techniques ----------------------------------------------------------------------------------------

    def _define(self, name: str, kind: ParamType, label: Any, word: int, index: Any, param: Any) -> int:
        self._enter(name, needs_link=False)
        text = _value(label)
        if not isinstance(text, bytes) or not 0 < len(text) < 64 or _value(index) < 0:
            return INVALID_PARAMETERS
        record = _target(param)
        record.ParamStr = text
        record.ParamType = int(kind)
        record.ParamVal = word
        record.ParamIndex = _value(index)
        return OK

    def BL_DefineBoolParameter(self, label: Any, value: Any, index: Any, param: Any) -> int:
        word = int(bool(_value(value)))
        return self._define("BL_DefineBoolParameter", ParamType.BOOLEAN, label, word, index, param)

    def BL_DefineSglParameter(self, label: Any, value: Any, index: Any, param: Any) -> int:
        try:
            word = _rows.float_word(float(_value(value)))
        except (OverflowError, TypeError, ValueError):
            return INVALID_PARAMETERS
        return self._define("BL_DefineSglParameter", ParamType.SINGLE, label, word, index, param)

    def BL_DefineIntParameter(self, label: Any, value: Any, index: Any, param: Any) -> int:
        number = _value(value)
        if not isinstance(number, int) or not -(1 << 31) <= number < 1 << 31:
            return INVALID_PARAMETERS  # the DLL's c_int32 argument refuses anything else
        return self._define("BL_DefineIntParameter", ParamType.INT, label, number & 0xFFFFFFFF, index, param)

    def _read_params(self, technique: str, params: Any, failure: int,
                     ) -> tuple[dict[str, list[Any]], list[tuple[str, int, ParamType, Any]]] | int:
        """Check an EccParams against the technique's table; values with defaults filled in, or an error."""
        fields = _schema.TECHNIQUES[technique][1]
        bundle = _target(params)
        values = {label: [spec.default] * spec.size for label, spec in fields.items()}
        for label, spec in fields.items():
            if spec.kind is ParamType.INT:
                values[label] = [int(v) for v in values[label]]
            elif spec.kind is ParamType.BOOLEAN:
                values[label] = [bool(v) for v in values[label]]
        sent = []
        for position in range(bundle.len):
            param = bundle.pParams[position]
            label = param.ParamStr.decode("latin-1")
            spec = fields.get(label)
            if spec is None or param.ParamType != spec.kind or not 0 <= param.ParamIndex < spec.size:
                return failure
            value = _schema.decode_value(ParamType(param.ParamType), param.ParamVal)
            values[label][param.ParamIndex] = value
            sent.append((label, param.ParamIndex, ParamType(param.ParamType), value))
        if _schema.invalid_value(technique, self.board_type, values) is not None:
            return failure
        return values, sent

    def BL_LoadTechnique(self, connection_id: Any, channel: Any, ecc_file: Any, params: Any, first: Any,
                         last: Any, display: Any) -> int:
        code = self._enter("BL_LoadTechnique", connection_id, channel)
        if code != OK:
            return code
        state = self.channels[_value(channel)]
        if state.firmware is not FirmwareCode.KERNEL:
            return FIRMWARE_NOT_LOADED
        if state.state is ProgramState.RUN:
            return CHANNEL_RUNNING
        if self._reject_next_load is not None:
            code, self._reject_next_load = self._reject_next_load, None
            return code
        if not (_value(first) and _value(last)):
            return FUNCTION_FAILED  # linked techniques are not emulated: one technique per load
        file_name = _text(ecc_file)
        parsed = _schema.parse_ecc(file_name)
        if parsed is None:
            return ECC_NOT_FOUND
        technique, suffix = parsed
        if suffix != _schema.FAMILY_SUFFIX[self.board_type]:
            return INCOMPATIBLE_ECC
        result = self._read_params(technique, params, INVALID_PARAMETERS)
        if isinstance(result, int):
            return result
        values, sent = result
        loaded = LoadedTechnique(file_name, technique, int(_schema.TECHNIQUES[technique][0]), values, sent)
        state.technique = loaded
        state.program = None
        state.fifo.clear()
        state.words = 0
        self.loads.append(loaded)
        return OK

    def BL_UpdateParameters(self, connection_id: Any, channel: Any, technique_index: Any, params: Any,
                            ecc_file: Any) -> int:
        code = self._enter("BL_UpdateParameters", connection_id, channel)
        if code != OK:
            return code
        state = self.channels[_value(channel)]
        parsed = _schema.parse_ecc(_text(ecc_file))
        if (state.technique is None or _value(technique_index) != 0 or parsed is None
                or parsed[0] != state.technique.name):
            return UPDATE_PARAMETERS
        if state.state is ProgramState.RUN:
            return CHANNEL_RUNNING  # updating a running technique is not emulated
        result = self._read_params(state.technique.name, params, UPDATE_PARAMETERS)
        if isinstance(result, int):
            return result
        state.technique.values, sent = result
        state.technique.sent = sent
        return OK

    def BL_StartChannel(self, connection_id: Any, channel: Any) -> int:
        code = self._enter("BL_StartChannel", connection_id, channel)
        if code != OK:
            return code
        state = self.channels[_value(channel)]
        if state.firmware is not FirmwareCode.KERNEL:
            return FIRMWARE_NOT_LOADED
        if state.state is ProgramState.RUN:
            return CHANNEL_RUNNING
        if state.technique is None:
            return FUNCTION_FAILED
        if _value(channel) != 0:
            return FUNCTION_FAILED  # only channel 1 is wired to the simulated cell
        state.fifo.clear()
        state.words = 0
        state.program = self._program(state)
        state.start_clock = self._time if self._time is not None else self.clock()
        state.state = ProgramState.RUN
        return OK

    def BL_StopChannel(self, connection_id: Any, channel: Any) -> int:
        code = self._enter("BL_StopChannel", connection_id, channel)
        if code != OK:
            return code
        self.channels[_value(channel)].state = ProgramState.STOP
        return OK

    def _program(self, channel: _Channel) -> Program:
        loaded = channel.technique
        assert loaded is not None

        def emit(process: int, words: tuple[int, ...]) -> None:
            if channel.words + len(words) > self.buffer_words:
                channel.skipped += 1  # the board's memory is full: the row is lost on the instrument
                return
            channel.fifo.append((process, loaded.technique_id, words))
            channel.words += len(words)

        return build_program(loaded.name, loaded.values, self._present(), emit, self.premium, self.time_base)

    # --- data ----------------------------------------------------------------------------------------------

    def BL_GetCurrentValues(self, connection_id: Any, channel: Any, values: Any) -> int:
        code = self._enter("BL_GetCurrentValues", connection_id, channel)
        if code == OK:
            self._fill_current_values(self.channels[_value(channel)], _target(values))
        return code

    def BL_GetData(self, connection_id: Any, channel: Any, buffer: Any, info: Any, values: Any) -> int:
        code = self._enter("BL_GetData", connection_id, channel)
        if code != OK:
            return code
        state = self.channels[_value(channel)]
        if state.firmware is not FirmwareCode.KERNEL:
            return FIRMWARE_NOT_LOADED
        record = _target(info)
        words: list[int] = []
        rows = 0
        columns = 0
        process = technique_id = 0
        if state.fifo:
            process, technique_id, first_row = state.fifo[0]
            columns = len(first_row)
            # Whole rows of one process only, at most 1000 words.
            while (state.fifo and state.fifo[0][0] == process and state.fifo[0][1] == technique_id
                   and len(words) + columns <= DATA_BUFFER_WORDS):
                words.extend(self._take_from_fifo(state, 1)[0][2])
                rows += 1
        elif state.technique is not None:
            technique_id = state.technique.technique_id
        target = _target(buffer)
        target[:len(words)] = words
        record.IRQskipped, state.skipped = state.skipped, 0
        record.NbRows = rows
        record.NbCols = columns
        record.TechniqueIndex = 0
        record.TechniqueID = technique_id
        record.ProcessIndex = process
        record.loop = 0
        record.StartTime = 0.0
        record.MuxPad = 0
        self._fill_current_values(state, _target(values))
        return OK

    # --- conversions (pure functions in the DLL: no connection needed) --------------------------------------

    def BL_ConvertNumericIntoSingle(self, word: Any, value: Any) -> int:
        self._enter("BL_ConvertNumericIntoSingle", needs_link=False)
        _target(value).value = _rows.word_float(_value(word) & 0xFFFFFFFF)
        return OK

    def BL_ConvertChannelNumericIntoSingle(self, word: Any, value: Any, board_type: Any) -> int:
        self._enter("BL_ConvertChannelNumericIntoSingle", needs_link=False)
        if _value(board_type) not in (1, 2, 3):
            return INVALID_PARAMETERS
        _target(value).value = _rows.word_float(_value(word) & 0xFFFFFFFF)
        return OK

    def BL_ConvertTimeChannelNumericIntoSeconds(self, words: Any, seconds: Any, time_base: Any,
                                                board_type: Any) -> int:
        self._enter("BL_ConvertTimeChannelNumericIntoSeconds", needs_link=False)
        if _value(board_type) not in (1, 2, 3):
            return INVALID_PARAMETERS
        pair = _target(words)
        base = struct.unpack("<f", struct.pack("<f", float(_value(time_base))))[0]
        _target(seconds).value = base * ((pair[0] << 32) + pair[1])
        return OK

    def BL_GetErrorMsg(self, code: Any, message: Any, size: Any) -> int:
        self._enter("BL_GetErrorMsg", needs_link=False)
        text = ERROR_CODES.get(_value(code), ("", "Unknown error"))[1].encode() + b"\0"
        capacity = _target(size)
        if len(text) > capacity.value:
            capacity.value = len(text)
            return INVALID_PARAMETERS
        ctypes.memmove(message, text, len(text))
        capacity.value = len(text)
        return OK
