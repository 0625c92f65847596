"""Surface colours computed from the world-space hit point, so every surface is textured without UV
maps and the same point always gets the same colour (across frames of a video too): procedural
patterns, and tiles of real photographs (scenes.photos) projected onto the plane of each face."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from .photos import PhotoLibrary, library_by_identity, load_library

KINDS = ("plain", "checker", "stripes", "wood", "mottled", "photo")
# Caption words of the kinds (captions.py uses them). A photo material's word is its tile's
# (Material.texture_word); "textured" stands in where only the kind is known.
TEXTURE_WORDS = {"plain": "plain", "checker": "checkered", "stripes": "striped", "wood": "wooden", "mottled": "speckled",
                 "photo": "textured"}  # fmt: skip


@dataclass(frozen=True)
class Material:
    """A surface texture. Colours are linear RGB in [0, 1]; `scale` is the pattern period in
    metres; `axis` orients stripes and wood grain; `seed` decorrelates noise between materials and
    places a photo tile (offset, and rotation on horizontal faces).

    Kind "photo" repeats tile `photo` of the photo library whose identity is `library` every
    `scale` metres, times `tint`; its `color_a` is tint x the tile's mean linear colour (what
    captions name), which `photo_material` fills in."""

    kind: str = "plain"
    color_a: tuple[float, float, float] = (0.7, 0.7, 0.7)
    color_b: tuple[float, float, float] = (0.4, 0.4, 0.4)
    scale: float = 0.5
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    seed: int = 0
    photo: str = ""
    library: str = ""
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown texture kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if not self.scale > 0:
            raise ValueError(f"texture scale must be positive, got {self.scale}")
        if (self.kind == "photo") != bool(self.photo and self.library):
            raise ValueError("a photo material needs a tile name and a library identity, and only a photo material has them")
        if len(self.tint) != 3 or not all(0.0 <= c < float("inf") for c in self.tint):
            raise ValueError(f"tint must be three finite non-negative numbers, got {self.tint}")

    @property
    def texture_word(self) -> str:
        """The caption word of the texture: the photo tile's ("wooden", "grassy"...) or the kind's."""
        if self.kind == "photo":
            return library_by_identity(self.library).record(self.photo).word
        return TEXTURE_WORDS[self.kind]


def photo_material(library: PhotoLibrary, name: str, scale: float, seed: int,
                   tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Material:
    """A photo material of tile `name`, its colour fields set to tint x the tile's mean colour."""
    mean = np.asarray(library.record(name).mean_linear, dtype=np.float64)
    colour = tuple(float(c) for c in np.clip(mean * np.asarray(tint, dtype=np.float64), 0.0, 1.0))
    return Material("photo", colour, colour, float(scale), (1.0, 0.0, 0.0), int(seed), name, library.identity,
                    tuple(float(c) for c in tint))


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


def planar_coordinates(points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, t, axis): world coordinates in metres on the plane of each point's face, whose normal's
    largest component is `axis` (0 x, 1 y, 2 z). On walls (axis 0 or 1) s runs to the right of a
    viewer facing the face and t up (z), so photographs stand upright; on floors and ceilings
    (axis 2) s = x and t = y."""
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    axis = np.argmax(np.abs(normals), axis=1)
    facing = np.where(normals[np.arange(len(points)), axis] < 0, -1.0, 1.0)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    s = np.where(axis == 0, facing * y, np.where(axis == 1, -facing * x, x))
    t = np.where(axis == 2, y, z)
    return s, t, axis


def photo_transform(material: Material) -> tuple[float, float, float]:
    """(angle in radians, u offset, v offset) placing a material's tile: a per-seed offset, so equal
    tiles on neighbouring surfaces do not line up, and a rotation used on horizontal faces only."""
    ix = np.array([material.seed, material.seed, material.seed])
    draws = _hash01(ix, np.array([11, 12, 13]), np.array([5, 5, 5]), 17)
    return float(2.0 * np.pi * draws[0]), float(draws[1]), float(draws[2])


def photo_coordinates(material: Material, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile coordinates (u across, v down; 1.0 = one tile = `scale` metres, unwrapped) of points."""
    s, t, axis = planar_coordinates(points, normals)
    angle, offset_u, offset_v = photo_transform(material)
    flat = axis == 2
    c, n = np.where(flat, np.cos(angle), 1.0), np.where(flat, np.sin(angle), 0.0)
    along, up = c * s + n * t, -n * s + c * t
    # Image rows grow downwards, so v runs against `up`.
    return along / material.scale + offset_u, -up / material.scale + offset_v


def _photo_albedo(material: Material, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    texture = library_by_identity(material.library).texture(material.photo)
    u, v = photo_coordinates(material, points, normals)
    colour = texture.sample(u, v, material.scale) * np.asarray(material.tint, dtype=np.float32)
    return np.minimum(colour, 1.0).astype(np.float32)


def albedo(material: Material, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) float32 linear colours of `material` at world `points` with surface `normals`."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    if material.kind == "photo":
        return _photo_albedo(material, points, np.asarray(normals, dtype=np.float64))
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
    "picture": (("plain", 0.3), ("stripes", 0.3), ("checker", 0.2), ("mottled", 0.2)),
    # Outdoor roles.
    "ground": (("mottled", 0.45), ("checker", 0.35), ("plain", 0.2)),  # earth, gravel, paving slabs
    "road": (("mottled", 0.75), ("plain", 0.25)),  # asphalt
    "facade": (("plain", 0.4), ("stripes", 0.3), ("mottled", 0.3)),  # render, siding or courses, stone
    "vehicle": (("plain", 0.9), ("mottled", 0.1)),  # paint
    "foliage": (("mottled", 0.85), ("plain", 0.15)),  # leaves, lawns
    "bark": (("mottled", 0.6), ("wood", 0.4)),
    "skin": (("plain", 1.0),),
    "clothing": (("plain", 0.5), ("stripes", 0.2), ("checker", 0.15), ("mottled", 0.15)),
    "sky-backdrop": (("plain", 0.6), ("mottled", 0.4)),
}
# HSV ranges (hue, saturation, value) of colours a and b of the outdoor roles' procedural textures.
ROLE_PALETTES = {  # tuned on rendered streets: muted asphalt and paving, natural foliage and bark
    "ground": (((0.06, 0.15), (0.05, 0.25), (0.45, 0.75)), ((0.06, 0.15), (0.08, 0.3), (0.3, 0.55))),
    "road": (((0.55, 0.7), (0.0, 0.08), (0.3, 0.45)), ((0.55, 0.7), (0.0, 0.08), (0.24, 0.36))),
    "facade": (((0.0, 0.14), (0.05, 0.5), (0.5, 0.85)), ((0.0, 0.14), (0.1, 0.55), (0.35, 0.7))),
    "vehicle": (((0.0, 1.0), (0.0, 0.85), (0.15, 0.9)), ((0.0, 1.0), (0.0, 0.5), (0.1, 0.5))),
    "foliage": (((0.2, 0.36), (0.4, 0.75), (0.35, 0.65)), ((0.17, 0.33), (0.5, 0.85), (0.2, 0.4))),
    "bark": (((0.05, 0.1), (0.25, 0.5), (0.25, 0.45)), ((0.05, 0.1), (0.3, 0.6), (0.12, 0.25))),
    "skin": (((0.03, 0.08), (0.25, 0.6), (0.3, 0.95)), ((0.03, 0.08), (0.25, 0.6), (0.3, 0.9))),
    "sky-backdrop": (((0.55, 0.62), (0.25, 0.6), (0.7, 0.95)), ((0.55, 0.65), (0.0, 0.1), (0.85, 1.0))),
}
ROLE_SCALES = {"floor": (0.3, 0.8), "wall": (0.15, 0.6), "ceiling": (0.5, 1.5), "ground": (0.4, 1.0), "road": (0.3, 1.0),
               "facade": (0.3, 1.2), "vehicle": (0.5, 1.0), "foliage": (0.3, 0.8), "bark": (0.1, 0.3), "skin": (0.05, 0.2),
               "clothing": (0.05, 0.25), "sky-backdrop": (5.0, 30.0)}  # fmt: skip
DEFAULT_SCALE = (0.08, 0.35)

# How often a role gets a photograph rather than a procedural pattern (when the library has tiles
# for it): large surfaces often, small objects less (at their size most tiles blur to a mean).
PHOTO_PROBABILITY = {"floor": 0.45, "wall": 0.4, "ceiling": 0.15, "furniture": 0.4, "object": 0.25, "picture": 0.8,
                     "ground": 0.6, "facade": 0.5, "vehicle": 0.15, "foliage": 0.6, "bark": 0.5, "skin": 0.3,
                     "clothing": 0.4, "road": 0.5, "sky-backdrop": 0.8}  # fmt: skip
PHOTO_SCALE_SPREAD = (0.7, 1.4)  # times the tile's real-world width
# Colours (HSV ranges) given to tiles of greyscale photographs, by texture word.
GREY_TILE_COLOURS = {
    "brick": ((0.0, 0.07), (0.35, 0.7), (0.35, 0.7)),
    "grassy": ((0.17, 0.3), (0.4, 0.8), (0.3, 0.65)),
    "mossy": ((0.17, 0.3), (0.4, 0.8), (0.3, 0.65)),
    "leafy": ((0.15, 0.35), (0.4, 0.8), (0.3, 0.65)),
    "gravel": ((0.05, 0.15), (0.0, 0.25), (0.35, 0.7)),
    "pebbly": ((0.05, 0.15), (0.0, 0.25), (0.35, 0.7)),
    "wooden": ((0.05, 0.11), (0.3, 0.7), (0.3, 0.75)),
    "clear": ((0.55, 0.62), (0.15, 0.55), (0.6, 0.95)),
    "cloudy": ((0.55, 0.62), (0.05, 0.4), (0.6, 0.95)),
    "misty": ((0.55, 0.62), (0.0, 0.2), (0.6, 0.95)),
}
GREY_TILE_DEFAULT = ((0.0, 1.0), (0.0, 0.3), (0.4, 0.9))
MAX_TINT = 4.0  # a dark greyscale tile is brightened at most this much


def _random_photo(rng: np.random.Generator, library: PhotoLibrary, names: tuple[str, ...]) -> Material:
    """A photo material: a tile drawn from `names`, its size near the tile's real width, and a tint
    that colours greyscale tiles and varies the brightness and white balance of colour ones."""
    name = names[int(rng.integers(len(names)))]
    record = library.record(name)
    if record.grey:
        target = np.asarray(random_color(rng, *GREY_TILE_COLOURS.get(record.word, GREY_TILE_DEFAULT)))
        tint = np.minimum(target / max(float(np.mean(record.mean_linear)), 1e-3), MAX_TINT)
    else:
        tint = rng.uniform(0.8, 1.15) * np.exp(rng.normal(0.0, 0.05, size=3))
    scale = record.metres * float(np.exp(rng.uniform(*np.log(PHOTO_SCALE_SPREAD))))
    return photo_material(library, name, scale, int(rng.integers(0, 2**31 - 1)), tuple(float(c) for c in tint))


def random_material(rng: np.random.Generator, role: str, library: PhotoLibrary | None = None) -> Material:
    """A material suited to a surface role (one of ROLE_KINDS: floor, wall, ceiling, furniture,
    object, picture, and the outdoor ground, facade, vehicle, foliage, bark, skin, clothing, road,
    sky-backdrop). With probability PHOTO_PROBABILITY[role] it is a photo tile suited to the role
    from `library` (default: scenes.photos.load_library()), when the library has one. The same rng
    state and library give the same material."""
    if role not in ROLE_KINDS:
        raise ValueError(f"unknown surface role {role!r}: expected one of {', '.join(ROLE_KINDS)}")
    if rng.random() < PHOTO_PROBABILITY[role]:
        library = library if library is not None else load_library()
        names = library.names(role)
        if names:
            return _random_photo(rng, library, names)
    kinds, weights = zip(*ROLE_KINDS[role])
    kind = str(rng.choice(kinds, p=np.asarray(weights) / sum(weights)))
    if kind == "wood" and role != "bark":
        hue = rng.uniform(0.05, 0.11)
        a = random_color(rng, (hue, hue), (0.45, 0.7), (0.55, 0.8))
        b = random_color(rng, (hue - 0.02, hue), (0.6, 0.85), (0.25, 0.45))
    elif role in ROLE_PALETTES:
        palette_a, palette_b = ROLE_PALETTES[role]
        a, b = random_color(rng, *palette_a), random_color(rng, *palette_b)
    elif role in ("wall", "ceiling"):
        a = random_color(rng, (0.0, 1.0), (0.02, 0.25), (0.75, 0.95))
        b = random_color(rng, (0.0, 1.0), (0.05, 0.35), (0.5, 0.8))
    else:
        a = random_color(rng, (0.0, 1.0), (0.2, 0.8), (0.45, 0.95))
        b = random_color(rng, (0.0, 1.0), (0.1, 0.7), (0.15, 0.6))
    scale = ROLE_SCALES.get(role, DEFAULT_SCALE)
    if role == "bark":
        axis = (0.0, 0.0, 1.0)  # grain runs up the trunk
    elif kind == "wood":
        horizontal = rng.uniform(0, 2 * np.pi)
        axis = (float(np.cos(horizontal)), float(np.sin(horizontal)), 0.0)
    else:
        direction = rng.normal(size=3)
        axis = tuple(float(x) for x in direction / np.linalg.norm(direction))
    return Material(kind, a, b, float(rng.uniform(*scale)), axis, int(rng.integers(0, 2**31 - 1)))
