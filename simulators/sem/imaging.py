"""Image formation: the cross-section rasterised at the scan's pixel positions, seen through SE2, InLens and
ESB, with probe blur, shot noise on the electron count, scan-line noise, curtaining, detector shading,
charging and contamination fade.

Geometry and materials are computed once per frame and shared by every detector of that frame. Output images
are grey levels 0..1 (float32) as the SEM's brightness/contrast map them; the seam quantises them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from .damage import DamageSpec, DoseMap, electrons
from .evolution import Evolution
from .scene import CrossSection

# Relative signal of each material, a detector's edge (topography) gain, how much grain (channelling)
# contrast it shows, its shading across the field, curtaining strength, electrons detected per probe
# electron at 2 kV, and its signal spread (m) at 2 kV (SE2 collects SEs made by backscattered electrons).
_DETECTORS = {
    "SE2": dict(
        steel=0.55,
        nmc=0.55,
        lps=0.42,
        liin=0.50,
        void=0.05,
        edge=0.50,
        grain=0.3,
        shading=0.12,
        curtain=0.08,
        efficiency=0.25,
        spread=20e-9,
        charging=0.25,
    ),
    "InLens": dict(
        steel=0.45,
        nmc=0.62,
        lps=0.30,
        liin=0.40,
        void=0.03,
        edge=0.35,
        grain=0.5,
        shading=0.04,
        curtain=0.06,
        efficiency=0.35,
        spread=2e-9,
        charging=0.05,
    ),
    "ESB": dict(
        steel=0.62,
        nmc=0.70,
        lps=0.30,
        liin=0.85,
        void=0.01,
        edge=0.05,
        grain=1.0,
        shading=0.03,
        curtain=0.03,
        efficiency=0.03,
        spread=12e-9,
        charging=0.0,
    ),
}
DETECTOR_NAMES = tuple(_DETECTORS)
# Grey level every SE contrast fades towards as contamination builds up.
_CONTAMINATION_GREY = 0.40
# Below this many detected electrons per pixel the count is drawn from a Poisson law; above, from its normal
# approximation (indistinguishable there, and five times faster).
_POISSON_LIMIT = 200.0


@dataclass(frozen=True)
class FrameGeometry:
    """Where each pixel of a frame lands on the scene.

    ``row_centres`` (height, 2) are the scene coordinates (m) of the field centre when each line was scanned
    (stage, sample position and drift at that line's time); ``beam_shift`` (m) is in image axes;
    ``rotation`` (deg) is the effective scan rotation; ``y_scale`` turns scan y into distance on the milled
    face (tilt correction against the face's foreshortening).
    """

    width: int
    height: int
    pixel_size: float
    row_centres: np.ndarray
    beam_shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    y_scale: float = 1.0

    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        u = (np.arange(self.width) - (self.width - 1) / 2.0) * self.pixel_size + self.beam_shift[0]
        v = (np.arange(self.height) - (self.height - 1) / 2.0) * self.pixel_size + self.beam_shift[1]
        return u, v

    def scene_point(self, row: float, column: float) -> np.ndarray:
        """Scene coordinates (m) of image position (row, column), pixel centres at integers."""
        u = (column - (self.width - 1) / 2.0) * self.pixel_size + self.beam_shift[0]
        v = (row - (self.height - 1) / 2.0) * self.pixel_size + self.beam_shift[1]
        cos, sin = math.cos(math.radians(self.rotation)), math.sin(math.radians(self.rotation))
        centre = self.row_centres[int(np.clip(round(row), 0, self.height - 1))]
        return np.array([centre[0] + cos * u - sin * v, centre[1] + self.y_scale * (sin * u + cos * v)])

    def image_position(self, point: np.ndarray) -> np.ndarray:
        """(row, column) of scene ``point`` (m), taking the middle line's field centre."""
        centre = self.row_centres[self.height // 2]
        a = point[0] - centre[0]
        b = (point[1] - centre[1]) / self.y_scale
        cos, sin = math.cos(math.radians(self.rotation)), math.sin(math.radians(self.rotation))
        u, v = cos * a + sin * b, -sin * a + cos * b
        return np.array(
            [
                (v - self.beam_shift[1]) / self.pixel_size + (self.height - 1) / 2.0,
                (u - self.beam_shift[0]) / self.pixel_size + (self.width - 1) / 2.0,
            ]
        )

    def corners(self) -> np.ndarray:
        """Scene coordinates (4, 2) of the field corners: top left, top right, bottom right, bottom left."""
        last_row, last_column = self.height - 0.5, self.width - 0.5
        return np.array(
            [
                self.scene_point(-0.5, -0.5),
                self.scene_point(-0.5, last_column),
                self.scene_point(last_row, last_column),
                self.scene_point(last_row, -0.5),
            ]
        )

    def scene_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Scene x and y (m, float32 images) of every pixel centre."""
        u, v = self._axes()
        cx = self.row_centres[:, 0].astype(np.float32)[:, None]
        cy = self.row_centres[:, 1].astype(np.float32)[:, None]
        u32, v32 = u.astype(np.float32), v.astype(np.float32)
        if self.rotation == 0.0:
            x = cx + u32[None, :]
            y = np.broadcast_to(cy + np.float32(self.y_scale) * v32[:, None], x.shape).copy()
            return x, y
        cos, sin = (
            np.float32(math.cos(math.radians(self.rotation))),
            np.float32(math.sin(math.radians(self.rotation))),
        )
        x = cx + cos * u32[None, :] - sin * v32[:, None]
        y = cy + np.float32(self.y_scale) * (sin * u32[None, :] + cos * v32[:, None])
        return x, y


@dataclass(frozen=True)
class BeamSettings:
    """What the column delivers during the frame: landing energy (V), probe current (A), dwell (s), focus
    error (m, working distance minus the in-focus one), and whether any beam reaches the sample."""

    landing_voltage: float
    probe_current: float
    dwell: float
    focus_error: float = 0.0
    beam_reaches_sample: bool = True
    brightness: float = 50.0
    contrast: float = 50.0


def probe_sigma(beam: BeamSettings, detector: str) -> float:
    """Gaussian sigma (m) of the probe convolved with the detector's signal spread."""
    kilovolts = max(beam.landing_voltage, 100.0) / 1e3
    diameter = math.sqrt(
        (1.5e-9 * math.sqrt(15.0 / kilovolts)) ** 2
        + (4e-9 * math.sqrt(beam.probe_current / 1e-9)) ** 2
        + (2 * 4e-3 * beam.focus_error) ** 2
    )
    spread = _DETECTORS[detector]["spread"] * (kilovolts / 2.0) ** 1.67
    return math.hypot(diameter / 2.355, spread)


CHANNELS = ("steel", "lps", "lps_texture", "liin", "nmc", "nmc_grain", "void", "edges")


class Materials:
    """Per-pixel channels of one frame (float32 images in one block, so all detectors' linear signals come
    from a single matrix product): area fractions of each material, texture and grain modulations, edges."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.channels = np.zeros((len(CHANNELS), *shape), np.float32)
        for index, name in enumerate(CHANNELS):
            setattr(self, name, self.channels[index])
        self.solid = np.zeros(shape, np.float32)
        # Curtain strength times solid fraction; scene coordinates (m) of every pixel (reference state).
        self.curtain = np.zeros(shape, np.float32)
        self.x = np.zeros(shape, np.float32)
        self.y = np.zeros(shape, np.float32)


def _soft(distance_inside: np.ndarray, pixel: float) -> np.ndarray:
    """Area fraction of a pixel on the inner side of an edge at signed distance (m) from its centre."""
    out = distance_inside * np.float32(1.0 / pixel)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def _left_of(
    edge: float, waviness: Callable[[], np.ndarray], x: np.ndarray, x_range: tuple[float, float], pixel: float
) -> np.ndarray | float:
    """Fraction of each pixel left of a wavy vertical interface (0 or 1 when the field is clear of it)."""
    reach = 3e-6 + 2 * pixel
    if x_range[0] > edge + reach:
        return 0.0
    if x_range[1] < edge - reach:
        return 1.0
    return _soft(np.float32(edge) + waviness() - x, pixel)


def _upsample(
    coarse: np.ndarray, rows: np.ndarray, columns: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Bilinear upsampling of ``coarse`` sampled at pixel ``rows`` x ``columns`` to the full frame."""

    def weights(nodes: np.ndarray, size: int) -> np.ndarray:
        matrix = np.zeros((size, len(nodes)), np.float32)
        for k in range(len(nodes)):
            matrix[:, k] = np.interp(np.arange(size), nodes, np.eye(len(nodes))[k])
        return matrix

    return weights(rows, height) @ coarse.astype(np.float32) @ weights(columns, width).T


def _double(coarse: np.ndarray, height: int, width: int) -> np.ndarray:
    """Linear interpolation of an image sampled on every other pixel back to ``height`` x ``width``."""

    def along_columns(block: np.ndarray, size: int) -> np.ndarray:
        out = np.empty((block.shape[0], size), np.float32)
        out[:, 0::2] = block[:, : (size + 1) // 2]
        odd = size // 2
        inner = block[:, :-1] + block[:, 1:]
        inner *= np.float32(0.5)
        done = min(odd, inner.shape[1])
        out[:, 1::2][:, :done] = inner[:, :done]
        if odd > done:
            out[:, -1] = block[:, -1]
        return out

    return along_columns(along_columns(coarse, width).T, height).T


def _bilinear(field: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Bilinear sample of a 2-D raster at fractional cell coordinates (clipped to the raster)."""
    fx = np.clip(fx, 0, field.shape[1] - 1.001)
    fy = np.clip(fy, 0, field.shape[0] - 1.001)
    ix, iy = fx.astype(np.int32), fy.astype(np.int32)
    # Subtract float copies: float32 - int32 would promote the whole image to float64.
    tx, ty = fx - ix.astype(np.float32), fy - iy.astype(np.float32)
    flat = field.ravel()
    index = iy * field.shape[1] + ix
    top = flat[index] * (1 - tx) + flat[index + 1] * tx
    bottom = flat[index + field.shape[1]] * (1 - tx) + flat[index + field.shape[1] + 1] * tx
    return top * (1 - ty) + bottom * ty


def _pore_field(scene: CrossSection, x: np.ndarray, y: np.ndarray, pixel: float) -> np.ndarray:
    """The standardised pore field at every pixel; sampled on every other pixel when pixels are much finer
    than the field's 0.35 um correlation length, then interpolated (indistinguishable, four times fewer)."""
    x_low, _, y_low, _ = scene.extent
    to_cell = np.float32(1.0 / scene.spec.texture_resolution)
    stride = 2 if pixel < 60e-9 else 1
    xs, ys = x[::stride, ::stride], y[::stride, ::stride]
    field = _bilinear(
        scene.pore_field, (xs - np.float32(x_low)) * to_cell, (ys - np.float32(y_low)) * to_cell
    )
    return field if stride == 1 else _double(field, *x.shape)


def rasterise(scene: CrossSection, evolution: Evolution | None, geometry: FrameGeometry) -> Materials:
    """Material channels of every pixel of a frame: the scene (and its state of charge) under the scan."""
    spec = scene.spec
    height, width = geometry.height, geometry.width
    pixel = geometry.pixel_size
    x, y = geometry.scene_coordinates()
    if evolution is not None and evolution._mean_strain() + evolution._strain_peak > 0:
        # The block displacement is smooth: evaluate it on a coarse grid and interpolate.
        rows = np.unique(np.linspace(0, height - 1, max(2, height // 128)).astype(int))
        columns = np.unique(np.linspace(0, width - 1, max(2, width // 128)).astype(int))
        points = np.column_stack([x[np.ix_(rows, columns)].ravel(), y[np.ix_(rows, columns)].ravel()])
        shift = evolution.block_displacement(points).reshape(len(rows), len(columns), 2)
        x -= _upsample(shift[..., 0], rows, columns, height, width)
        y -= _upsample(shift[..., 1], rows, columns, height, width)
    materials = Materials((height, width))
    corners = geometry.corners()
    x_range = (float(corners[:, 0].min()), float(corners[:, 0].max()))
    y_reach = float(np.abs(corners[:, 1]).max()) + 3e-6
    face = (
        1.0
        if y_reach < spec.face_half_height
        else _soft(np.float32(spec.face_half_height) - np.abs(y), pixel)
    )
    left_of_collector = _left_of(
        spec.collector_x, lambda: np.float32(0.5) * scene.interface_offset(y, 1), x, x_range, pixel
    )
    left_of_interface = _left_of(spec.interface_x, lambda: scene.interface_offset(y, 0), x, x_range, pixel)
    left_of_counter = _left_of(spec.counter_x, lambda: scene.interface_offset(y, 1), x, x_range, pixel)
    pores = _pore_field(scene, x, y, pixel)
    # A pore's edge is as sharp as the field's gradient (~1 per 0.35 um) allows at this pixel size.
    sharpness = np.float32(0.35e-6 / pixel)
    composite = left_of_interface - left_of_collector
    separator = left_of_counter - left_of_interface
    lps = np.zeros((height, width), np.float32)
    for share, threshold in (
        (composite, scene.pore_threshold_composite),
        (separator, scene.pore_threshold_separator),
    ):
        if np.isscalar(share) and share == 0:
            continue
        solid = (pores - np.float32(threshold)) * sharpness
        solid += np.float32(0.5)
        np.clip(solid, 0, 1, out=solid)
        lps += solid if np.isscalar(share) and share == 1 else solid * share
    materials.lps[:] = lps * face
    materials.steel[:] = left_of_collector * face
    materials.liin[:] = (1 - left_of_counter) * face
    _draw_particles(scene, evolution, geometry, x, y, materials)
    # Denser electrolyte (high field values) looks a touch brighter: the LPS texture.
    np.clip(pores, -2, 2, out=pores)
    np.multiply(materials.lps, pores * np.float32(0.04), out=materials.lps_texture)
    solid = materials.solid
    np.add(materials.steel, materials.lps, out=solid)
    solid += materials.liin
    solid += materials.nmc
    np.subtract(1, solid, out=materials.void)
    edges = materials.edges
    np.abs(np.diff(solid, axis=1), out=edges[:, 1:])
    edges[:-1] += np.abs(np.diff(solid, axis=0))
    edges[:, 1:] += np.float32(0.3) * np.abs(np.diff(materials.nmc, axis=1))
    np.minimum(edges, 1.5, out=edges)
    profile = scene.curtain_profile
    x_low = scene.extent[0]
    index = ((x - np.float32(x_low)) * np.float32(1.0 / scene.curtain_cell)).astype(np.int32)
    np.clip(index, 0, len(profile) - 1, out=index)
    np.multiply(profile[index], solid, out=materials.curtain)
    materials.x, materials.y = x, y
    return materials


def _draw_particles(
    scene: CrossSection,
    evolution: Evolution | None,
    geometry: FrameGeometry,
    x: np.ndarray,
    y: np.ndarray,
    materials: Materials,
) -> None:
    pixel = geometry.pixel_size
    if evolution is None:
        centres = scene.particle_centres
        scales = np.ones(len(centres))
        cracks = gaps = np.zeros(len(centres))
    else:
        # x, y are already mapped back through the block displacement (reference configuration), so the
        # particles are drawn at their reference centres; moving them too would displace them twice.
        centres, scales = scene.particle_centres, evolution.radius_scale
        cracks, gaps = evolution.crack_width, evolution.decohesion_gap
    corners = geometry.corners()
    margin = 3 * pixel + 2e-6
    for k, particle in enumerate(scene.particles):
        radius = particle.radius * scales[k]
        reach = radius + gaps[k] + margin
        centre = centres[k]
        if (
            centre[0] + reach < corners[:, 0].min()
            or centre[0] - reach > corners[:, 0].max()
            or centre[1] + reach < corners[:, 1].min()
            or centre[1] - reach > corners[:, 1].max()
        ):
            continue
        box = np.array(
            [geometry.image_position(centre + np.array([sx, sy]) * reach) for sx in (-1, 1) for sy in (-1, 1)]
        )
        row0, column0 = np.floor(box.min(axis=0)).astype(int)
        row1, column1 = np.ceil(box.max(axis=0)).astype(int) + 1
        row0, column0 = max(row0, 0), max(column0, 0)
        row1, column1 = min(row1, geometry.height), min(column1, geometry.width)
        if row0 >= row1 or column0 >= column1:
            continue
        window = (slice(row0, row1), slice(column0, column1))
        dx = x[window] - np.float32(centre[0])
        dy = y[window] - np.float32(centre[1])
        rho = np.sqrt(dx * dx + dy * dy)
        inner = _soft(np.float32(radius) - rho, pixel)
        outer = _soft(np.float32(radius + gaps[k]) - rho, pixel)
        brightness, crack_distance, _ = particle.raster()
        half = particle.raster_half_size
        to_cell = np.float32(1.0 / (particle.resolution * scales[k]))
        ix = np.clip(np.rint(dx * to_cell).astype(np.int32) + half, 0, 2 * half)
        iy = np.clip(np.rint(dy * to_cell).astype(np.int32) + half, 0, 2 * half)
        nmc = inner
        if cracks[k] > 0:
            crack = _soft(
                np.float32(cracks[k] / 2) - crack_distance[iy, ix] * np.float32(1e-9 * scales[k]), pixel
            )
            nmc = inner * (1 - crack)
        materials.lps[window] *= 1 - outer
        materials.nmc[window] += nmc
        materials.nmc_grain[window] += nmc * (brightness[iy, ix] * np.float32(1 / 128) - np.float32(1))


def _yield_matrix(detectors: tuple[str, ...]) -> np.ndarray:
    """Rows: detectors; columns: the signal each material channel gives them (see CHANNELS)."""
    rows = []
    for name in detectors:
        d = _DETECTORS[name]
        rows.append(
            [
                d["steel"],
                d["lps"],
                d["lps"] * (0.3 + 0.5 * d["grain"]),
                d["liin"],
                d["nmc"],
                d["nmc"] * d["grain"],
                d["void"],
                d["edge"],
            ]
        )
    return np.array(rows, np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (sigma in pixels); a three-tap kernel done with slices when that is all it needs."""
    if int(3.0 * sigma + 0.5) > 1:
        return ndimage.gaussian_filter(image, sigma, truncate=3.0)
    side = math.exp(-0.5 / sigma**2)
    weights = np.float32(1.0 / (1.0 + 2.0 * side)), np.float32(side / (1.0 + 2.0 * side))
    for axis in (0, 1):
        padded = np.concatenate([image.take([0], axis), image, image.take([-1], axis)], axis=axis)
        before = padded[:-2] if axis == 0 else padded[:, :-2]
        after = padded[2:] if axis == 0 else padded[:, 2:]
        image = image * weights[0]
        image += (before + after) * weights[1]
    return image


@dataclass(frozen=True)
class _FrameShared:
    """What every detector of a frame shares."""

    materials: Materials
    beam: BeamSettings
    pixel_size: float
    dose: np.ndarray | None
    shading: np.ndarray
    charging_tail: np.ndarray | None
    damage: DamageSpec


def _detector_image(
    name: str, signal_: np.ndarray, shared: _FrameShared, rng: np.random.Generator
) -> np.ndarray:
    """One detector's grey image from its linear signal: artefacts, fade, blur, noise, brightness/contrast."""
    d = _DETECTORS[name]
    beam = shared.beam
    materials = shared.materials
    height, width = signal_.shape
    incident = electrons(beam.probe_current, beam.dwell) if beam.beam_reaches_sample else 0.0
    if d["charging"] and shared.charging_tail is not None:
        # Insulating LPS charges up along each line and the excess bleeds into the next pixels.
        frame_dose = incident / (shared.pixel_size * 1e9) ** 2
        signal_ += np.float32(d["charging"] * (1 - math.exp(-frame_dose / 20.0))) * shared.charging_tail
    factor = materials.curtain * np.float32(d["curtain"])
    factor += np.float32(d["shading"]) * shared.shading
    factor += np.float32(1.0)
    signal_ *= factor
    if shared.dose is not None:
        grey_level = np.float32(_CONTAMINATION_GREY)
        signal_ -= grey_level
        signal_ *= np.exp(shared.dose * np.float32(-1.0 / shared.damage.fade_dose(name)))
        signal_ += grey_level
    sigma = probe_sigma(beam, name) / shared.pixel_size
    if sigma >= 0.3:
        signal_ = _blur(signal_, sigma)
    kilovolts = max(beam.landing_voltage, 100.0) / 1e3
    efficiency = d["efficiency"] * (math.sqrt(kilovolts / 2.0) if name == "ESB" else 1.0)
    expected = incident * efficiency
    np.maximum(signal_, 0, out=signal_)
    if 0 < expected < _POISSON_LIMIT:
        detected = rng.poisson(signal_ * np.float32(expected)).astype(np.float32)
        detected *= np.float32(1.0 / expected)
        detected += np.float32(0.002) * rng.standard_normal((height, width), np.float32)
    else:
        # Shot noise (normal approximation of the count) and amplifier noise in one draw.
        spread = signal_ * np.float32(1.0 / expected) if expected > 0 else np.zeros_like(signal_)
        spread += np.float32(0.002**2)
        np.sqrt(spread, out=spread)
        spread *= rng.standard_normal((height, width), np.float32)
        detected = spread
        if expected > 0:
            detected += signal_
    # A per-line offset from the scan electronics.
    detected += np.float32(0.004) * rng.standard_normal((height, 1), np.float32)
    gain = np.float32(beam.contrast / 50.0)
    offset = (beam.brightness - 50.0) / 100.0 + (0.5 if expected > 0 else 0.0)
    if expected > 0:
        detected -= np.float32(0.5)
    detected *= gain
    detected += np.float32(offset)
    return np.clip(detected, 0.0, 1.0, out=detected)


# Detectors of a frame are formed in parallel (numpy releases the GIL): two workers for the two cores.
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sem-render")


def form_images(
    materials: Materials,
    beam: BeamSettings,
    detectors: tuple[str, ...],
    pixel_size: float,
    dose_map: DoseMap | None,
    rng: np.random.Generator,
    damage: DamageSpec | None = None,
) -> dict[str, np.ndarray]:
    """Grey-level images (0..1, float32) of ``detectors`` for one frame's materials and beam."""
    channels = materials.channels
    _, height, width = channels.shape
    dose = dose_map.sample(materials.x, materials.y) if dose_map is not None else None
    if dose is not None and not dose.any():
        dose = None
    charging = beam.beam_reaches_sample and any(_DETECTORS[name]["charging"] for name in detectors)
    shared = _FrameShared(
        materials=materials,
        beam=beam,
        pixel_size=pixel_size,
        dose=dose,
        shading=np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
        - np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None],
        charging_tail=signal.lfilter([0.08], [1.0, -0.92], materials.lps, axis=1).astype(np.float32)
        if charging
        else None,
        damage=damage or DamageSpec(),
    )
    # Linear part of every detector's signal in one matrix product.
    signals = (_yield_matrix(detectors) @ channels.reshape(len(CHANNELS), -1)).reshape(-1, height, width)
    # One independent stream per detector, fixed before the work is shared out: deterministic in any order.
    streams = rng.spawn(len(detectors))
    jobs = [
        _WORKERS.submit(_detector_image, name, signals[k], shared, streams[k])
        for k, name in enumerate(detectors)
    ]
    return {name: job.result() for name, job in zip(detectors, jobs, strict=True)}
