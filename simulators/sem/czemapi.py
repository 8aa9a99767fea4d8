"""FakeCZEMApi: SmartSEM's CZEMApi.ocx seam (Get/Set/Execute/GetLimits/stage/Grab) over a simulated
Crossbeam looking at an evolving battery cross-section.

Same call names, (code, value) tuples, AP-number / DP-label typing and return codes as the real control
(see notes/czemapi_seam.md and shared/domain/zeiss-smartsem.md). Calls block like the real ones but never
sleep: timing (frame scans, stage moves, run-up, auto focus) is read from the ``clock`` callable, normally the
event loop's time, so a driver polling on simulated time sees the same sequence as on the real instrument.
All calls are serialised by a lock; the driver calls from its one instrument thread.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import catalogue as cz
from . import saved
from .damage import DamageSpec, DoseMap, electrons
from .drift import DriftModel
from .evolution import Evolution, EvolutionSpec
from .faults import Faults
from .imaging import BeamSettings, FrameGeometry, form_images, rasterise
from .scene import CrossSection, CrossSectionSpec, cross_section
from .stage import AXES, StageModel
from .tiff import write_grab
from .truth import FrameRecord, GrabRecord, ParticleTruth

_RUN_UP_TIME = 5.0
_AUTO_FOCUS_TIME = 6.0
_AUTO_FOCUS_ERROR = 0.3e-6
_NOMINAL_WD = 5.0e-3
_MAG_LIMITS = (12.0, 2.0e6)
_MMF = "CZ.MMF"


@dataclass(frozen=True)
class ScanSettings:
    """Everything about the beam and scan that a frame is made with, fixed when the freeze is commanded."""

    store: int
    field_width: float
    scan_rate: int
    rotation: float
    tilt_correction: float
    beam_shift: tuple[float, float]
    landing_voltage: float
    probe_current: float
    working_distance: float
    zone_detectors: tuple[int, int, int, int]
    brightness: float
    contrast: float
    blanked: bool
    beam_on: bool

    @property
    def size(self) -> tuple[int, int]:
        return cz.IMAGE_STORES[self.store]

    @property
    def pixel_size(self) -> float:
        return self.field_width / self.size[0]

    @property
    def frame_time(self) -> float:
        return cz.frame_time(self.scan_rate, *self.size)

    @property
    def dwell(self) -> float:
        return cz.dwell_time(self.scan_rate)


class FakeCZEMApi:
    """The CZEMApi seam over a simulated Zeiss Crossbeam (see module docstring)."""

    def __init__(
        self,
        clock: Callable[[], float],
        scene: CrossSection | CrossSectionSpec | None = None,
        seed: int = 0,
        *,
        soc_provider: Callable[[], float] | None = None,
        drift: DriftModel | None = None,
        stage: StageModel | None = None,
        faults: Faults | None = None,
        evolution: EvolutionSpec | None = None,
        damage: DamageSpec | None = None,
        beam_on: bool = True,
    ) -> None:
        self._clock = clock
        if scene is None or isinstance(scene, CrossSectionSpec):
            scene = cross_section(scene or CrossSectionSpec())
        self.scene = scene
        self.seed = seed
        self.soc_provider = soc_provider
        self.drift = drift or DriftModel(seed=seed)
        self.stage = stage or StageModel()
        self.faults = faults or Faults()
        self.damage = damage or DamageSpec()
        self.evolution = Evolution(scene, evolution or EvolutionSpec(), seed=seed)
        self.dose_map = DoseMap(scene.extent)
        self._rng = np.random.default_rng([seed, 0xF0C5])
        self._lock = threading.RLock()
        self._t0 = clock()
        self._mode: str | None = None  # 'local' after Initialise, 'remote' after InitialiseRemoting
        # The stage position at which the field centre shows the scene origin, and the in-focus geometry.
        self.sample_origin = self.stage.position[:2].copy()
        self._z_in_focus = float(self.stage.position[2])
        # Column and scan state, SI units except where SmartSEM uses % or degrees.
        self._kv = 2000.0
        self._probe_current = 1e-9
        self._wd = _NOMINAL_WD
        self._store = 0
        self._field_width = 87.04e-6
        self._scan_rate = 5
        self._rotation = 0.0
        self._rotation_on = False
        self._tilt_correction = -36.0
        self._beam_shift = [0.0, 0.0]
        self._brightness = 50.0
        self._contrast = 50.0
        self._freeze_on = 0
        self._zone = 0
        self._zone_detectors = [0, 2, 1, 0]
        self._blanking = False
        self._eht_on = beam_on
        self._run_up_end = -math.inf
        self._fib_mode = 0
        self._auto_focus_end: float | None = None
        self._strings = {
            "SV_SERIAL_NUMBER": "4310-55-SIM",
            "SV_VERSION": "V06.06.02.00 (simulated)",
            "SV_USER_NAME": "operando",
            "SV_SAMPLE_ID": "",
            "SV_USER_TEXT": "",
        }
        now = self._now()
        self._scan_origin = now
        self._frozen_at: float | None = None
        self._frozen_settings: ScanSettings | None = None
        self._frozen_frame: FrameRecord | None = None
        self._dose_time = now
        self._serial = 0
        self._saved: dict[str, Any] = {}  # the last snapshot and its encoded dose map
        self._last_grab: np.ndarray | None = None
        self.memory_mapped_frame: np.ndarray | None = None
        self.frames: list[FrameRecord] = []
        self.grabs: list[GrabRecord] = []

    # === saving and restoring (a resumed simulated run) ================================================
    def snapshot(self) -> dict[str, Any] | None:
        """The microscope's physical state (specimen, dose, drift clock, stage, beam shift) as JSON values
        (:mod:`.saved`); never waits: while a call holds the fake (a frame being scanned) the last one taken
        is returned (None before the first)."""
        if not self._lock.acquire(blocking=False):
            return self._saved.get("last")
        try:
            self._saved["last"] = saved.snapshot(self, self._saved)
            return self._saved["last"]
        finally:
            self._lock.release()

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot` (of a fake of the same scene and seed)."""
        with self._lock:
            saved.restore(self, state)

    # === time, state advance ==========================================================================
    def _now(self) -> float:
        return float(self._clock())

    def elapsed(self, t: float | None = None) -> float:
        """Seconds since the fake was created, on its clock (the drift model's time axis)."""
        return (self._now() if t is None else t) - self._t0

    def _settings(self) -> ScanSettings:
        return ScanSettings(
            store=self._store,
            field_width=self._field_width,
            scan_rate=self._scan_rate,
            rotation=self._rotation if self._rotation_on else 0.0,
            tilt_correction=self._tilt_correction,
            beam_shift=(self._beam_shift[0], self._beam_shift[1]),
            landing_voltage=self._kv,
            probe_current=self._probe_current,
            working_distance=self._wd,
            zone_detectors=tuple(self._zone_detectors),
            brightness=self._brightness,  # type: ignore[arg-type]
            contrast=self._contrast,
            blanked=self._blanking,
            beam_on=self._beam_on(self._now()),
        )

    def _beam_on(self, now: float) -> bool:
        return self._eht_on and now >= self._run_up_end

    def _is_frozen(self, now: float) -> bool:
        return self._frozen_at is not None and now >= self._frozen_at

    def _advance(self) -> float:
        """Bring time-driven state up to now: dose, auto focus, the cell's state of charge."""
        now = self._now()
        if self._auto_focus_end is not None and now >= self._auto_focus_end:
            self._wd = self._focus_wd(now) + float(self._rng.normal(0.0, _AUTO_FOCUS_ERROR))
            self._auto_focus_end = None
        self._accrue_dose(now)
        if self.soc_provider is not None:
            self.evolution.update(float(self.soc_provider()))
        return now

    def _focus_wd(self, now: float) -> float:
        """Working distance (m) at which the milled face is in focus: moves with the stage's z."""
        return _NOMINAL_WD - (float(self.stage.true_position(now)[2]) - self._z_in_focus)

    # === geometry =====================================================================================
    def _y_scale(self, settings: ScanSettings, now: float) -> float:
        face = math.radians(90.0 - float(self.stage.true_position(now)[3]))
        return math.cos(math.radians(settings.tilt_correction)) / max(math.cos(face), 0.05)

    def _field_centres(self, times: np.ndarray) -> np.ndarray:
        """Scene point (m) under the undeflected beam at each of ``times`` (clock s): stage minus drift."""
        stage = np.array([self.stage.true_position(t)[:2] for t in times])
        drift = self.drift.at(np.maximum(times - self._t0, 0.0))
        return stage - self.sample_origin - drift

    def _geometry(self, settings: ScanSettings, row_times: np.ndarray, now: float) -> FrameGeometry:
        width, height = settings.size
        # Evaluate the (smooth) stage and drift motion at a few times and interpolate to every line.
        nodes = np.linspace(row_times[0], row_times[-1], min(len(row_times), 16))
        centres = self._field_centres(nodes)
        row_centres = np.column_stack([np.interp(row_times, nodes, centres[:, k]) for k in range(2)])
        shift = tuple(p * cz.BEAM_SHIFT_METRES_PER_PERCENT for p in settings.beam_shift)
        return FrameGeometry(
            width=width,
            height=height,
            pixel_size=settings.pixel_size,
            row_centres=row_centres,
            beam_shift=shift,  # type: ignore[arg-type]
            rotation=settings.rotation,
            y_scale=self._y_scale(settings, now),
        )

    # === dose =========================================================================================
    def _accrue_dose(self, now: float) -> None:
        start, self._dose_time = self._dose_time, now
        if now <= start or self._blanking or not self._beam_on(now):
            return
        settings = self._settings()
        geometry = self._geometry(settings, np.full(settings.size[1], now), now)
        live_until = now if self._frozen_at is None else min(max(self._frozen_at, start), now)
        if live_until > start:
            self.dose_map.add_field(electrons(self._probe_current, live_until - start), geometry.corners())
        if now > live_until:
            # Frozen and not blanked: the beam waits at the park position, the top left of the scan.
            self.dose_map.add_spot(
                electrons(self._probe_current, now - live_until), geometry.scene_point(0, 0)
            )

    # === frames =======================================================================================
    def _restart_scan(self, now: float) -> None:
        self._scan_origin = now
        self._frozen_at = None
        self._frozen_settings = None
        self._frozen_frame = None

    def _frame_until(self, stop: float, settings: ScanSettings) -> FrameRecord:
        """The frame buffer as it stands at ``stop``: lines of the frame in progress, the rest from the one
        before (never scanned lines are invalid: they read black)."""
        width, height = settings.size
        period = settings.frame_time
        line_time = (period - cz.FRAME_OVERHEAD) / height
        elapsed = max(stop - self._scan_origin, 0.0)
        index = int(math.floor(elapsed / period + 1e-9))
        start = self._scan_origin + index * period
        lines_done = int(
            np.clip(math.floor((stop - start - cz.FRAME_OVERHEAD) / line_time + 1e-9), 0, height)
        )
        if lines_done == 0 and index > 0:
            index, start, lines_done = index - 1, start - period, height
        rows = np.arange(height)
        current = rows < lines_done
        row_start = np.where(current, start, start - period)
        row_times = row_start + cz.FRAME_OVERHEAD + (rows + 0.5) * line_time
        valid = current | (start - period >= self._scan_origin - 1e-9)
        geometry = self._geometry(settings, row_times, stop)
        self._serial += 1
        t_start = start if lines_done == height else start - period
        mid_row = height // 2
        t_mid = row_times[mid_row]
        record = FrameRecord(
            serial=self._serial,
            t_start=float(t_start),
            t_end=float(t_start + period),
            geometry=geometry,
            detectors=tuple(dict.fromkeys(cz.DETECTORS[d] for d in settings.zone_detectors)),
            valid_rows=valid,
            drift_mid=self.drift.at(max(t_mid - self._t0, 0.0)),
            stage_mid=self.stage.true_position(t_mid),
            settings={"scan": settings},
        )
        return record

    def _render(self, frame: FrameRecord) -> None:
        if frame.images:
            return
        settings: ScanSettings = frame.settings["scan"]
        beam = BeamSettings(
            landing_voltage=settings.landing_voltage,
            probe_current=settings.probe_current,
            dwell=settings.dwell,
            focus_error=settings.working_distance - self._focus_wd(frame.t_end),
            beam_reaches_sample=settings.beam_on and not settings.blanked,
            brightness=settings.brightness,
            contrast=settings.contrast,
        )
        materials = rasterise(self.scene, self.evolution, frame.geometry)
        rng = np.random.default_rng([self.seed, frame.serial])
        images = form_images(
            materials, beam, frame.detectors, settings.pixel_size, self.dose_map, rng, self.damage
        )
        for image in images.values():
            image[~frame.valid_rows] = 0.0
        # Only the newest frame keeps its pixels: a days-long run must not hold every frame in memory.
        if self.frames:
            self.frames[-1].images = {}
        frame.images = images
        frame.soc = self.evolution.soc
        self.frames.append(frame)

    # === the seam: connection =========================================================================
    def _gate(self, method: str, *, initialising: bool = False) -> int:
        """Code every call answers before doing anything: server gone, not initialised, or OK."""
        self.faults.delay(method)
        if self.faults.server_gone:
            return (
                cz.REMOTING_FAILED_TO_CONNECT if method == "InitialiseRemoting" else self.faults.server_code
            )
        if not initialising and self._mode is None:
            return cz.NOT_INITIALISED
        return cz.OK

    def Initialise(self, machine: str = "") -> int:  # noqa: N802
        """Local connection on the SmartSEM PC: grabs are 16-bit."""
        with self._lock:
            code = self._gate("Initialise", initialising=True)
            if code == cz.OK:
                self._mode = "local"
            return code

    def InitialiseRemoting(self) -> int:  # noqa: N802
        """Connection through Remoting: grabs are 8-bit."""
        with self._lock:
            code = self._gate("InitialiseRemoting", initialising=True)
            if code == cz.OK:
                self._mode = "remote"
            return code

    def ClosingControl(self) -> int:  # noqa: N802
        with self._lock:
            self.faults.delay("ClosingControl")
            self._mode = None
            return cz.OK

    # === Get / Set / GetLimits ========================================================================
    def Get(self, name: str, as_string: bool = False) -> tuple[int, float | str]:  # noqa: N802
        with self._lock:
            code = self._gate("Get")
            if code != cz.OK:
                return code, 0.0
            now = self._advance()
            if not isinstance(name, str):
                return cz.GET_BAD_PARAMETER, 0.0
            if name in self._strings:
                return cz.OK, self._strings[name]
            if name.startswith("DP_"):
                label = self._dp_label(name, now)
                return (cz.GET_TRANSLATE_FAIL, 0.0) if label is None else (cz.OK, label)
            reading = self._ap_value(name, now)
            if reading is None:
                return cz.GET_TRANSLATE_FAIL, 0.0
            value, unit = reading
            return cz.OK, (cz.display_quantity(value, unit) if as_string else value)

    def _ap_value(self, name: str, now: float) -> tuple[float, str] | None:
        settings_size = cz.IMAGE_STORES[self._store]
        pixel = self._field_width / settings_size[0]
        if name.startswith("AP_STAGE_AT_") and name[12:].lower() in AXES:
            axis = AXES.index(name[12:].lower())
            return float(self.stage.reported(now)[axis]), "°" if axis in (3, 4) else "m"
        for prefix, bound in (
            ("AP_STAGE_HIGH_", self.stage.limits.high),
            ("AP_STAGE_LOW_", self.stage.limits.low),
        ):
            if name.startswith(prefix) and name[len(prefix) :].lower() in AXES:
                axis = AXES.index(name[len(prefix) :].lower())
                return float(bound[axis]), "°" if axis in (3, 4) else "m"
        if name.startswith("AP_STAGE_GOTO_") and name[14:].lower() in AXES:
            axis = AXES.index(name[14:].lower())
            return float(self.stage._target[axis]), "°" if axis in (3, 4) else "m"
        frame = cz.frame_time(self._scan_rate, *settings_size)
        actual_kv = 0.0
        if self._eht_on:
            actual_kv = (
                self._kv
                if now >= self._run_up_end
                else self._kv * max(0.0, 1.0 - (self._run_up_end - now) / _RUN_UP_TIME)
            )
        table: dict[str, tuple[float, str]] = {
            "AP_MANUALKV": (self._kv, "V"),
            "AP_TARGETKV": (self._kv, "V"),
            "AP_ACTUALKV": (actual_kv, "V"),
            "AP_IPROBE": (self._probe_current, "A"),
            "AP_WD": (self._wd, "m"),
            "AP_MAG": (cz.MAGNIFICATION_FIELD_PRODUCT / self._field_width, "X"),
            "AP_PIXEL_SIZE": (pixel, "m"),
            "AP_IMAGE_PIXEL_SIZE": (pixel, "m"),
            "AP_WIDTH": (self._field_width, "m"),
            "AP_HEIGHT": (self._field_width * settings_size[1] / settings_size[0], "m"),
            "AP_BEAMSHIFT_X": (self._beam_shift[0], "%"),
            "AP_BEAMSHIFT_Y": (self._beam_shift[1], "%"),
            "AP_SCANROTATION": (self._rotation, "°"),
            "AP_TILT_ANGLE": (self._tilt_correction, "°"),
            "AP_FRAME_TIME": (frame * 1e3, "ms"),
            "AP_LINE_TIME": ((frame - cz.FRAME_OVERHEAD) / settings_size[1] * 1e3, "ms"),
            "AP_BRIGHTNESS": (self._brightness, "%"),
            "AP_CONTRAST": (self._contrast, "%"),
        }
        return table.get(name)

    def _dp_index(self, name: str, now: float) -> int | None:
        table = {
            "DP_FREEZE_ON": self._freeze_on,
            "DP_FROZEN": int(self._is_frozen(now)),
            "DP_SCAN_ROT": int(self._rotation_on),
            "DP_BEAM_BLANKING": int(self._blanking),
            "DP_BEAM_BLANKED": int(self._blanking),
            "DP_STAGE_IS": int(self.stage.busy(now)),
            "DP_RUNUPSTATE": 0 if not self._eht_on else (2 if now >= self._run_up_end else 1),
            "DP_AUTO_FUNCTION": int(self._auto_focus_end is not None),
            "DP_FIB_MODE": self._fib_mode,
            "DP_ZONE": self._zone,
            "DP_SCANRATE": self._scan_rate,
        }
        return table.get(name)

    def _dp_label(self, name: str, now: float) -> str | None:
        if name == "DP_IMAGE_STORE":
            return "{} * {}".format(*cz.IMAGE_STORES[self._store])
        if name == "DP_DETECTOR_CHANNEL":
            return cz.DETECTORS[self._zone_detectors[self._zone]]
        index = self._dp_index(name, now)
        return None if index is None else cz.LABELS[name][index]

    def GetLimits(self, name: str) -> tuple[int, float, float]:  # noqa: N802
        with self._lock:
            code = self._gate("GetLimits")
            if code != cz.OK:
                return code, 0.0, 0.0
            self._advance()
            limits = self._limits(name)
            if limits is None:
                return cz.GET_LIMITS_FAIL, 0.0, 0.0
            return cz.OK, float(limits[0]), float(limits[1])

    def _limits(self, name: str) -> tuple[float, float] | None:
        width = cz.IMAGE_STORES[self._store][0]
        field = (
            cz.MAGNIFICATION_FIELD_PRODUCT / _MAG_LIMITS[1],
            cz.MAGNIFICATION_FIELD_PRODUCT / _MAG_LIMITS[0],
        )
        table = {
            "AP_MANUALKV": (20.0, 30000.0),
            "AP_IPROBE": (1e-12, 100e-9),
            "AP_WD": (1e-4, 0.05),
            "AP_MAG": _MAG_LIMITS,
            "AP_PIXEL_SIZE": (field[0] / width, field[1] / width),
            "AP_WIDTH": field,
            "AP_BEAMSHIFT_X": (-100.0, 100.0),
            "AP_BEAMSHIFT_Y": (-100.0, 100.0),
            "AP_SCANROTATION": (0.0, 360.0),
            "AP_TILT_ANGLE": (-89.0, 89.0),
            "AP_BRIGHTNESS": (0.0, 100.0),
            "AP_CONTRAST": (0.0, 100.0),
            "DP_IMAGE_STORE": (0.0, float(max(cz.IMAGE_STORES))),
            "DP_DETECTOR_CHANNEL": (0.0, float(max(cz.DETECTORS))),
        }
        for axis, letter in enumerate(AXES):
            table[f"AP_STAGE_GOTO_{letter.upper()}"] = (
                self.stage.limits.low[axis],
                self.stage.limits.high[axis],
            )
        for dp, labels in cz.LABELS.items():
            table.setdefault(dp, (0.0, float(len(labels) - 1)))
        return table.get(name)

    def Set(self, name: str, value: float | str) -> int:  # noqa: N802
        with self._lock:
            code = self._gate("Set")
            if code != cz.OK:
                return code
            now = self._advance()
            if not isinstance(name, str):
                return cz.SET_BAD_PARAMETER
            if name in self._strings:
                if name not in ("SV_SAMPLE_ID", "SV_USER_TEXT"):
                    return cz.SET_BAD_PARAMETER
                self._strings[name] = str(value)
                return cz.OK
            if name.startswith("DP_"):
                return self._set_dp(name, value, now)
            return self._set_ap(name, value, now)

    def _set_ap(self, name: str, value: float | str, now: float) -> int:
        if self._ap_value(name, now) is None:
            return cz.SET_TRANSLATE_FAIL
        limits = self._limits(name)
        if limits is None:
            return cz.SET_BAD_PARAMETER  # a read-only analogue value (AP_ACTUALKV, AP_STAGE_AT_X, ...)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return cz.SET_BAD_VALUE
        if not math.isfinite(number):
            return cz.SET_BAD_VALUE
        if number < limits[0]:
            return cz.SET_FLOAT_LIMIT_LOW
        if number > limits[1]:
            return cz.SET_FLOAT_LIMIT_HIGH
        scan_changing = name in ("AP_MAG", "AP_PIXEL_SIZE", "AP_WIDTH", "AP_WD")
        if scan_changing and self._auto_focus_end is not None:
            return cz.PARAMETER_IS_DISABLED
        width = cz.IMAGE_STORES[self._store][0]
        if name.startswith("AP_STAGE_GOTO_"):
            target = self.stage.reported(now)
            target[AXES.index(name[14:].lower())] = number
            return self._start_move(target, now)
        if name == "AP_MAG":
            self._field_width = cz.MAGNIFICATION_FIELD_PRODUCT / number
        elif name == "AP_PIXEL_SIZE":
            self._field_width = number * width
        elif name == "AP_WIDTH":
            self._field_width = number
        elif name in ("AP_MANUALKV",):
            self._kv = number
        elif name == "AP_IPROBE":
            self._probe_current = number
        elif name == "AP_WD":
            self._wd = number
        elif name == "AP_BEAMSHIFT_X":
            self._beam_shift[0] = number
        elif name == "AP_BEAMSHIFT_Y":
            self._beam_shift[1] = number
        elif name == "AP_SCANROTATION":
            self._rotation = number
        elif name == "AP_TILT_ANGLE":
            self._tilt_correction = number
        elif name == "AP_BRIGHTNESS":
            self._brightness = number
        elif name == "AP_CONTRAST":
            self._contrast = number
        if name in ("AP_MAG", "AP_PIXEL_SIZE", "AP_WIDTH", "AP_SCANROTATION") and not self._is_frozen(now):
            self._restart_scan(now)
        return cz.OK

    def _set_dp(self, name: str, value: float | str, now: float) -> int:
        if name == "DP_IMAGE_STORE":
            labels = {"{} * {}".format(*size): index for index, size in cz.IMAGE_STORES.items()}
        elif name == "DP_DETECTOR_CHANNEL":
            labels = {label: index for index, label in cz.DETECTORS.items()}
        elif name in cz.LABELS:
            labels = {label: index for index, label in enumerate(cz.LABELS[name])}
        else:
            return cz.SET_TRANSLATE_FAIL
        if name in cz.READ_ONLY_DP:
            return cz.SET_BAD_PARAMETER
        if isinstance(value, str):
            if value not in labels:
                return cz.SET_BAD_VALUE
            index = labels[value]
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return cz.SET_BAD_VALUE
            if not math.isfinite(number) or number != int(number) or int(number) not in labels.values():
                return cz.SET_BAD_VALUE
            index = int(number)
        if name in ("DP_IMAGE_STORE", "DP_SCANRATE") and self._auto_focus_end is not None:
            return cz.PARAMETER_IS_DISABLED
        if name == "DP_IMAGE_STORE":
            self._store = index
            self._restart_scan(now)  # changing the store resolution unfreezes the image
        elif name == "DP_SCANRATE":
            self._set_scan_rate(index, now)
        elif name == "DP_DETECTOR_CHANNEL":
            self._zone_detectors[self._zone] = index
        elif name == "DP_ZONE":
            self._zone = index
        elif name == "DP_FREEZE_ON":
            self._freeze_on = index
        elif name == "DP_SCAN_ROT":
            self._rotation_on = bool(index)
            if not self._is_frozen(now):
                self._restart_scan(now)
        elif name == "DP_BEAM_BLANKING":
            self._blanking = bool(index)
        elif name == "DP_FIB_MODE":
            self._fib_mode = index
        elif name == "DP_DISPLAY_CHANNELS":
            pass  # the fake always scans all four zones
        return cz.OK

    def _set_scan_rate(self, rate: int, now: float) -> None:
        self._scan_rate = rate
        if not self._is_frozen(now):
            self._restart_scan(now)

    # === Execute ======================================================================================
    def Execute(self, command: str) -> int:  # noqa: N802
        with self._lock:
            code = self._gate("Execute")
            if code != cz.OK:
                return code
            now = self._advance()
            if not isinstance(command, str):
                return cz.EXEC_TRANSLATE_FAIL
            if command.startswith("CMD_SCANRATE") and command[12:].isdigit() and 0 <= int(command[12:]) <= 15:
                if self._auto_focus_end is not None:
                    return cz.PARAMETER_IS_DISABLED
                self._set_scan_rate(int(command[12:]), now)
                return cz.OK
            handler = {
                "CMD_FREEZE_ALL": self._freeze,
                "CMD_UNFREEZE_ALL": self._unfreeze,
                "CMD_BEAM_ON": self._beam_on_command,
                "CMD_EHT_OFF": self._eht_off,
                "CMD_BEAM_OFF": self._eht_off,
                "CMD_MODE_NORMAL": lambda now: cz.OK,
                "CMD_STAGE_ABORT": self._stage_abort,
                "CMD_AUTO_FOCUS_FINE": self._auto_focus,
                "CMD_ABORT_AUTO": self._abort_auto,
                "CMD_FIB_MODE_SEM": lambda now: self._fib(0),
                "CMD_FIB_MODE_FIB": lambda now: self._fib(1),
            }.get(command)
            return cz.EXEC_TRANSLATE_FAIL if handler is None else handler(now)

    def _freeze(self, now: float) -> int:
        if self._frozen_at is not None:
            return cz.OK
        settings = self._settings()
        if self._freeze_on == 0:  # End Frame: the frame in progress completes first
            period = settings.frame_time
            frames = max(1, math.ceil((now - self._scan_origin) / period - 1e-9))
            self._frozen_at = self._scan_origin + frames * period
        elif self._freeze_on == 1:  # End Line
            width, height = settings.size
            line = (settings.frame_time - cz.FRAME_OVERHEAD) / height
            start = (
                self._scan_origin
                + math.floor((now - self._scan_origin) / settings.frame_time) * settings.frame_time
            )
            lines = math.ceil(max(now - start - cz.FRAME_OVERHEAD, 0.0) / line - 1e-9)
            self._frozen_at = min(start + cz.FRAME_OVERHEAD + lines * line, start + settings.frame_time)
        else:  # Command: at once
            self._frozen_at = now
        self._frozen_settings = settings
        self._frozen_frame = None
        return cz.OK

    def _unfreeze(self, now: float) -> int:
        self._restart_scan(now)
        return cz.OK

    def _beam_on_command(self, now: float) -> int:
        if not self._eht_on:
            self._eht_on = True
            self._run_up_end = now + _RUN_UP_TIME
        return cz.OK

    def _eht_off(self, now: float) -> int:
        self._eht_on = False
        self._auto_focus_end = None
        return cz.OK

    def _stage_abort(self, now: float) -> int:
        self.stage.abort(now)
        return cz.OK

    def _auto_focus(self, now: float) -> int:
        if not self._beam_on(now) or self._blanking:
            return cz.EXEC_CMD_FAIL
        self._restart_scan(now)  # the auto function scans live
        self._auto_focus_end = now + _AUTO_FOCUS_TIME
        return cz.OK

    def _abort_auto(self, now: float) -> int:
        self._auto_focus_end = None
        return cz.OK

    def _fib(self, mode: int) -> int:
        self._fib_mode = mode
        return cz.OK

    # === stage ========================================================================================
    def GetStagePosition(self) -> tuple[int, float, float, float, float, float, float]:  # noqa: N802
        with self._lock:
            code = self._gate("GetStagePosition")
            if code != cz.OK:
                return (code, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            now = self._advance()
            x, y, z, t, r, m = (float(v) for v in self.stage.reported(now))
            return (cz.OK, x, y, z, t, r, m)

    def MoveStage(self, x: float, y: float, z: float, t: float, r: float, m: float) -> int:  # noqa: N802
        with self._lock:
            code = self._gate("MoveStage")
            if code != cz.OK:
                return code
            now = self._advance()
            try:
                target = np.array([x, y, z, t, r, m], dtype=float)
            except (TypeError, ValueError):
                return cz.MOVE_STAGE_FAIL
            return self._start_move(target, now)

    def _start_move(self, target: np.ndarray, now: float) -> int:
        if not np.all(np.isfinite(target)) or not self.stage.limits.contains(target):
            return cz.MOVE_STAGE_FAIL
        self.stage.start_move(now, target)
        if self.faults.stage_sticks:
            self.faults.stage_sticks = False
            self.stage.stuck = True
        return cz.OK

    # === grab =========================================================================================
    def Grab(self, x: int, y: int, w: int, h: int, reduction: int, filename: str) -> int:  # noqa: N802
        with self._lock:
            code = self._gate("Grab")
            if code != cz.OK:
                return code
            now = self._advance()
            if filename == _MMF and w == 0 and h == 0:
                self.memory_mapped_frame = None
                return cz.OK
            if (
                self._store > cz.LARGEST_RENDERED_STORE
                or reduction not in (-1, 0, 1, 2, 3)
                or not (0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 1024 and y + h <= 768)
            ):
                return cz.GRAB_FAIL
            if filename == _MMF and self._mode != "local":
                return cz.GRAB_FAIL  # the shared-memory grab needs the local Initialise
            if filename != _MMF and not filename.lower().endswith((".tif", ".tiff")):
                return cz.GRAB_FAIL  # BMP output is not simulated
            if self.faults.take("failing_grabs"):
                return cz.GRAB_FAIL
            frame = self._current_frame(now)
            self._render(frame)
            detector = cz.DETECTORS[frame.settings["scan"].zone_detectors[self._zone]]
            bits = 16 if self._mode == "local" or filename == _MMF else 8
            image = self._quantise(frame.images[detector], bits)
            scale = image.shape[1] / 1024
            image = image[
                int(round(y * scale)) : int(round((y + h) * scale)),
                int(round(x * scale)) : int(round((x + w) * scale)),
            ]
            image = image[:: max(reduction, 0) + 1, :: max(reduction, 0) + 1]
            if self.faults.take("stale_grabs") and self._last_grab is not None:
                image = self._last_grab.copy()
            elif self.faults.take("blank_grabs"):
                image = image.copy()
                image[image.shape[0] // 2 :] = 0
            self._last_grab = image
            if filename == _MMF:
                self.memory_mapped_frame = image.astype(np.uint16)
            else:
                try:
                    write_grab(filename, image, self._header(frame, detector))
                except OSError:
                    return cz.GRAB_FAIL
            self.grabs.append(
                GrabRecord(
                    filename=os.fspath(filename), frame=frame, detector=detector, bits=bits, shape=image.shape
                )
            )
            return cz.OK

    def _current_frame(self, now: float) -> FrameRecord:
        if self._is_frozen(now):
            if self._frozen_frame is None:
                assert self._frozen_at is not None and self._frozen_settings is not None
                self._frozen_frame = self._frame_until(self._frozen_at, self._frozen_settings)
            return self._frozen_frame
        # Live (or freezing): the display buffer as it stands now.
        return self._frame_until(now, self._settings())

    @staticmethod
    def _quantise(image: np.ndarray, bits: int) -> np.ndarray:
        top = 65535 if bits == 16 else 255
        return np.round(image * top).astype(np.uint16 if bits == 16 else np.uint8)

    def _header(self, frame: FrameRecord, detector: str) -> list[tuple[str, str]]:
        s: ScanSettings = frame.settings["scan"]
        stage = self.stage.reported(frame.t_end)
        q = cz.display_quantity
        width, height = s.size
        pairs = [
            ("AP_IMAGE_PIXEL_SIZE", f"Image Pixel Size = {q(s.pixel_size, 'm')}"),
            ("AP_PIXEL_SIZE", f"Pixel Size = {q(s.pixel_size, 'm')}"),
            ("AP_WIDTH", f"Width = {q(s.field_width, 'm')}"),
            ("AP_HEIGHT", f"Height = {q(s.field_width * height / width, 'm')}"),
            ("AP_MAG", f"Mag = {cz.MAGNIFICATION_FIELD_PRODUCT / s.field_width:.1f} X"),
            ("AP_WD", f"WD = {q(s.working_distance, 'm')}"),
            ("AP_MANUALKV", f"EHT Target = {q(s.landing_voltage, 'V')}"),
            ("AP_ACTUALKV", f"EHT = {q(s.landing_voltage if s.beam_on else 0.0, 'V')}"),
            ("AP_IPROBE", f"I Probe = {q(s.probe_current, 'A')}"),
            ("AP_BEAMSHIFT_X", f"Beam Shift X = {s.beam_shift[0]:.2f} %"),
            ("AP_BEAMSHIFT_Y", f"Beam Shift Y = {s.beam_shift[1]:.2f} %"),
            ("AP_SCANROTATION", f"Scan Rotation = {s.rotation:.2f} °"),
            ("AP_TILT_ANGLE", f"Tilt Angle = {s.tilt_correction:.2f} °"),
            ("DP_SCANRATE", f"Scan Speed = {s.scan_rate}"),
            ("AP_PIXEL_TIME", f"Dwell Time = {q(s.dwell, 's')}"),
            ("AP_FRAME_TIME", f"Cycle Time = {s.frame_time:.3f} secs"),
            ("DP_IMAGE_STORE", f"Store resolution = {width} * {height}"),
            ("DP_DETECTOR_CHANNEL", f"Signal A = {detector}"),
            ("DP_ZONE", f"Zone = {self._zone}"),
            ("DP_BEAM_BLANKED", f"Beam Blanked = {'Yes' if s.blanked else 'No'}"),
            ("AP_BRIGHTNESS", f"Brightness = {s.brightness:.1f} %"),
            ("AP_CONTRAST", f"Contrast = {s.contrast:.1f} %"),
        ]
        for axis, letter in enumerate(AXES):
            unit = "°" if axis in (3, 4) else "m"
            pairs.append(
                (
                    f"AP_STAGE_AT_{letter.upper()}",
                    f"Stage at {letter.upper()} = {q(float(stage[axis]), unit)}",
                )
            )
        pairs += [
            ("SV_SERIAL_NUMBER", f"Serial No. = {self._strings['SV_SERIAL_NUMBER']}"),
            ("SV_VERSION", f"Version = {self._strings['SV_VERSION']}"),
            ("SV_USER_NAME", f"User Name = {self._strings['SV_USER_NAME']}"),
        ]
        for key, label in (("SV_SAMPLE_ID", "Sample ID"), ("SV_USER_TEXT", "User Text")):
            if self._strings[key]:
                pairs.append((key, f"{label} = {self._strings[key]}"))
        return pairs

    # === ground truth =================================================================================
    def true_drift(self, t: float | None = None) -> np.ndarray:
        """True specimen drift (m, scene axes) at clock time ``t`` (now by default)."""
        with self._lock:
            return self.drift.at(max(self.elapsed(t), 0.0))

    def true_stage_position(self) -> np.ndarray:
        """Where the stage really is (x, y, z, m in m; t, r in deg), backlash and creep included."""
        with self._lock:
            return self.stage.true_position(self._now())

    def particles(self) -> list[ParticleTruth]:
        """True state of every particle of the cross-section at the last state of charge fed in."""
        with self._lock:
            self._advance()
            evolution = self.evolution
            centres, scales = evolution.particle_centres(), evolution.radius_scale
            return [
                ParticleTruth(
                    index=p.index,
                    centre=centres[p.index],
                    radius=p.radius * scales[p.index],
                    depth=p.depth,
                    distance_to_separator=p.distance_to_separator,
                    local_soc=float(evolution.local_soc[p.index]),
                    crack_width=float(evolution.crack_width[p.index]),
                    decohesion_gap=float(evolution.decohesion_gap[p.index]),
                    crack_path=p.raster()[2] * scales[p.index] + centres[p.index],
                )
                for p in self.scene.particles
            ]

    def displacement_at(self, points: np.ndarray) -> np.ndarray:
        """True displacement (m) of the material at reference scene ``points`` (n, 2)."""
        with self._lock:
            self._advance()
            return self.evolution.displacement_at(points)

    def dose_at(self, points: np.ndarray) -> np.ndarray:
        """Cumulative electron dose (e-/nm^2) received at scene ``points`` (n, 2) so far."""
        with self._lock:
            self._advance()
            return self.dose_map.at(points)

    def view_centre(self) -> np.ndarray:
        """Scene point (m) at the centre of the field now, beam shift included."""
        with self._lock:
            now = self._now()
            settings = self._settings()
            return self._geometry(settings, np.full(settings.size[1], now), now).scene_point(
                (settings.size[1] - 1) / 2.0, (settings.size[0] - 1) / 2.0
            )
