"""The battery cross-section as a procedural, continuous description (metres, scene axes: x to the right
towards the counter electrode, y down the milled face).

Left to right: stainless-steel current collector, composite positive electrode (NMC622 secondary particles of
nano primary grains in amorphous Li3PS4 with ~20 % porosity, ~50 um thick), Li3PS4 separator, Li-In counter
electrode. Particles, grains, crack paths and the pore field are drawn once from the seed; an image is a
rasterisation of this description at whatever pixel size and position the microscope asks for.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.special import ndtri
from skimage.graph import route_through_array


@dataclass(frozen=True)
class CrossSectionSpec:
    """Geometry and microstructure of the simulated cross-section (metres unless noted)."""

    seed: int = 0
    electrode_thickness: float = 50e-6
    separator_thickness: float = 25e-6
    # x of the composite | separator interface; the default field (87 um wide) shows all three layers.
    interface_x: float = 5e-6
    # The milled face spans |y| <= face_half_height; above and below is vacuum.
    face_half_height: float = 60e-6
    # Secondary particles: sphere radii (D50 10-14 um) cut by the section plane at random heights.
    sphere_radius: tuple[float, float] = (5.0e-6, 7.0e-6)
    nmc_area_fraction: float = 0.40
    composite_porosity: float = 0.20
    separator_porosity: float = 0.05
    grain_size: float = 0.30e-6
    # A grain-boundary crack spans this fraction of the particle diameter (9 um in a 14 um particle).
    crack_length_fraction: float = 0.65
    largest_crack_width: float = 120e-9
    # Pixel pitch of the cached rasters: pore field (scene-wide) and particle interiors.
    texture_resolution: float = 100e-9
    particle_resolution: float = 25e-9

    @property
    def collector_x(self) -> float:
        """x of the current collector | composite interface."""
        return self.interface_x - self.electrode_thickness

    @property
    def counter_x(self) -> float:
        """x of the separator | counter electrode interface."""
        return self.interface_x + self.separator_thickness


@dataclass
class Particle:
    """One NMC secondary particle as the section cuts it: reference centre (m), radius (m), depth in the
    electrode (0 = touching the separator, 1 = touching the current collector), largest crack width (m)."""

    index: int
    centre: np.ndarray
    radius: float
    depth: float
    crack_width_max: float
    seed: int
    resolution: float
    grain_size: float
    crack_length_fraction: float
    interface_x: float
    _raster: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def distance_to_separator(self) -> float:
        """Gap (m) between the particle's closest edge and the composite | separator interface (reference)."""
        return self.interface_x - (float(self.centre[0]) + self.radius)

    def raster(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grain brightness uint8, distance to crack path uint8 in nm, crack path (n, 2) m) in particle-local
        coordinates at ``resolution``, centred on the particle; drawn on first use and kept."""
        if self._raster is None:
            self._raster = _draw_particle_interior(self)
        return self._raster

    @property
    def raster_half_size(self) -> int:
        """Half the side of the particle raster, in raster cells."""
        return int(math.ceil(self.radius / self.resolution)) + 2


def _draw_particle_interior(particle: Particle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([particle.seed, particle.index, 0x6A1])
    half = particle.raster_half_size
    side = 2 * half + 1
    cell = particle.resolution
    # Primary grains: a Voronoi tessellation of Poisson seeds, one per grain_size^2.
    seeds = int(side * side * (cell / particle.grain_size) ** 2) + 1
    marks = np.zeros((side, side), np.int32)
    marks[rng.integers(0, side, seeds), rng.integers(0, side, seeds)] = np.arange(1, seeds + 1)
    nearest = ndimage.distance_transform_edt(marks == 0, return_distances=False, return_indices=True)
    grain = marks[nearest[0], nearest[1]]
    boundary = np.zeros((side, side), bool)
    boundary[:-1] |= grain[:-1] != grain[1:]
    boundary[:, :-1] |= grain[:, :-1] != grain[:, 1:]
    # Channelling makes each grain a little brighter or darker; boundaries are thin dark lines.
    grain_brightness = 1.0 + 0.07 * rng.standard_normal(seeds + 1)
    brightness = np.where(boundary, 0.85, grain_brightness[grain])
    brightness8 = np.clip(np.round(brightness * 128.0), 0, 255).astype(np.uint8)
    # The crack runs along grain boundaries between the ends of a chord through the centre region.
    angle = rng.uniform(0.0, math.pi)
    length = particle.crack_length_fraction * 2.0 * particle.radius / cell
    offset = rng.uniform(-0.15, 0.15, size=2) * particle.radius / cell
    direction = np.array([math.cos(angle), math.sin(angle)])
    ends = [
        np.clip(np.round(half + offset + sign * 0.5 * length * direction), 0, side - 1).astype(int)
        for sign in (-1, 1)
    ]
    cost = np.where(boundary, 1.0, 25.0)
    path, _ = route_through_array(
        cost, (ends[0][1], ends[0][0]), (ends[1][1], ends[1][0]), fully_connected=True, geometric=True
    )
    path = np.asarray(path)
    on_path = np.zeros((side, side), bool)
    on_path[path[:, 0], path[:, 1]] = True
    distance_nm = ndimage.distance_transform_edt(~on_path) * cell * 1e9
    distance8 = np.clip(np.round(distance_nm), 0, 255).astype(np.uint8)
    path_m = (path[:, ::-1] - half) * cell
    return brightness8, distance8, path_m


class CrossSection:
    """The static microstructure, built from a :class:`CrossSectionSpec`; use :func:`cross_section`."""

    def __init__(self, spec: CrossSectionSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 0x5CE7E])
        self._interface_phase = rng.uniform(0, 2 * math.pi, size=4)
        self.particles = self._place_particles(rng)
        self._build_pore_field(rng)
        self._build_curtains(rng)

    # --- layers ---------------------------------------------------------------------------------------
    def interface_offset(self, y: np.ndarray, which: int) -> np.ndarray:
        """Waviness (m) of an interface (0 composite | separator, 1 separator | counter) along y."""
        y = np.asarray(y)
        real = y.dtype.type if y.dtype.kind == "f" else np.float64  # keep float32 images float32
        phase = self._interface_phase[2 * which : 2 * which + 2]
        amplitude = (0.8e-6, 0.4e-6) if which == 0 else (1.5e-6, 0.5e-6)
        return real(amplitude[0]) * np.sin(y * real(2 * math.pi / 23e-6) + real(phase[0])) + real(
            amplitude[1]
        ) * np.sin(y * real(2 * math.pi / 7e-6) + real(phase[1]))

    # --- particles ------------------------------------------------------------------------------------
    def _place_particles(self, rng: np.random.Generator) -> list[Particle]:
        spec = self.spec
        x_low, x_high = spec.collector_x, spec.interface_x - 0.3e-6
        y_half = spec.face_half_height + 8e-6
        target_area = spec.nmc_area_fraction * (x_high - x_low) * 2 * y_half
        centres: list[np.ndarray] = []
        radii: list[float] = []
        area = 0.0
        for _ in range(20000):
            if area >= target_area:
                break
            sphere = rng.uniform(*spec.sphere_radius)
            radius = sphere * math.sqrt(1.0 - rng.uniform(0.0, 0.8) ** 2)
            if x_high - x_low < 2 * radius:
                continue
            centre = np.array([rng.uniform(x_low + radius, x_high - radius), rng.uniform(-y_half, y_half)])
            pairs = zip(centres, radii, strict=True)
            if any(np.hypot(*(centre - other)) < radius + r + 0.4e-6 for other, r in pairs):
                continue
            centres.append(centre)
            radii.append(radius)
            area += math.pi * radius**2
        largest = max(radii)
        particles = []
        for index, (centre, radius) in enumerate(zip(centres, radii, strict=True)):
            # The largest particle carries the thesis's 120 nm crack; smaller ones open less.
            spread = 1.0 if radius == largest else rng.uniform(0.75, 1.0)
            depth = (spec.interface_x - centre[0] - radius) / max(spec.electrode_thickness - 2 * radius, 1e-9)
            particle = Particle(
                index=index,
                centre=centre,
                radius=radius,
                depth=float(np.clip(depth, 0.0, 1.0)),
                crack_width_max=spec.largest_crack_width * (radius / largest) * spread,
                seed=spec.seed,
                resolution=spec.particle_resolution,
                grain_size=spec.grain_size,
                crack_length_fraction=spec.crack_length_fraction,
                interface_x=spec.interface_x,
            )
            particles.append(particle)
        return particles

    @functools.cached_property
    def particle_centres(self) -> np.ndarray:
        return np.array([p.centre for p in self.particles])

    @functools.cached_property
    def particle_radii(self) -> np.ndarray:
        return np.array([p.radius for p in self.particles])

    # --- pores and texture ----------------------------------------------------------------------------
    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x_low, x_high, y_low, y_high) of the cached rasters (m); outside is vacuum."""
        spec = self.spec
        return (
            spec.collector_x - 20e-6,
            spec.counter_x + 50e-6,
            -spec.face_half_height - 10e-6,
            spec.face_half_height + 10e-6,
        )

    def _build_pore_field(self, rng: np.random.Generator) -> None:
        x_low, x_high, y_low, y_high = self.extent
        cell = self.spec.texture_resolution
        shape = (int((y_high - y_low) / cell) + 2, int((x_high - x_low) / cell) + 2)
        noise = rng.standard_normal(shape).astype(np.float32)
        # Two correlation lengths: sub-micron pores and micron-size voids between particles.
        fine = ndimage.gaussian_filter(noise, 0.35e-6 / cell)
        coarse = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.2e-6 / cell)
        field_ = fine / fine.std() + 0.8 * coarse / coarse.std()
        self.pore_field = (field_ / field_.std()).astype(np.float32)
        # Pores are where the standardised field falls below a threshold giving the wanted pore fraction.
        spec = self.spec
        matrix_share = 1.0 - spec.nmc_area_fraction
        self.pore_threshold_composite = float(ndtri(spec.composite_porosity / matrix_share))
        self.pore_threshold_separator = float(ndtri(spec.separator_porosity))

    def _build_curtains(self, rng: np.random.Generator) -> None:
        x_low, x_high, _, _ = self.extent
        cell = 50e-9
        count = int((x_high - x_low) / cell) + 2
        stripes = ndimage.gaussian_filter1d(rng.standard_normal(count), 3.0)
        # A few strong curtains behind hard particles, on top of a fine corrugation.
        strong = np.zeros(count)
        strong[rng.integers(0, count, count // 400)] = rng.normal(0, 1.0, count // 400)
        strong = ndimage.gaussian_filter1d(strong, 8.0) * 8.0
        profile = stripes / stripes.std() + strong
        self.curtain_profile = (profile / np.abs(profile).max()).astype(np.float32)
        self.curtain_cell = cell


@functools.lru_cache(maxsize=4)
def cross_section(spec: CrossSectionSpec = CrossSectionSpec()) -> CrossSection:  # noqa: B008
    """The cross-section for ``spec``; built once per process and shared (it is never modified)."""
    return CrossSection(spec)
