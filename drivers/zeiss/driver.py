"""The async Zeiss SmartSEM driver: fills the Microscope role over a CZEMApi seam (COM, bridge or simulator).

Every seam call runs on one InstrumentThread and every wait goes through the event loop. Settings are checked
against the microscope's own limits before anything is set; the beam stays blanked except while it scans.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from operando.errors import InstrumentError
from operando.instrument_thread import InstrumentThread
from operando.roles.instrument import InstrumentInfo
from operando.roles.microscope import (
    BeamState,
    Frame,
    FrameMetadata,
    MicroscopeSettingError,
    Range,
    ScanSettings,
    StageLimits,
    StagePosition,
)
from operando.units import format_quantity

from .config import (
    ZeissConfig,
    dwell_of_scan_rate,
    parse_scan_rate_label,
    parse_store_label,
    scan_rate_for_dwell,
)
from .errors import (
    API_E_GRAB_FAIL,
    API_E_NOT_INITIALISED,
    API_OK,
    INSTRUMENT,
    CallTimeout,
    FrameRejected,
    GrabFailed,
    StageTimeout,
    check,
)
from .frames import GrabbedImage, frame_problem, read_grab
from .seam import CZEMApiSeam

log = logging.getLogger(__name__)

_STAGE_AXES = ("X", "Y", "Z", "T", "R")
_INITIALISING = ("Initialise", "InitialiseRemoting", "ClosingControl")
_GRAB_RECTANGLE = (0, 0, 1024, 768)  # SmartSEM's 1024x768 reference frame: the whole store is saved
# Parameters whose SmartSEM display strings go into the settings snapshot.
_SNAPSHOT = ("AP_MANUALKV", "AP_ACTUALKV", "AP_IPROBE", "AP_WD", "AP_MAG", "AP_PIXEL_SIZE", "AP_WIDTH",
             "AP_HEIGHT", "AP_FRAME_TIME", "AP_SCANROTATION", "AP_TILT_ANGLE", "AP_BEAMSHIFT_X",
             "AP_BEAMSHIFT_Y", "DP_IMAGE_STORE", "DP_SCANRATE", "DP_DETECTOR_CHANNEL", "DP_RUNUPSTATE",
             "DP_BEAM_BLANKED", "DP_SCAN_ROT", "DP_FIB_MODE", "SV_SERIAL_NUMBER", "SV_VERSION")


def _deg(radians: float) -> float:
    return math.degrees(radians)


def _finite(setting: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MicroscopeSettingError(setting, value, "expected a finite number in SI units")
    return float(value)


class ZeissMicroscope:
    """A Zeiss SmartSEM FIB-SEM (Crossbeam, Merlin, Ultra) as a :class:`operando.roles.Microscope`.

    ``seam_factory`` makes the CZEMApi seam on the instrument thread: ``ComSeam`` on the SmartSEM PC,
    ``BridgeClientSeam`` from another PC, or the simulator's fake in tests.
    """

    def __init__(self, seam_factory: Callable[[], CZEMApiSeam], config: ZeissConfig | None = None,
                 name: str = "zeiss") -> None:
        self.config = config or ZeissConfig()
        self.name = name
        self._seam_factory = seam_factory
        self._seam: CZEMApiSeam | None = None
        self._connected = False
        self._thread: InstrumentThread | None = None
        self._lock = asyncio.Lock()
        self._selected: tuple[str, ...] = (next(iter(self.config.detectors)),)
        self._previous: dict[str, np.ndarray] = {}
        self._grab_count = 0

    # -- seam access: one thread, codes checked, timeouts on the loop ------------------------------------

    async def _raw(self, method: str, *args: Any) -> Any:
        if self._seam is None or self._thread is None:
            raise InstrumentError("not connected: call connect() first", instrument=INSTRUMENT)
        result = await self._on_thread(getattr(self._seam, method), *args, what=f"{method}{args!r}")
        code = result[0] if isinstance(result, tuple) else result
        if code == API_E_NOT_INITIALISED and method not in _INITIALISING:
            # API_E_NOT_INITIALISED after a working session: the EM Server restarted. Initialise again, once.
            log.warning("SmartSEM answered %s with API_E_NOT_INITIALISED; initialising again", method)
            await self._initialise()
            result = await self._on_thread(getattr(self._seam, method), *args, what=f"{method}{args!r}")
        return result

    async def _on_thread(self, function: Callable[..., Any], *args: Any, what: str) -> Any:
        # The timeout counts the wall time the call spends on the thread: on simulated time the clock stands
        # still during a vendor call, so a simulated timeout around it could never fire (or, raced, fire at once).
        assert self._thread is not None
        try:
            return await self._thread.call_within(self.config.call_timeout, function, *args)
        except TimeoutError:
            raise CallTimeout(f"{what} did not return within {self.config.call_timeout:g} s",
                              instrument=INSTRUMENT) from None

    async def _initialise(self) -> None:
        if self.config.remote:
            check(await self._on_thread(self._seam.InitialiseRemoting, what="InitialiseRemoting()"),
                  "InitialiseRemoting()")
        else:
            check(await self._on_thread(self._seam.Initialise, "", what="Initialise('')"), "Initialise('')")

    async def _get(self, name: str, as_string: bool = False) -> float | str:
        code, value = await self._raw("Get", name, as_string)
        check(code, f"Get({name!r})")
        return value

    async def _get_float(self, name: str) -> float:
        value = await self._get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InstrumentError(f"Get({name!r}) returned {value!r}, expected a finite number",
                                  instrument=INSTRUMENT)
        return float(value)

    async def _get_label(self, name: str) -> str:
        return str(await self._get(name)).strip()

    async def _set(self, name: str, value: float | str) -> None:
        check(await self._raw("Set", name, value), f"Set({name!r}, {value!r})")

    async def _execute(self, command: str) -> None:
        check(await self._raw("Execute", command), f"Execute({command!r})")

    async def _limits(self, name: str) -> Range:
        code, low, high = await self._raw("GetLimits", name)
        check(code, f"GetLimits({name!r})")
        return Range(float(low), float(high))

    @staticmethod
    def _check_in(setting: str, value: float, limits: Range, unit: str) -> None:
        """Refuse ``value`` outside ``limits``; ``unit`` is how to show it ('deg': given in degrees)."""
        if value in limits:
            return
        show = (lambda v: f"{v:g} deg") if unit == "deg" else (lambda v: format_quantity(v, unit))
        raise MicroscopeSettingError(
            setting, show(value), f"outside the microscope's range {show(limits.low)} to {show(limits.high)}")

    # -- connection and safety ------------------------------------------------------------------------------

    async def connect(self) -> InstrumentInfo:
        """Make the seam on its thread, initialise the API, blank the beam; returns the identity. A failed
        connect releases everything it took."""
        if self._thread is None:
            self._thread = InstrumentThread(self.name)
        try:
            if self._seam is None:
                self._seam = await self._on_thread(self._seam_factory, what="making the SmartSEM seam")
            await self._initialise()
            serial = str(await self._get("SV_SERIAL_NUMBER"))
            version = str(await self._get("SV_VERSION"))
            await self.blank()
        except BaseException:
            await self._release()
            raise
        self._connected = True
        return InstrumentInfo(model="Zeiss SmartSEM", serial=serial, firmware=version,
                              driver="operando.drivers.zeiss",
                              settings={"remote": self.config.remote,
                                        "beam_shift_full_scale_m": self.config.beam_shift_full_scale,
                                        "detectors": dict(self.config.detectors)})

    async def safe_state(self) -> None:
        """Blank the beam and stop any stage move; each step is tried even when another fails."""
        problems: list[BaseException] = []
        for step in (self.blank, self._abort_stage_if_busy):
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - every safety step must be attempted
                problems.append(exc)
                log.error("safe state: %s failed: %s", step.__name__, exc)
        if problems:
            raise problems[0]

    async def _abort_stage_if_busy(self) -> None:
        if await self._get_label("DP_STAGE_IS") != "Idle":
            await self._execute("CMD_STAGE_ABORT")

    async def disconnect(self) -> None:
        """Leave the microscope safe, release the API, the link and the instrument thread."""
        try:
            if self._connected:
                try:
                    await self.safe_state()
                finally:
                    check(await self._raw("ClosingControl"), "ClosingControl()")
        finally:
            await self._release()

    async def _release(self) -> None:
        self._connected = False
        seam, self._seam = self._seam, None
        close = getattr(seam, "close", None)  # the bridge client holds a socket
        if callable(close) and self._thread is not None:
            try:
                await self._on_thread(close, what="closing the seam")
            except Exception as exc:  # noqa: BLE001 - releasing must go on
                log.warning("closing the SmartSEM seam failed: %s", exc)
        if self._thread is not None:
            self._thread.close(wait=False)
            self._thread = None

    # -- electron beam --------------------------------------------------------------------------------------

    async def beam(self) -> BeamState:
        on = await self._get_label("DP_RUNUPSTATE") == "Beam On"
        voltage = await self._get_float("AP_ACTUALKV" if on else "AP_MANUALKV")
        return BeamState(voltage=voltage, current=await self._get_float("AP_IPROBE"),
                         working_distance=await self._get_float("AP_WD"),
                         blanked=await self._get_label("DP_BEAM_BLANKED") == "Yes", on=on)

    async def set_beam(self, *, voltage: float | None = None, current: float | None = None) -> BeamState:
        """Set the accelerating voltage (V) and probe current (A), both checked against GetLimits first."""
        async with self._lock:
            changes: list[tuple[str, float]] = []
            if voltage is not None:
                voltage = _finite("voltage", voltage)
                self._check_in("voltage", voltage, await self._limits("AP_MANUALKV"), "kV")
                changes.append(("AP_MANUALKV", voltage))
            if current is not None:
                current = _finite("current", current)
                self._check_in("current", current, await self._limits("AP_IPROBE"), "nA")
                changes.append(("AP_IPROBE", current))
            for name, value in changes:
                await self._set(name, value)
        return await self.beam()

    async def blank(self) -> None:
        await self._set("DP_BEAM_BLANKING", 1.0)

    async def unblank(self) -> None:
        await self._set("DP_BEAM_BLANKING", 0.0)

    async def beam_on(self) -> None:
        """Switch EHT on and wait until SmartSEM reports 'Beam On' (run-up has intermediate states)."""
        await self._execute("CMD_BEAM_ON")
        deadline = asyncio.get_running_loop().time() + self.config.beam_on_timeout
        while (state := await self._get_label("DP_RUNUPSTATE")) != "Beam On":
            if asyncio.get_running_loop().time() > deadline:
                raise InstrumentError(f"EHT did not reach 'Beam On' within {self.config.beam_on_timeout:g} s "
                                      f"(DP_RUNUPSTATE {state!r})", instrument=INSTRUMENT)
            await asyncio.sleep(1.0)

    async def beam_off(self) -> None:
        await self.blank()
        await self._execute("CMD_EHT_OFF")

    # -- scan -----------------------------------------------------------------------------------------------

    async def _store(self) -> tuple[int, int]:
        label = await self._get_label("DP_IMAGE_STORE")
        try:
            return parse_store_label(label)
        except ValueError as exc:
            raise InstrumentError(str(exc), instrument=INSTRUMENT) from None

    async def scan(self) -> ScanSettings:
        width, height = await self._store()
        rate = parse_scan_rate_label(await self._get("DP_SCANRATE"))
        rotation_on = await self._get_label("DP_SCAN_ROT") in ("On", "Yes", "1")
        rotation = math.radians(await self._get_float("AP_SCANROTATION")) if rotation_on else 0.0
        return ScanSettings(frame_width=width, frame_height=height, dwell=dwell_of_scan_rate(rate),
                            pixel_size=await self._get_float("AP_PIXEL_SIZE"), scan_rotation=rotation,
                            tilt_correction=math.radians(await self._get_float("AP_TILT_ANGLE")))

    async def set_scan(self, *, frame_size: tuple[int, int] | None = None, dwell: float | None = None,
                       pixel_size: float | None = None, field_width: float | None = None,
                       scan_rotation: float | None = None,
                       tilt_correction: float | None = None) -> ScanSettings:
        """Set frame size (pixels), dwell (s; nearest 50 ns x 2^n), pixel size or field width (m), scan
        rotation and tilt correction (rad). All checked first; a changed frame size keeps the field of view
        unless a pixel size or field width is given too (SmartSEM's own behaviour)."""
        config = self.config
        async with self._lock:
            store_index = scan_rate = None
            if frame_size is not None:
                sizes = {tuple(size): index for index, size in config.image_stores.items()}
                try:
                    store_index = sizes[(int(frame_size[0]), int(frame_size[1]))]
                except (KeyError, TypeError, ValueError, IndexError):
                    known = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
                    raise MicroscopeSettingError("frame_size", frame_size, f"not a SmartSEM frame store; "
                                                 f"choose one of {known}") from None
            if dwell is not None:
                scan_rate = scan_rate_for_dwell(dwell, config.max_scan_rate)
                if scan_rate is None:
                    raise MicroscopeSettingError(
                        "dwell", dwell, f"SmartSEM dwells are 50 ns x 2^n, from 50 ns to "
                        f"{format_quantity(dwell_of_scan_rate(config.max_scan_rate), 'us')}")
            if pixel_size is not None and field_width is not None:
                raise MicroscopeSettingError("pixel_size", pixel_size,
                                             "give a pixel size or a field width, not both")
            target_pixel = None
            if pixel_size is not None or field_width is not None:
                current_width = (await self._store())[0]
                new_width = config.image_stores[store_index][0] if store_index is not None else current_width
                if pixel_size is not None:
                    target_pixel = _finite("pixel_size", pixel_size)
                else:
                    target_pixel = _finite("field_width", field_width) / new_width
                # SmartSEM quotes pixel-size limits for the current store; the field-width limits do not move.
                limits = await self._limits("AP_PIXEL_SIZE")
                scale = current_width / new_width
                limits = Range(limits.low * scale, limits.high * scale)
                if pixel_size is not None:
                    self._check_in("pixel_size", target_pixel, limits, "nm")
                else:
                    self._check_in("field_width", target_pixel * new_width,
                                         Range(limits.low * new_width, limits.high * new_width), "um")
            if scan_rotation is not None:
                scan_rotation = _finite("scan_rotation", scan_rotation)
                limits = await self._limits("AP_SCANROTATION")
                self._check_in("scan_rotation", _deg(scan_rotation), limits, "deg")
            if tilt_correction is not None:
                tilt_correction = _finite("tilt_correction", tilt_correction)
                self._check_in("tilt_correction", _deg(tilt_correction),
                                     await self._limits("AP_TILT_ANGLE"), "deg")
            if store_index is not None:
                await self._set("DP_IMAGE_STORE", float(store_index))
                if await self._store() != tuple(config.image_stores[store_index]):
                    raise InstrumentError(f"DP_IMAGE_STORE did not take index {store_index}",
                                          instrument=INSTRUMENT)
            if scan_rate is not None:
                await self._execute(f"CMD_SCANRATE{scan_rate}")
            if target_pixel is not None:
                await self._set("AP_PIXEL_SIZE", target_pixel)
            if scan_rotation is not None:
                await self._set("DP_SCAN_ROT", 1.0 if scan_rotation else 0.0)
                await self._set("AP_SCANROTATION", _deg(scan_rotation))
            if tilt_correction is not None:
                await self._set("AP_TILT_ANGLE", _deg(tilt_correction))
        return await self.scan()

    # -- detectors and acquisition --------------------------------------------------------------------------

    async def detectors(self) -> tuple[str, ...]:
        return tuple(self.config.detectors)

    async def select_detectors(self, names: Sequence[str]) -> tuple[str, ...]:
        """Choose the detectors the next grabs take, one frame each from the same scan (up to 4 zones)."""
        if isinstance(names, str):
            names = (names,)
        known = {name.lower(): name for name in self.config.detectors}
        chosen: list[str] = []
        for name in names:
            canonical = known.get(str(name).strip().lower())
            if canonical is None:
                raise MicroscopeSettingError("detectors", name, f"unknown detector; this microscope has "
                                             f"{', '.join(self.config.detectors)}")
            if canonical in chosen:
                raise MicroscopeSettingError("detectors", name, "detector listed twice")
            chosen.append(canonical)
        if not 1 <= len(chosen) <= 4:
            raise MicroscopeSettingError("detectors", tuple(names), "choose 1 to 4 detectors")
        self._selected = tuple(chosen)
        return self._selected

    async def selected_detectors(self) -> tuple[str, ...]:
        return self._selected

    async def _select_channel(self, zone: int, detector: str) -> None:
        """Point display zone ``zone`` at ``detector`` and check SmartSEM reads the detector's name back."""
        await self._set("DP_ZONE", float(zone))
        if await self._get_label("DP_DETECTOR_CHANNEL") != detector:
            await self._set("DP_DETECTOR_CHANNEL", float(self.config.detectors[detector]))
            label = await self._get_label("DP_DETECTOR_CHANNEL")
            if label != detector:
                index = self.config.detectors[detector]
                raise InstrumentError(f"DP_DETECTOR_CHANNEL index {index} reads back {label!r}, not "
                                      f"{detector!r}: fix ZeissConfig.detectors",
                                      instrument=INSTRUMENT)

    def _grab_file(self, detector: str) -> str:
        """The name SmartSEM writes the next grab of ``detector`` under (in a folder of its own)."""
        self._grab_count += 1
        return f"grab-{self._grab_count}-{detector}.tif"

    @staticmethod
    def _grab_and_read(seam: CZEMApiSeam, name: str) -> tuple[int, GrabbedImage | None]:
        """On the instrument thread: Grab to a file in a fresh temporary folder, read it back, remove both
        whatever happens (file I/O stays off the loop; no folder outlives the call, however the run ends)."""
        with tempfile.TemporaryDirectory(prefix="operando-zeiss-") as folder:
            filename = os.path.join(folder, name)
            code = seam.Grab(*_GRAB_RECTANGLE, 0, filename)
            return code, (read_grab(filename) if code == API_OK else None)

    async def _scan_one_frame(self, frame_time: float) -> tuple[float, float]:
        """Unblank, restart the scan, freeze at its end, wait for DP_FROZEN, blank -> (t_start, t_end)."""
        loop = asyncio.get_running_loop()
        config = self.config
        await self.unblank()
        try:
            await self._execute("CMD_UNFREEZE_ALL")
            t_start = loop.time()
            await self._set("DP_FREEZE_ON", 0.0)  # 0 = "End Frame": freeze once the frame in progress ends
            await self._execute("CMD_FREEZE_ALL")
            await asyncio.sleep(max(frame_time + config.freeze_margin, config.min_freeze_wait))
            deadline = t_start + frame_time + config.freeze_timeout_margin
            while await self._get_label("DP_FROZEN") == "Live":
                if loop.time() > deadline:
                    raise InstrumentError(f"the frame did not freeze within {frame_time:.3g} s + "
                                          f"{config.freeze_timeout_margin:g} s", instrument=INSTRUMENT)
                await asyncio.sleep(config.frozen_poll_interval)
            t_frozen = loop.time()
        finally:
            await self.blank()
        return t_start, min(t_frozen, t_start + frame_time)

    async def grab(self) -> tuple[Frame, ...]:
        """Scan one frame and grab it from every selected detector (SBEMimage's freeze-then-grab sequence).

        A failed grab or a blank, stale or incomplete frame is retried with a fresh scan up to
        ``grab_attempts`` times, then :class:`FrameRejected` (or the last vendor error) is raised.
        """
        async with self._lock:
            if await self._get_label("DP_RUNUPSTATE") != "Beam On":
                raise InstrumentError("EHT is not on: call beam_on() before grabbing", instrument=INSTRUMENT)
            scan = await self.scan()
            store = (scan.frame_height, scan.frame_width)
            detectors = self._selected
            for zone, detector in enumerate(detectors):
                await self._select_channel(zone, detector)
            frame_time = await self._get_float("AP_FRAME_TIME") / 1000.0
            problem = ""
            failed: GrabFailed | None = None  # the vendor's error, when SmartSEM's Grab itself failed
            for attempt in range(1, self.config.grab_attempts + 1):
                t_start, t_end = await self._scan_one_frame(frame_time)
                images: dict[str, GrabbedImage] = {}
                problem, failed = "", None
                for zone, detector in enumerate(detectors):
                    await self._select_channel(zone, detector)
                    code, grabbed = await self._grab_on_thread(detector)
                    if code == API_E_GRAB_FAIL:  # happens now and then: a fresh scan usually cures it
                        failed = GrabFailed(code, f"Grab of {detector}")
                        problem = str(failed)
                        break
                    check(code, f"Grab of {detector}")
                    assert grabbed is not None
                    earlier = [*self._previous.values(), *(i.image for i in images.values())]
                    problem = frame_problem(grabbed.image, store, earlier, self.config.blank_threshold) or ""
                    if problem:
                        problem = f"{detector}: {problem}"
                        break
                    images[detector] = grabbed
                if not problem:
                    break
                log.warning("grab attempt %d/%d rejected: %s", attempt, self.config.grab_attempts, problem)
            else:
                raise FrameRejected(problem, self.config.grab_attempts, code=failed.code if failed else None,
                                    name=failed.name if failed else "")
            for detector, grabbed in images.items():
                self._previous[detector] = grabbed.image
            return await self._frames(images, scan, t_start, t_end, attempt)

    async def _grab_on_thread(self, detector: str) -> tuple[int, GrabbedImage | None]:
        assert self._seam is not None
        what = f"Grab of {detector}"
        code, grabbed = await self._on_thread(self._grab_and_read, self._seam, self._grab_file(detector),
                                              what=what)
        if code == API_E_NOT_INITIALISED:
            log.warning("SmartSEM answered Grab with API_E_NOT_INITIALISED; initialising again")
            await self._initialise()
            code, grabbed = await self._on_thread(self._grab_and_read, self._seam, self._grab_file(detector),
                                                  what=what)
        return code, grabbed

    async def _frames(self, images: dict[str, GrabbedImage], scan: ScanSettings, t_start: float, t_end: float,
                      attempts: int) -> tuple[Frame, ...]:
        beam = await self.beam()
        stage = await self.stage_position()
        shift = await self.beam_shift()
        frames = []
        for detector, grabbed in images.items():
            metadata = FrameMetadata(
                detector=detector, pixel_size=scan.pixel_size, dwell=scan.dwell, voltage=beam.voltage,
                current=beam.current, frame_width=scan.frame_width, frame_height=scan.frame_height,
                working_distance=beam.working_distance, scan_rotation=scan.scan_rotation, stage=stage,
                beam_shift=shift, t_start=t_start, t_end=t_end, bit_depth=grabbed.bit_depth,
                attempts=attempts,
                extra={"tilt_correction": scan.tilt_correction})
            frames.append(Frame(image=grabbed.image, metadata=metadata))
        return tuple(frames)

    # -- beam shift -----------------------------------------------------------------------------------------

    async def beam_shift_range(self) -> Range:
        """Beam shift reachable on each axis, m (the calibration of 100 % AP_BEAMSHIFT)."""
        full = self.config.beam_shift_full_scale
        return Range(-full, full)

    async def beam_shift(self) -> tuple[float, float]:
        scale = self.config.beam_shift_full_scale / 100.0
        x = await self._get_float("AP_BEAMSHIFT_X")
        return x * scale, await self._get_float("AP_BEAMSHIFT_Y") * scale

    async def set_beam_shift(self, x: float, y: float) -> tuple[float, float]:
        """Shift the beam to (x, y) m from the optical axis; both checked against the range first."""
        async with self._lock:
            limits = await self.beam_shift_range()
            percent = {}
            for axis, value in (("x", x), ("y", y)):
                value = _finite(f"beam_shift.{axis}", value)
                self._check_in(f"beam_shift.{axis}", value, limits, "um")
                percent[axis] = value / self.config.beam_shift_full_scale * 100.0
            for axis, value in percent.items():
                await self._set(f"AP_BEAMSHIFT_{axis.upper()}", value)
        return await self.beam_shift()

    # -- stage ----------------------------------------------------------------------------------------------

    async def _stage_raw(self) -> tuple[float, ...]:
        code, *position = await self._raw("GetStagePosition")
        check(code, "GetStagePosition()")
        return tuple(float(v) for v in position)

    async def stage_position(self) -> StagePosition:
        x, y, z, t, r, _m = await self._stage_raw()
        return StagePosition(x, y, z, math.radians(t), math.radians(r))

    async def stage_limits(self) -> StageLimits:
        ranges = []
        for axis in _STAGE_AXES:
            low = await self._get_float(f"AP_STAGE_LOW_{axis}")
            high = await self._get_float(f"AP_STAGE_HIGH_{axis}")
            if axis in ("T", "R"):
                low, high = math.radians(low), math.radians(high)
            ranges.append(Range(low, high))
        return StageLimits(*ranges)

    async def move_stage(self, *, x: float | None = None, y: float | None = None, z: float | None = None,
                         tilt: float | None = None, rotation: float | None = None,
                         relative: bool = False) -> StagePosition:
        """Move the stage (m, rad; ``relative`` adds to where it is), wait until it is idle and settled.

        Every target is checked against the stage limits first; a move that stays busy past the timeout is
        aborted with CMD_STAGE_ABORT and raises :class:`StageTimeout`."""
        async with self._lock:
            await self._wait_stage_idle()
            *current, m = await self._stage_raw()
            now = StagePosition(current[0], current[1], current[2], math.radians(current[3]),
                                math.radians(current[4]))
            limits = await self.stage_limits()
            target = {}
            for axis, value in (("x", x), ("y", y), ("z", z), ("tilt", tilt), ("rotation", rotation)):
                here = getattr(now, axis)
                if value is None:
                    target[axis] = here
                    continue
                value = _finite(f"stage.{axis}", value) + (here if relative else 0.0)
                unit = "deg" if axis in ("tilt", "rotation") else "mm"
                self._check_in(f"stage.{axis}", _deg(value) if unit == "deg" else value,
                               Range(_deg(getattr(limits, axis).low), _deg(getattr(limits, axis).high))
                               if unit == "deg" else getattr(limits, axis), unit)
                target[axis] = value
            goal = StagePosition(**target)
            code = await self._raw("MoveStage", goal.x, goal.y, goal.z, _deg(goal.tilt),
                                   _deg(goal.rotation), m)
            check(code, f"MoveStage({goal})")
            await asyncio.sleep(self.config.stage_poll_interval)  # SmartSEM needs a moment to report 'Busy'
            reached = await self._wait_stage_idle()
            off = max(abs(reached.x - goal.x), abs(reached.y - goal.y), abs(reached.z - goal.z))
            if off > self.config.stage_tolerance:
                raise InstrumentError(f"stage stopped {off * 1e6:.2f} um from its target {goal} "
                                      f"(at {reached})", instrument=INSTRUMENT)
            return reached

    async def wait_stage_idle(self) -> StagePosition:
        """Wait until DP_STAGE_IS reads 'Idle' (abort, StageTimeout past the timeout), then settle."""
        async with self._lock:
            return await self._wait_stage_idle()

    async def _wait_stage_idle(self) -> StagePosition:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.stage_timeout
        moved = False
        while (state := await self._get_label("DP_STAGE_IS")) != "Idle":
            moved = True
            if loop.time() > deadline:
                await self._execute("CMD_STAGE_ABORT")
                raise StageTimeout(f"stage still {state!r} after {self.config.stage_timeout:g} s; "
                                   f"move aborted (CMD_STAGE_ABORT)", instrument=INSTRUMENT)
            await asyncio.sleep(self.config.stage_poll_interval)
        if moved:
            await asyncio.sleep(self.config.stage_settle)
        return await self.stage_position()

    # -- focus and the record -------------------------------------------------------------------------------

    async def autofocus(self) -> float:
        """SmartSEM's fine autofocus (SBEMimage's sequence); returns the working distance found, m."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            await self.unblank()
            try:
                await self._execute("CMD_UNFREEZE_ALL")
                await asyncio.sleep(1.0)
                await self._execute("CMD_AUTO_FOCUS_FINE")
                await asyncio.sleep(1.0)
                deadline = loop.time() + self.config.autofocus_timeout
                while await self._get_label("DP_AUTO_FUNCTION") == "Focus":
                    if loop.time() > deadline:
                        await self._execute("CMD_ABORT_AUTO")
                        limit = self.config.autofocus_timeout
                        raise InstrumentError(f"autofocus still running after {limit:g} s; aborted "
                                              f"(CMD_ABORT_AUTO)", instrument=INSTRUMENT)
                    await asyncio.sleep(1.0)
                await self._execute("CMD_FREEZE_ALL")
            finally:
                await self.blank()
            return await self._get_float("AP_WD")

    async def settings_snapshot(self) -> dict[str, Any]:
        """Everything that describes how the microscope is set, for /entry/instruments (SI values) plus
        SmartSEM's own display strings under 'smartsem'."""
        beam = await self.beam()
        scan = await self.scan()
        stage = await self.stage_position()
        shift = await self.beam_shift()
        vendor = {}
        for name in _SNAPSHOT:
            code, value = await self._raw("Get", name, True)
            vendor[name] = value if code == API_OK else f"unavailable [{code}]"
        return {
            "voltage_V": beam.voltage, "probe_current_A": beam.current,
            "working_distance_m": beam.working_distance,
            "beam_on": beam.on, "beam_blanked": beam.blanked,
            "frame_width_px": scan.frame_width, "frame_height_px": scan.frame_height, "dwell_s": scan.dwell,
            "pixel_size_m": scan.pixel_size, "scan_rotation_rad": scan.scan_rotation,
            "tilt_correction_rad": scan.tilt_correction, "detectors": list(self._selected),
            "stage_m_rad": {"x": stage.x, "y": stage.y, "z": stage.z, "tilt": stage.tilt,
                            "rotation": stage.rotation},
            "beam_shift_m": {"x": shift[0], "y": shift[1]},
            "beam_shift_full_scale_m": self.config.beam_shift_full_scale,
            "smartsem": vendor,
        }
