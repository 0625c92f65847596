"""Procedural surface colours computed from the world-space hit point, so every surface is textured
without UV maps and the same point always gets the same colour (across frames of a video too)."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

KINDS = ("plain", "checker", "stripes", "wood", "mottled")


@dataclass(frozen=True)
class Material:
    """A procedural texture. Colours are linear RGB in [0, 1]; `scale` is the pattern period in
    metres; `axis` orients stripes and wood grain; `seed` decorrelates noise between materials."""

    kind: str = "plain"
    color_a: tuple[float, float, float] = (0.7, 0.7, 0.7)
    color_b: tuple[float, float, float] = (0.4, 0.4, 0.4)
    scale: float = 0.5
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown texture kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if not self.scale > 0:
            raise ValueError(f"texture scale must be positive, got {self.scale}")


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice point."""
    h = ix.astype(np.uint32) * np.uint32(73856093)
    h ^= iy.astype(np.uint32) * np.uint32(19349663)
    h ^= iz.astype(np.uint32) * np.uint32(83492791)
    h ^= np.uint32((seed * 2654435761) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / np.float32(0x1000000)


def value_noise(points: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 3D value noise in [0, 1), one lattice cell per unit."""
    base = np.floor(points)
    frac = points - base
    fade = frac * frac * (3.0 - 2.0 * frac)
    ix, iy, iz = (base[:, k].astype(np.int64) for k in range(3))
    total = np.zeros(len(points), dtype=np.float32)
    for dx in (0, 1):
        wx = fade[:, 0] if dx else 1.0 - fade[:, 0]
        for dy in (0, 1):
            wy = fade[:, 1] if dy else 1.0 - fade[:, 1]
            for dz in (0, 1):
                wz = fade[:, 2] if dz else 1.0 - fade[:, 2]
                total += (wx * wy * wz * _hash01(ix + dx, iy + dy, iz + dz, seed)).astype(np.float32)
    return total


def fractal_noise(points: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    total = np.zeros(len(points), dtype=np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(points * (2.0**octave), seed + 101 * octave)
        weight += amplitude
        amplitude *= 0.5
    return total / weight


def _mix(material: Material, t: np.ndarray) -> np.ndarray:
    a = np.asarray(material.color_a, dtype=np.float32)
    b = np.asarray(material.color_b, dtype=np.float32)
    return a + (b - a) * np.asarray(t, dtype=np.float32)[:, None]


def albedo(material: Material, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) float32 linear colours of `material` at world `points` with surface `normals`."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    axis = np.asarray(material.axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    offset = _hash01(np.array([material.seed]), np.array([1]), np.array([2]), 7)[0]
    scaled = points / material.scale + offset
    if material.kind == "plain":
        # A faint low-frequency variation keeps large plain walls from looking like flat paint.
        t = 0.15 * fractal_noise(points * 1.5, material.seed, octaves=2)
    elif material.kind == "checker":
        cells = np.floor(scaled).astype(np.int64)
        # The axis along the normal is dropped so a face lying on a cell boundary has no speckle.
        cells[np.arange(len(points)), np.argmax(np.abs(normals), axis=1)] = 0
        t = (cells.sum(axis=1) % 2).astype(np.float32)
    elif material.kind == "stripes":
        phase = np.sin(2.0 * np.pi * (scaled @ axis))
        t = np.clip(phase * 4.0, -1.0, 1.0) * 0.5 + 0.5
    elif material.kind == "wood":
        # Growth rings around a line along `axis`, bent by noise; grain noise stretched along the axis.
        radial = scaled - np.outer(scaled @ axis, axis)
        radius = np.linalg.norm(radial, axis=1)
        stretched = scaled * 4.0 - np.outer((scaled @ axis) * 3.0, axis)
        # Boards side by side across the grain, each cut from a different part of the log.
        across = np.cross(axis, [0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        board = np.floor(scaled @ (across / np.linalg.norm(across)) * 2.0).astype(np.int64)
        board_shift = 10.0 * _hash01(board, board * 7 + 3, np.zeros_like(board), material.seed)
        rings = radius * 6.0 + board_shift + 1.5 * fractal_noise(scaled * 2.0, material.seed)
        t = 0.6 * (0.5 + 0.5 * np.sin(2.0 * np.pi * rings)) ** 3 + 0.4 * fractal_noise(stretched, material.seed + 5)
    else:  # mottled
        t = fractal_noise(scaled * 2.0, material.seed, octaves=4)
        t = np.clip((t - 0.3) * 2.5, 0.0, 1.0)
    return _mix(material, t)


def random_color(
    rng: np.random.Generator, hue: tuple[float, float], sat: tuple[float, float], val: tuple[float, float]
) -> tuple[float, float, float]:
    """A colour drawn in HSV (hue range may wrap past 1), returned as linear RGB."""
    h = rng.uniform(*hue) % 1.0
    rgb = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return tuple(float(c) ** 2.2 for c in rgb)  # sRGB-ish to linear


ROLE_KINDS = {
    "floor": (("wood", 0.45), ("checker", 0.3), ("mottled", 0.15), ("plain", 0.1)),
    "wall": (("plain", 0.45), ("stripes", 0.2), ("mottled", 0.25), ("checker", 0.1)),
    "ceiling": (("plain", 0.8), ("mottled", 0.2)),
    "furniture": (("wood", 0.4), ("plain", 0.3), ("mottled", 0.15), ("checker", 0.15)),
    "object": (("plain", 0.35), ("stripes", 0.25), ("checker", 0.25), ("mottled", 0.15)),
    # outdoor
    "ground": (("mottled", 0.45), ("checker", 0.35), ("plain", 0.2)),  # earth, gravel, paving slabs
    "road": (("mottled", 0.75), ("plain", 0.25)),  # asphalt
    "facade": (("plain", 0.4), ("stripes", 0.3), ("mottled", 0.3)),  # render, siding or courses, stone
    "vehicle": (("plain", 0.9), ("mottled", 0.1)),  # paint
    "foliage": (("mottled", 0.85), ("plain", 0.15)),  # leaves, lawns
    "bark": (("mottled", 0.6), ("wood", 0.4)),
    "skin": (("plain", 1.0),),
    "clothing": (("plain", 0.5), ("stripes", 0.2), ("checker", 0.15), ("mottled", 0.15)),
}

# Outdoor roles take their colours from the things they stand for: (hue, saturation, value) ranges
# of the main colour and of the second pattern colour.
ROLE_COLOURS = {
    "ground": (((0.06, 0.15), (0.05, 0.25), (0.45, 0.75)), ((0.06, 0.15), (0.08, 0.3), (0.3, 0.55))),
    "road": (((0.55, 0.7), (0.0, 0.08), (0.3, 0.45)), ((0.55, 0.7), (0.0, 0.08), (0.24, 0.36))),
    "facade": (((0.0, 0.14), (0.05, 0.5), (0.5, 0.85)), ((0.0, 0.14), (0.1, 0.55), (0.35, 0.7))),
    "vehicle": (((0.0, 1.0), (0.0, 0.85), (0.15, 0.9)), ((0.0, 1.0), (0.0, 0.5), (0.1, 0.5))),
    "foliage": (((0.2, 0.36), (0.4, 0.75), (0.35, 0.65)), ((0.17, 0.33), (0.5, 0.85), (0.2, 0.4))),
    "bark": (((0.05, 0.1), (0.25, 0.5), (0.25, 0.45)), ((0.05, 0.1), (0.3, 0.6), (0.12, 0.25))),
    "skin": (((0.03, 0.08), (0.25, 0.6), (0.3, 0.95)), ((0.03, 0.08), (0.25, 0.6), (0.3, 0.9))),
}


def random_material(rng: np.random.Generator, role: str) -> Material:
    """A material suited to a surface role: a key of ROLE_KINDS (floor, wall, ... road, facade, ...)."""
    if role not in ROLE_KINDS:
        raise ValueError(f"unknown surface role {role!r}: expected one of {', '.join(ROLE_KINDS)}")
    kinds, weights = zip(*ROLE_KINDS[role])
    kind = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
    if kind == "wood":
        hue = rng.uniform(0.05, 0.11)
        a = random_color(rng, (hue, hue), (0.45, 0.7), (0.55, 0.8))
        b = random_color(rng, (hue - 0.02, hue), (0.6, 0.85), (0.25, 0.45))
    elif role in ROLE_COLOURS:
        main, second = ROLE_COLOURS[role]
        a, b = random_color(rng, *main), random_color(rng, *second)
    elif role in ("wall", "ceiling"):
        a = random_color(rng, (0.0, 1.0), (0.02, 0.25), (0.75, 0.95))
        b = random_color(rng, (0.0, 1.0), (0.05, 0.35), (0.5, 0.8))
    else:
        a = random_color(rng, (0.0, 1.0), (0.2, 0.8), (0.45, 0.95))
        b = random_color(rng, (0.0, 1.0), (0.1, 0.7), (0.15, 0.6))
    scale = {"floor": (0.3, 0.8), "wall": (0.15, 0.6), "ceiling": (0.5, 1.5), "ground": (0.4, 1.0), "road": (0.3, 1.0),
             "facade": (0.3, 1.2), "vehicle": (0.5, 1.0), "foliage": (0.3, 0.8), "bark": (0.1, 0.3)}.get(role, (0.08, 0.35))
    if kind == "wood":
        horizontal = rng.uniform(0, 2 * np.pi)
        axis = (float(np.cos(horizontal)), float(np.sin(horizontal)), 0.0)
    else:
        direction = rng.normal(size=3)
        axis = tuple(float(x) for x in direction / np.linalg.norm(direction))
    return Material(kind, a, b, float(rng.uniform(*scale)), axis, int(rng.integers(0, 2**31 - 1)))
