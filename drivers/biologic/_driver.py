"""BioLogic potentiostat (VMP3 and VMP-300 families) over the EClib seam, as an async Potentiostat role.

Every BL_* call runs on one InstrumentThread; the event loop only awaits. Transient link errors are retried a
bounded number of times with a pause on the event loop (so simulated time runs on), a stale connection id is
replaced by one reconnect, and points already read from the instrument are kept until a read returns them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from ctypes import byref, c_float, c_int32, c_uint32, create_string_buffer
from pathlib import Path

from operando.drivers.biologic._decoding import DataChunk, decode
from operando.drivers.biologic._encoding import EncodedTechnique, encode
from operando.drivers.biologic._errors import (
    FIRM_FIRMWARENOTLOADED,
    GEN_CHANNELNOTPLUGGED,
    GEN_NOTCONNECTED,
    NOERROR,
    TRANSIENT_CODES,
    BiologicChannelBusy,
    BiologicChannelChanged,
    BiologicError,
    BiologicFirmwareError,
    error_for,
)
from operando.drivers.biologic._seam import EClibSeam
from operando.drivers.biologic._structures import (
    BOARD_FAMILIES,
    DEVICE_NAMES,
    MAX_SLOTS,
    BoardFamily,
    BoardType,
    ChannelInfo,
    ChannelsArray,
    CurrentValues,
    DataBuffer,
    DataInfo,
    DeviceInfo,
    EccParam,
    EccParams,
    FirmwareCode,
    ParamType,
    ProgramState,
    ResultsArray,
)

from operando.instrument_thread import InstrumentThread
from operando.roles.instrument import InstrumentInfo
from operando.roles.potentiostat import ImpedancePoint, Point, Readout
from operando.techniques import ConstantVoltage, Limit, Technique

log = logging.getLogger(__name__)

DRIVER_NAME = "operando.drivers.biologic"
SUPPORTED_BOARDS = (BoardType.ESSENTIAL, BoardType.PREMIUM)


def _state(code: int) -> ProgramState:
    try:
        return ProgramState(code)
    except ValueError:
        log.warning("unknown channel state %d, taken as stopped", code)
        return ProgramState.STOP


class BiologicPotentiostat:
    """One channel of a BioLogic potentiostat. ``channel`` is 1-based as on the front panel.

    ``firmware_path`` is the folder holding kernel*.bin and the FPGA files (default: the DLL's search path);
    ``retries`` bounds how often a transient communication error is retried, ``retry_delay`` s the first
    pause (doubling after each retry).
    """

    def __init__(self, seam: EClibSeam, address: str = "USB0", channel: int = 1, *,
                 firmware_path: str | Path | None = None, timeout: int = 5, retries: int = 3,
                 retry_delay: float = 0.5) -> None:
        if not isinstance(address, str) or not address.strip():
            raise BiologicError(f"address must be 'USB0'..'USB9' or an IP address, got {address!r}")
        if not (isinstance(channel, int) and 1 <= channel <= MAX_SLOTS):
            raise BiologicError(f"channel must be 1..{MAX_SLOTS} (front-panel numbering), got {channel!r}")
        if not (isinstance(timeout, int) and 1 <= timeout <= 255):
            raise BiologicError(f"timeout must be 1..255 s, got {timeout!r}")
        if not (isinstance(retries, int) and retries >= 0):
            raise BiologicError(f"retries must be a whole number >= 0, got {retries!r}")
        self.seam = seam
        self.address = address.strip()
        self.channel = channel
        self.firmware_path = Path(firmware_path) if firmware_path is not None else None
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.family: BoardFamily | None = None
        self.info: InstrumentInfo | None = None
        self.technique: EncodedTechnique | None = None
        self._thread: InstrumentThread | None = None
        self._id: int | None = None
        self._state = ProgramState.STOP
        self._points: list[Point] = []
        self._impedance: list[ImpedancePoint] = []
        self._last_current = 0.0  # A, of the last point read: which way a following voltage hold goes
        self._rows_technique: int | None = None  # DataInfo.TechniqueID of the last rows read

    @property
    def engine_limits(self) -> tuple[Limit, ...]:
        """Limits of the running technique the instrument does not test itself (the engine still does)."""
        return self.technique.engine_limits if self.technique else ()

    @property
    def _channel_index(self) -> int:
        return self.channel - 1  # EClib numbers channels from 0

    # --- plumbing -----------------------------------------------------------------------------------------

    def _instrument_thread(self) -> InstrumentThread:
        if self._thread is None:
            self._thread = InstrumentThread(f"biologic-{self.address}-ch{self.channel}")
        return self._thread

    async def _ensure_link(self) -> BoardFamily:
        """The board family once connect() has run; reopens a link a failed reconnect left closed."""
        if self.family is None:
            raise BiologicError(f"channel {self.channel} at {self.address} is not connected: call connect() "
                                "first")
        if self._id is None:
            log.warning("%s: no open connection; reconnecting", self.address)
            await self._open_link()
        return self.family

    async def _run(self, call: str, operation: Callable[[], int], context: str = "") -> None:
        """Run ``operation`` (BL_* calls, returns a code) on the thread: retry, reconnect, raise."""
        thread = self._instrument_thread()
        reconnected = False
        attempt = 0
        while True:
            code = await thread.call(operation)
            if code == NOERROR:
                return
            if code in TRANSIENT_CODES and attempt < self.retries:
                attempt += 1
                log.warning("%s: %s returned %d; retry %d of %d", self.address, call, code, attempt,
                            self.retries)
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
                continue
            if code == GEN_NOTCONNECTED and not reconnected and self._id is not None:
                # The connection id went stale (the link dropped and came back): one fresh BL_Connect.
                reconnected = True
                log.warning("%s: %s says not connected; reconnecting", self.address, call)
                await self._open_link()
                continue
            raise error_for(code, call, context)

    async def _open_link(self) -> DeviceInfo:
        connection_id = c_int32()
        device = DeviceInfo()

        def connect() -> int:
            return self.seam.BL_Connect(self.address.encode(), self.timeout, byref(connection_id),
                                        byref(device))

        self._id = None
        await self._run("BL_Connect", connect, self.address)
        self._id = connection_id.value
        return device

    def _to_float(self, word: int) -> float:
        assert self.family is not None
        value = c_float()
        code = self.seam.BL_ConvertChannelNumericIntoSingle(word, byref(value), int(self.family.board_type))
        if code != NOERROR:
            raise error_for(code, "BL_ConvertChannelNumericIntoSingle")
        return value.value

    # --- Potentiostat role --------------------------------------------------------------------------------

    async def connect(self) -> InstrumentInfo:
        """Connect, check the channel, pick the board family's files, load the firmware if it is not ours."""
        version = create_string_buffer(64)
        size = c_uint32(len(version))
        await self._run("BL_GetLibVersion", lambda: self.seam.BL_GetLibVersion(version, byref(size)))
        device = await self._open_link()
        plugged = ChannelsArray()
        await self._run("BL_GetChannelsPlugged",
                        lambda: self.seam.BL_GetChannelsPlugged(self._id, plugged, MAX_SLOTS))
        if not plugged[self._channel_index]:
            present = [n + 1 for n in range(MAX_SLOTS) if plugged[n]]
            raise error_for(GEN_CHANNELNOTPLUGGED, "BL_GetChannelsPlugged", f"channel {self.channel} is not plugged; "
                            f"plugged channels: {present}")

        board = c_uint32()
        await self._run("BL_GetChannelBoardType",
                        lambda: self.seam.BL_GetChannelBoardType(self._id, self._channel_index, byref(board)))
        try:
            board_type = BoardType(board.value)
        except ValueError:
            board_type = BoardType.UNKNOWN
        if board_type not in SUPPORTED_BOARDS:
            raise BiologicError(f"channel {self.channel} has board type {board_type.name} ({board.value}); "
                                "this driver knows the VMP3 (ESSENTIAL) and VMP-300 (PREMIUM) families")
        self.family = BOARD_FAMILIES[board_type]

        channel_info = await self._channel_info()
        if channel_info.FirmwareCode != FirmwareCode.KERNEL:
            if channel_info.State == ProgramState.RUN:
                raise BiologicChannelBusy(
                    f"channel {self.channel} runs a program under firmware {channel_info.FirmwareCode} "
                    "(EC-Lab?); stop it there, or power-cycle the instrument",
                    code=-13, name="GEN_CHANNEL_RUNNING")
            await self._load_firmware()
            channel_info = await self._channel_info()
        self._state = _state(channel_info.State)
        if self._state == ProgramState.RUN:
            log.info("%s: channel %d is already running; reading its data", self.address, self.channel)

        self.info = InstrumentInfo(
            model=DEVICE_NAMES.get(device.DeviceCode, f"device code {device.DeviceCode}"),
            serial=str(channel_info.BoardSerialNumber),
            firmware=f"kernel {channel_info.FirmwareVersion}, FPGA {channel_info.XilinxVersion:04X}",
            driver=DRIVER_NAME,
            settings={
                "address": self.address,
                "channel": self.channel,
                "board_family": self.family.name,
                "board_type": board_type.name,
                "library_version": version.value.decode("ascii", "replace"),
                "device_firmware_version": device.FirmwareVersion,
                "channels": device.NumberOfChannels,
            },
        )
        return self.info

    async def _channel_info(self) -> ChannelInfo:
        info = ChannelInfo()

        def read_info() -> int:
            code = self.seam.BL_GetChannelInfos(self._id, self._channel_index, byref(info))
            # no firmware yet: the rest of the record is still valid
            return NOERROR if code == FIRM_FIRMWARENOTLOADED else code

        await self._run("BL_GetChannelInfos", read_info)
        return info

    async def _load_firmware(self) -> None:
        family = await self._ensure_link()
        folder = self.firmware_path
        firmware = str(folder / family.firmware) if folder else family.firmware
        fpga = (str(folder / family.fpga) if folder else family.fpga) if family.fpga else ""
        channels = ChannelsArray()
        channels[self._channel_index] = True
        results = ResultsArray()

        def load() -> int:
            return self.seam.BL_LoadFirmware(self._id, channels, results, MAX_SLOTS, False, True,
                                             firmware.encode(), fpga.encode() if fpga else None)

        log.info("%s: loading %s / %s on channel %d", self.address, firmware, fpga or "-", self.channel)
        await self._run("BL_LoadFirmware", load, f"{firmware}, {fpga or 'no FPGA file'}")
        result = results[self._channel_index]
        if result != NOERROR:
            error = error_for(result, "BL_LoadFirmware", f"channel {self.channel}, {firmware}")
            raise BiologicFirmwareError(str(error), code=result, name=error.name, call="BL_LoadFirmware")

    async def start(self, technique: Technique) -> None:
        """Encode ``technique`` for this board family, load it on the channel and start it."""
        family = await self._ensure_link()
        present_potential = None
        if isinstance(technique, ConstantVoltage):
            values = CurrentValues()
            await self._run("BL_GetCurrentValues", lambda: self.seam.BL_GetCurrentValues(
                self._id, self._channel_index, byref(values)))
            present_potential = values.Ewe
        encoded = encode(technique, family, present_potential=present_potential,
                         previous_current=self._last_current)
        if self._points or self._impedance:
            log.warning("%s: %d points and %d impedance points of the previous technique were never read; "
                        "discarding them before %s", self.address, len(self._points), len(self._impedance),
                        encoded.ecc_file)
            self._points.clear()
            self._impedance.clear()
        await self._run("BL_LoadTechnique", lambda: self._load_technique(encoded), encoded.ecc_file)
        await self._run("BL_StartChannel", lambda: self.seam.BL_StartChannel(self._id, self._channel_index))
        self.technique = encoded
        self._rows_technique = None
        self._state = ProgramState.RUN
        if encoded.engine_limits:
            log.info("%s: %s leaves to the engine: %s", self.address, encoded.ecc_file,
                     ", ".join(limit.describe() for limit in encoded.engine_limits))

    def _load_technique(self, encoded: EncodedTechnique) -> int:
        params = (EccParam * len(encoded.parameters))()
        setters = {ParamType.INT: self.seam.BL_DefineIntParameter,
                   ParamType.BOOLEAN: self.seam.BL_DefineBoolParameter,
                   ParamType.SINGLE: self.seam.BL_DefineSglParameter}
        for slot, value in enumerate(encoded.parameters):
            code = setters[value.kind](value.label.encode(), value.value, value.index, byref(params[slot]))
            if code != NOERROR:
                raise error_for(code, f"BL_Define{value.kind.name.title()}Parameter",
                                f"{value.label}[{value.index}] = {value.value!r}")
        bundle = EccParams(len(encoded.parameters), params)
        return self.seam.BL_LoadTechnique(self._id, self._channel_index, encoded.ecc_file.encode(), bundle,
                                          True, True, False)

    def _drain(self) -> int:
        """BL_GetData until it hands back no rows; decoded points wait here until read() returns them."""
        assert self.family is not None
        buffer, info, values = DataBuffer(), DataInfo(), CurrentValues()
        while True:
            code = self.seam.BL_GetData(self._id, self._channel_index, buffer, byref(info), byref(values))
            if code != NOERROR:
                return code
            self._state = _state(values.State)
            if info.IRQskipped:
                log.warning("%s: the instrument skipped %d interrupts: points were lost on the device",
                            self.address, info.IRQskipped)
            if info.NbRows <= 0:
                return 0
            self._rows_technique = info.TechniqueID
            chunk = DataChunk(info.TechniqueID, info.ProcessIndex, info.StartTime, info.NbRows, info.NbCols,
                              buffer[:info.NbRows * info.NbCols])
            points, impedance = decode(chunk, self.family.board_type, values.TimeBase, self._to_float)
            self._points.extend(points)
            if points:
                self._last_current = points[-1].I
            self._impedance.extend(impedance)

    async def read(self) -> Readout:
        """Everything recorded since the last read; ``running`` is False once the technique ended, drained."""
        await self._ensure_link()
        await self._run("BL_GetData", self._drain)
        readout = Readout(points=tuple(self._points), impedance=tuple(self._impedance),
                          running=self._state == ProgramState.RUN)
        self._points.clear()
        self._impedance.clear()
        return readout

    async def check_channel(self) -> None:
        """After a link outage: raise :class:`BiologicChannelChanged` unless the channel still holds the
        technique :meth:`start` loaded (kernel firmware, a technique loaded, its rows of that technique)."""
        if self.technique is None:
            return
        info = await self._channel_info()
        expected = self.technique.ecc_file
        if info.FirmwareCode != FirmwareCode.KERNEL or info.NbOfTechniques < 1:
            raise BiologicChannelChanged(
                f"channel {self.channel} no longer holds {expected} (firmware code {info.FirmwareCode}, "
                f"{info.NbOfTechniques} technique(s) loaded): reset or power-cycled during the outage",
                call="BL_GetChannelInfos")
        if self._rows_technique is not None and self._rows_technique != int(self.technique.technique_id):
            raise BiologicChannelChanged(
                f"channel {self.channel} sends rows of technique id {self._rows_technique}, not {expected}: "
                "another program runs on it", call="BL_GetData")

    async def stop(self) -> None:
        """End the technique now; its last points stay buffered for the next read()."""
        await self._ensure_link()
        await self._run("BL_StopChannel", lambda: self.seam.BL_StopChannel(self._id, self._channel_index))
        await self._run("BL_GetData", self._drain)

    async def safe_state(self) -> None:
        """Stop the channel (open circuit) whatever happened before; log failures, never raise them."""
        try:
            if self._id is None:
                await self._open_link()
            await self._run("BL_StopChannel", lambda: self.seam.BL_StopChannel(self._id, self._channel_index))
            self._state = ProgramState.STOP
        except Exception:
            log.exception("%s: could not stop channel %d: the cell may still be under control", self.address,
                          self.channel)

    async def disconnect(self) -> None:
        """Close the connection and the instrument thread; a running technique keeps running on the device."""
        if self._thread is None:
            return
        try:
            if self._id is not None:
                connection_id = self._id
                await self._run("BL_Disconnect", lambda: self.seam.BL_Disconnect(connection_id))
        except BiologicError as error:
            log.warning("%s: disconnect failed: %s", self.address, error)
        finally:
            self._id = None
            self.family = None
            thread, self._thread = self._thread, None
            thread.close(wait=True)
