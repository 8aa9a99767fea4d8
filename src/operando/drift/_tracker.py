"""The live drift tracker of one region of interest: keep it where its first frame saw it, for days.

Each science frame is registered against a keyframe (never frame to frame, whose errors add up over
thousands of frames). The keyframe is handed over when the frame no longer resembles it (contrast fading,
the electrode changing), the new one registered against the old at that moment so the offsets add up with one
small error per hand-over. The measured offset plus the correction in effect gives the specimen's drift; a
Kalman filter follows its position and velocity, and before each frame the beam is shifted to where the drift
will be at mid-scan. When the beam shift would leave its range, the stage takes the correction over and the
beam shift goes back to where it started. A registration below the confidence threshold moves nothing: the
tracker tries harder (a coarser match, older keyframes, a fresh scan) and reports the region lost after
``max_failures`` failures in a row.

Geometry: offsets are (dy, dx) in image axes (rows down, columns right) in m. A beam shift of +b moves the
content by -b (SmartSEM shifts in image axes); a stage move of +m moves the field over the specimen by +m,
so the content moves by -m seen in image axes (scan rotation and the tilt's y scale applied).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from skimage.transform import resize

from operando.constants import ELEMENTARY_CHARGE
from operando.instrument_thread import InstrumentThread
from operando.plan import RegionOfInterest
from operando.roles.microscope import Frame, Microscope, MicroscopeSettingError, StagePosition, approach_stage

from ._estimator import DriftEstimator
from ._local import displacement_field
from ._registration import Reference, Registration, RegistrationError, RegistrationSettings
from ._settings import TrackingSettings

# Registration and local fields are CPU work: off the event loop, on one shared thread that holds
# simulated time while it computes (so a simulated run does not depend on the machine's speed).
_COMPUTE = InstrumentThread("drift")
# A coarse match for recovery: only the broad structure, which survives noise, blur and fading.
_COARSE = RegistrationSettings(high_cut=0.05, low_cut=0.002, whitening=0.5)
# Beam-shift changes smaller than this share of a pixel are not worth a call to the microscope.
_DEADBAND = 0.02
# A stage position this far (m) from where the tracker left it was moved by someone else (another region).
_STAGE_TOLERANCE = 50e-9


class DriftCorrectionError(RegistrationError):
    """A correction the instrument cannot make (beyond the beam-shift range and the stage's travel)."""


@dataclass(frozen=True)
class DriftResult:
    """What the tracker measured on one science frame and what it did about it.

    ``shift`` (dy, dx) m and ``shift_px``: the frame's content relative to the region's first frame (NaN
    when not measured); ``correction``: the beam shift (x, y) m after the correction; ``displacement``:
    local displacement field (2, gy, gx) float32 m ([0] rows, [1] columns) relative to the previous
    registered frame with the global shift taken out, on the 64 px grid; ``max_local_displacement`` m;
    ``divergence`` (gy, gx) area strain; ``drift`` (dy, dx) m the specimen's drift (correction included)
    and ``velocity`` (dy, dx) m/s; ``tracking_dose`` electrons/m^2 of tracking and re-acquired frames
    since the previous science frame (add it to the region's dose).
    """

    t: float
    shift: tuple[float, float]
    shift_px: tuple[float, float]
    confidence: float
    valid: bool
    correction: tuple[float, float]
    stage_moved: bool
    displacement: np.ndarray | None
    max_local_displacement: float
    reason: str
    drift: tuple[float, float] = (math.nan, math.nan)
    velocity: tuple[float, float] = (math.nan, math.nan)
    divergence: np.ndarray | None = None
    keyframe: int = 0
    keyframe_changed: bool = False
    lost: bool = False
    tracking_dose: float = 0.0


@dataclass
class _Keyframe:
    reference: Reference
    image: np.ndarray
    offset: np.ndarray  # px (dy, dx): its content relative to the region's first frame
    index: int
    baseline: float | None = None  # best peak-to-noise ratio of a registration against it
    coarse: Reference | None = None
    tracking: Reference | None = None  # binned to the tracking frames' size


class RegionTracker:
    """Drift tracking of one region (see the module docstring); ``settings`` as TrackingSettings or the
    protocol's table."""

    def __init__(self, region: RegionOfInterest,
                 settings: TrackingSettings | Mapping[str, Any] | None = None) -> None:
        self.region = region
        self.settings = TrackingSettings.coerce(settings)
        s = self.settings
        self.estimator = DriftEstimator(s.position_noise, s.velocity_noise, jump=math.inf)
        self._keyframe: _Keyframe | None = None
        self._previous_keyframe: _Keyframe | None = None
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # last registered image and its offset (px)
        self._pixel_size: float | None = None
        self._beam_origin: tuple[float, float] | None = None  # beam shift (x, y) m when tracking began
        self._stage_correction = np.zeros(2)  # (dy, dx) m of image motion taken over by the stage
        self._stage_target: StagePosition | None = None
        self._beam_now: tuple[float, float] = (math.nan, math.nan)  # beam shift (x, y) m last set or read
        self._frame_time = 0.0
        self._tracking_dose = 0.0
        self._stage_moved = False
        self._stage_unverified = False
        self.failures = 0
        self.lost = False
        self.keyframes = 0

    # -- the contract -----------------------------------------------------------------------------------

    @property
    def holds_stage(self) -> bool:
        """True once the tracker keeps the region's stage position (it returns the stage there before each
        frame, its own corrections included)."""
        return self.settings.enabled and self._keyframe is not None and self._stage_target is not None

    async def before_frame(self, microscope: Microscope, t: float) -> None:
        """Before a science frame: take the tracking frames asked for, then shift the beam to where the drift
        will be at mid-scan (``t`` is the experiment time; predictions use the loop's clock, as frames do)."""
        s = self.settings
        if not s.enabled or self._keyframe is None:
            return
        await self.return_stage(microscope)
        if s.correct:  # another region's correction may have moved the shared beam shift since our last frame
            await self._restore_beam(microscope)
        checks = s.tracking_frames + (1 if self._stage_unverified and s.verify_stage_moves else 0)
        for _ in range(checks):
            await self._tracking_frame(microscope)
        self._stage_unverified = False
        # After a failed registration nothing moves until a registration succeeds again.
        if s.correct and not self.failures and self.estimator.measurements:
            # Feed forward: where the drift will be at mid-scan; otherwise where it was last measured.
            now = asyncio.get_running_loop().time()
            horizon = now + self._frame_time / 2 if s.feed_forward else (self.estimator.t or now)
            await self._correct(microscope, self.estimator.predict(horizon))

    async def after_frame(self, microscope: Microscope, frames: Sequence[Frame]) -> DriftResult:
        """Register the science frame against the keyframe, correct (never on a weak registration) and
        measure the local displacement field since the previous registered frame."""
        s = self.settings
        frame = self._choose(frames)
        meta = frame.metadata
        self._frame_time = max(meta.t_end - meta.t_start, 0.0)
        correction_in_effect = await self._correction_in_effect(microscope, frame)
        if not s.enabled:
            return self._result(meta.t_mid, None, None, valid=False, reason="tracking disabled")
        image = np.asarray(frame.image)
        if self._keyframe is None:
            return await self._first(microscope, frame, image, correction_in_effect)
        self._check_like_keyframe(image, meta.pixel_size)
        found = await self._measure(microscope, image, meta.pixel_size)
        if found is None:
            return self._failed(meta.t_mid, "registration below the confidence threshold against the "
                                            "keyframe, its coarse match, the previous keyframe and the last "
                                            "frame")
        registration, offset, how, measured_image = found
        self.failures = 0
        self.lost = False
        pixel = self._pixel_size or meta.pixel_size
        drift = offset * pixel + correction_in_effect
        sigma = max(10.0 / max(registration.peak_to_noise, 1e-9), 0.02) * pixel
        self.estimator.update(meta.t_mid, drift, sigma)
        changed = await self._hand_over(registration, measured_image, offset)
        displacement, largest, divergence = await self._local_field(measured_image, offset, pixel)
        self._last = (measured_image, offset)
        if s.correct:
            await self._correct(microscope, self.estimator.predict(asyncio.get_running_loop().time()))
        reason = how + ("; keyframe handed over" if changed else "")
        return self._result(meta.t_mid, offset, registration, valid=True, reason=reason, drift=drift,
                            displacement=displacement, largest=largest, divergence=divergence,
                            keyframe_changed=changed)

    # -- measuring --------------------------------------------------------------------------------------

    def _choose(self, frames: Sequence[Frame]) -> Frame:
        if not frames:
            raise RegistrationError(f"region {self.region.name!r}: no frame to track")
        wanted = self.settings.detector
        by_name = {frame.metadata.detector.lower(): frame for frame in frames}
        if wanted is not None:
            if wanted.lower() not in by_name:
                raise RegistrationError(f"region {self.region.name!r}: tracking.detector {wanted!r} was not "
                                        f"taken (frames of {', '.join(f.metadata.detector for f in frames)})")
            return by_name[wanted.lower()]
        return by_name.get("esb", frames[0])

    def _check_like_keyframe(self, image: np.ndarray, pixel_size: float) -> None:
        keyframe = self._keyframe
        assert keyframe is not None and self._pixel_size is not None
        same_pixel = math.isclose(pixel_size, self._pixel_size, rel_tol=1e-6)
        if image.shape != keyframe.image.shape or not same_pixel:
            raise RegistrationError(
                f"region {self.region.name!r}: frame of {image.shape[1]} x {image.shape[0]} px at "
                f"{pixel_size * 1e9:.4g} nm differs from its keyframe ({keyframe.image.shape[1]} x "
                f"{keyframe.image.shape[0]} px at {self._pixel_size * 1e9:.4g} nm); the region's scan "
                f"changed")

    async def _register(self, reference: Reference, image: np.ndarray) -> Registration:
        return await _COMPUTE.call(reference.register, image)

    async def _measure(self, microscope: Microscope, image: np.ndarray,
                       pixel_size: float) -> tuple[Registration, np.ndarray, str, np.ndarray] | None:
        """Offset (px) of ``image`` relative to the region's first frame, trying ever harder; None if every
        attempt stays below the confidence threshold."""
        threshold = self.settings.confidence_threshold
        keyframe = self._keyframe
        assert keyframe is not None
        registration = await self._register(keyframe.reference, image)
        if registration.confidence >= threshold:
            offset = keyframe.offset + registration.shift
            return registration, offset, "registered against the keyframe", image
        if keyframe.coarse is None:
            keyframe.coarse = await _COMPUTE.call(Reference, keyframe.image, None, _COARSE)
        candidates = [(keyframe.coarse, keyframe.offset, "recovered by a coarse match")]
        if self._previous_keyframe is not None:
            old = self._previous_keyframe
            candidates.append((old.reference, old.offset, "recovered against the previous keyframe"))
        if self._last is not None:
            last_image, last_offset = self._last
            last = await _COMPUTE.call(Reference, last_image)
            candidates.append((last, last_offset, "recovered against the last registered frame"))
        for reference, offset, how in candidates:
            attempt = await self._register(reference, image)
            if attempt.confidence >= threshold:
                return attempt, offset + attempt.shift, how, image
        if self.settings.reacquire:
            frames = await microscope.grab()
            again = self._choose(frames)
            self._tracking_dose += _dose(again)
            fresh = np.asarray(again.image)
            if fresh.shape == image.shape:
                attempt = await self._register(keyframe.reference, fresh)
                if attempt.confidence >= threshold:
                    return attempt, keyframe.offset + attempt.shift, "recovered by scanning again", fresh
        return None

    async def _hand_over(self, registration: Registration, image: np.ndarray, offset: np.ndarray) -> bool:
        """Make ``image`` the keyframe when it no longer resembles the present one."""
        keyframe = self._keyframe
        assert keyframe is not None
        # Similarity: the peak-to-noise ratio against the best this keyframe has given.
        if keyframe.baseline is None or registration.peak_to_noise > keyframe.baseline:
            keyframe.baseline = registration.peak_to_noise
            return False
        if registration.peak_to_noise >= self.settings.keyframe_similarity_threshold * keyframe.baseline:
            return False
        self._previous_keyframe = keyframe
        reference = await _COMPUTE.call(Reference, image, self._pixel_size)
        self._keyframe = _Keyframe(reference, image, offset.copy(), keyframe.index + 1)
        self.keyframes += 1
        return True

    async def _local_field(self, image: np.ndarray, offset: np.ndarray,
                           pixel: float) -> tuple[np.ndarray | None, float, np.ndarray | None]:
        s = self.settings
        if not s.local_fields or self._last is None or self._last[0].shape != image.shape:
            return None, math.nan, None
        previous, previous_offset = self._last
        moved = tuple(offset - previous_offset)
        try:
            field = await _COMPUTE.call(displacement_field, previous, image, grid=s.grid, shift=moved)
        except RegistrationError:
            return None, math.nan, None
        relative = field.relative(moved)
        return relative.in_metres(pixel), relative.largest * pixel, relative.divergence().astype(np.float32)

    async def _first(self, microscope: Microscope, frame: Frame, image: np.ndarray,
                     correction_in_effect: np.ndarray) -> DriftResult:
        meta = frame.metadata
        reference = await _COMPUTE.call(Reference, image, meta.pixel_size)
        self._pixel_size = meta.pixel_size
        self._keyframe = _Keyframe(reference, image, np.zeros(2), 0)
        self._last = (image, np.zeros(2))
        self.estimator.jump = self.settings.jump_threshold * meta.pixel_size
        self.estimator.update(meta.t_mid, correction_in_effect, 0.02 * meta.pixel_size)
        return self._result(meta.t_mid, np.zeros(2), None, valid=True, reason="first frame: the keyframe and "
                            "the position the region is held at", drift=correction_in_effect, confidence=1.0)

    async def _tracking_frame(self, microscope: Microscope) -> None:
        """One low-dose frame over the same field, registered against the keyframe binned to its size."""
        s = self.settings
        keyframe = self._keyframe
        assert keyframe is not None and self._pixel_size is not None
        scan = await microscope.scan()
        width, height = s.tracking_frame_size
        try:
            await microscope.select_detectors([self._tracking_detector()])
            await microscope.set_scan(frame_size=(width, height), dwell=s.tracking_dwell,
                                      field_width=scan.field_width)
            frames = await microscope.grab()
        finally:
            await microscope.set_scan(frame_size=(scan.frame_width, scan.frame_height), dwell=scan.dwell,
                                      pixel_size=scan.pixel_size)
            await microscope.select_detectors(self.region.detectors)
        frame = frames[0]
        self._tracking_dose += _dose(frame)
        image = np.asarray(frame.image)
        if keyframe.tracking is None or keyframe.tracking.shape != image.shape:
            binned = await _COMPUTE.call(resize, keyframe.image.astype(np.float32), image.shape,
                                         anti_aliasing=True, preserve_range=True)
            keyframe.tracking = await _COMPUTE.call(Reference, binned)
        registration = await self._register(keyframe.tracking, image)
        if registration.confidence < s.confidence_threshold:
            return  # a weak tracking frame moves nothing; the science frame will tell
        scale = frame.metadata.pixel_size / self._pixel_size
        offset = keyframe.offset + np.asarray(registration.shift) * scale
        correction = await self._correction_in_effect(microscope, frame)
        sigma = max(10.0 / registration.peak_to_noise, 0.02) * frame.metadata.pixel_size
        self.estimator.update(frame.metadata.t_mid, offset * self._pixel_size + correction, sigma)

    def _tracking_detector(self) -> str:
        if self.settings.detector is not None:
            return self.settings.detector
        for name in self.region.detectors:
            if name.lower() == "esb":
                return name
        return self.region.detectors[0]

    def _failed(self, t: float, reason: str) -> DriftResult:
        self.failures += 1
        if self.failures >= self.settings.max_failures:
            self.lost = True
            reason = f"region lost after {self.failures} failed registrations in a row ({reason})"
        return self._result(t, None, None, valid=False, reason=reason)

    # -- correcting -------------------------------------------------------------------------------------

    def _rotation(self, frame: Frame | None = None) -> float:
        return float(frame.metadata.scan_rotation) if frame is not None else self.region.scan_rotation

    def _image_to_beam(self, vector: np.ndarray) -> tuple[float, float]:
        """(dy, dx) m in image axes -> beam shift (x, y) m."""
        dy, dx = float(vector[0]), float(vector[1])
        if self.settings.beam_shift_follows_scan_rotation:
            return dx, dy
        cos, sin = math.cos(self._rotation()), math.sin(self._rotation())
        return cos * dx - sin * dy, sin * dx + cos * dy

    def _beam_to_image(self, x: float, y: float) -> np.ndarray:
        if self.settings.beam_shift_follows_scan_rotation:
            return np.array([y, x])
        cos, sin = math.cos(self._rotation()), math.sin(self._rotation())
        return np.array([-sin * x + cos * y, cos * x + sin * y])

    def _image_to_stage(self, vector: np.ndarray) -> tuple[float, float]:
        """(dy, dx) m of image motion -> the stage move (x, y) m that makes it."""
        dy, dx = float(vector[0]), float(vector[1])
        cos, sin = math.cos(self._rotation()), math.sin(self._rotation())
        return cos * dx - sin * dy, (sin * dx + cos * dy) / self.settings.stage_y_scale

    async def _correction_in_effect(self, microscope: Microscope, frame: Frame) -> np.ndarray:
        """(dy, dx) m by which the beam shift and the stage corrections moved the field for ``frame``."""
        if self._beam_origin is None:
            self._beam_origin = tuple(frame.metadata.beam_shift)  # type: ignore[assignment]
            self._stage_target = await microscope.stage_position()
        origin = self._beam_origin
        shift = frame.metadata.beam_shift
        self._beam_now = (float(shift[0]), float(shift[1]))
        return self._beam_to_image(shift[0] - origin[0], shift[1] - origin[1]) + self._stage_correction

    async def return_stage(self, microscope: Microscope) -> None:
        """If the stage was moved away (imaging another region), bring it back where this region is held
        (the engine calls this before its settling time; ``before_frame`` again, a no-op then)."""
        target = self._stage_target
        if target is None:
            return
        here = await microscope.stage_position()
        if max(abs(here.x - target.x), abs(here.y - target.y)) > _STAGE_TOLERANCE:
            await approach_stage(microscope, target.x, target.y, approach=self.settings.stage_approach)

    async def _correct(self, microscope: Microscope, drift: np.ndarray) -> None:
        """Shift the beam so the field follows ``drift`` (m, image axes); hand over to the stage when the beam
        shift would pass its limit."""
        assert self._beam_origin is not None and self._pixel_size is not None
        origin = self._beam_origin
        beam_part = np.asarray(drift, float) - self._stage_correction
        x, y = self._image_to_beam(beam_part)
        target = (origin[0] + x, origin[1] + y)
        limit = await self._beam_limit(microscope)
        if max(abs(target[0]), abs(target[1])) > limit:
            await self._move_stage(microscope, beam_part, limit)
            remaining = np.asarray(drift, float) - self._stage_correction
            x, y = self._image_to_beam(remaining)
            target = (origin[0] + x, origin[1] + y)
        current = await microscope.beam_shift()
        self._beam_now = (float(current[0]), float(current[1]))
        if max(abs(target[0] - current[0]), abs(target[1] - current[1])) < _DEADBAND * self._pixel_size:
            return
        reached = await microscope.set_beam_shift(*target)
        self._beam_now = (float(reached[0]), float(reached[1]))

    async def _restore_beam(self, microscope: Microscope) -> None:
        """Put back the beam shift this region's last frame was taken with: regions share one beam shift, and
        another region's correction is no correction of this one (after a failure nothing new moves)."""
        own = self._beam_now
        if not all(math.isfinite(value) for value in own):
            return
        current = await microscope.beam_shift()
        if max(abs(own[0] - current[0]), abs(own[1] - current[1])) >= _DEADBAND * (self._pixel_size or 0.0):
            reached = await microscope.set_beam_shift(*own)
            self._beam_now = (float(reached[0]), float(reached[1]))

    async def _beam_limit(self, microscope: Microscope) -> float:
        available = await microscope.beam_shift_range()
        reach = min(abs(available.low), abs(available.high)) * self.settings.max_beam_shift_fraction
        if self.settings.max_beam_shift is not None:
            reach = min(reach, self.settings.max_beam_shift)
        return reach

    async def _move_stage(self, microscope: Microscope, image_motion: np.ndarray, limit: float) -> None:
        assert self._stage_target is not None
        move_x, move_y = self._image_to_stage(image_motion)
        target = self._stage_target
        goal_x, goal_y = target.x + move_x, target.y + move_y
        try:
            await approach_stage(microscope, goal_x, goal_y, approach=self.settings.stage_approach)
        except MicroscopeSettingError as exc:
            raise DriftCorrectionError(
                f"region {self.region.name!r}: a drift correction of {move_x * 1e6:.3g} um, "
                f"{move_y * 1e6:.3g} um is beyond the beam shift's {limit * 1e6:.3g} um and the stage "
                f"cannot make it: {exc}") from exc
        self._stage_target = StagePosition(goal_x, goal_y, target.z, target.tilt, target.rotation)
        self._stage_correction = self._stage_correction + np.asarray(image_motion, float)
        self._stage_moved = True
        self._stage_unverified = True
        # The stage lands within its backlash and creep, not exactly: the next measurement re-anchors.
        self.estimator.restart_position()

    # -- results ----------------------------------------------------------------------------------------

    def _result(self, t: float, offset: np.ndarray | None, registration: Registration | None, *, valid: bool,
                reason: str, drift: np.ndarray | None = None, displacement: np.ndarray | None = None,
                largest: float = math.nan, divergence: np.ndarray | None = None,
                confidence: float | None = None, keyframe_changed: bool = False) -> DriftResult:
        pixel = self._pixel_size or math.nan
        shift_px = (float(offset[0]), float(offset[1])) if offset is not None else (math.nan, math.nan)
        dose, self._tracking_dose = self._tracking_dose, 0.0
        moved, self._stage_moved = self._stage_moved, False  # since the previous result
        velocity = self.estimator.velocity if self.estimator.measurements > 1 else np.full(2, math.nan)
        return DriftResult(
            t=t, shift=(shift_px[0] * pixel, shift_px[1] * pixel), shift_px=shift_px,
            confidence=confidence if confidence is not None else (registration.confidence if registration
                                                                  else 0.0),
            valid=valid, correction=self._beam_now,
            stage_moved=moved, displacement=displacement, max_local_displacement=largest,
            reason=reason,
            drift=(float(drift[0]), float(drift[1])) if drift is not None else (math.nan, math.nan),
            velocity=(float(velocity[0]), float(velocity[1])), divergence=divergence,
            keyframe=self._keyframe.index if self._keyframe else 0, keyframe_changed=keyframe_changed,
            lost=self.lost, tracking_dose=dose)


def _dose(frame: Frame) -> float:
    """Electrons per m^2 a frame deposited: current x dwell x attempts / (e x pixel area)."""
    meta = frame.metadata
    return meta.current * meta.dwell * meta.attempts / (ELEMENTARY_CHARGE * meta.pixel_size**2)
