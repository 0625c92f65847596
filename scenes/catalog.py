"""Object kinds of the procedural world with real-world size distributions, so that the size of a
thing in the picture says how far away it is (the metric cue a monocular model can learn).

One owner for every size the world draws: rooms (scenes.room), outdoor scenes (scenes.outdoor) and
the tests that check the drawn sizes (tests/test_catalog.py) all read this table. Sizes are metres:
`width` is side to side as seen from the object's front, `depth` front to back, `height` floor to
top. Each range names where it comes from; they are typical values of furniture standards and
product catalogues, vehicle classes and human stature, not measurements of one product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dim:
    """One dimension's distribution in metres: uniform on [low, high], or a normal(mean, sd)
    truncated to [low, high] when `sd` is set (for quantities with a known spread, like stature)."""

    low: float
    high: float
    mean: float | None = None
    sd: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high:
            raise ValueError(f"need 0 < low <= high, got {self.low} and {self.high}")
        if (self.mean is None) != (self.sd is None):
            raise ValueError("give both mean and sd for a normal dimension, or neither")
        if self.sd is not None and not (self.sd > 0 and self.low <= self.mean <= self.high):
            raise ValueError(f"need sd > 0 and low <= mean <= high, got mean {self.mean}, sd {self.sd}")

    def draw(self, rng: np.random.Generator) -> float:
        if self.sd is None:
            return float(rng.uniform(self.low, self.high))
        for _ in range(100):  # rejection keeps the normal's shape inside the bounds
            value = float(rng.normal(self.mean, self.sd))
            if self.low <= value <= self.high:
                return value
        return float(np.clip(self.mean, self.low, self.high))


@dataclass(frozen=True)
class Kind:
    """A kind of object: the caption word, its size distribution and where the figures come from."""

    word: str
    width: Dim
    depth: Dim
    height: Dim
    source: str

    def draw(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """(width, depth, height) in metres, drawn independently per dimension."""
        return self.width.draw(rng), self.depth.draw(rng), self.height.draw(rng)


def _u(low: float, high: float) -> Dim:
    return Dim(low, high)


KINDS: dict[str, Kind] = {
    # ---------------------------------------------------------------- indoor
    "door": Kind("door", _u(0.76, 0.92), _u(0.035, 0.045), _u(1.98, 2.10),
                 "interior door leaves: 2.03 m (6 ft 8 in) and 1.98-2.10 m heights, 0.76-0.92 m widths (EN 14351 / US stock sizes)"),
    "window": Kind("window", _u(0.6, 1.6), _u(0.05, 0.08), _u(0.9, 1.5),
                   "domestic windows 0.6-1.6 m wide, 0.9-1.5 m tall, sill at 0.8-1.0 m"),
    "chair": Kind("chair", _u(0.42, 0.52), _u(0.42, 0.52), _u(0.80, 0.95),
                  "dining and office chairs: seat 0.42-0.48 m high (EN 16139 / BIFMA), back top 0.80-0.95 m"),
    "table": Kind("table", _u(0.8, 1.8), _u(0.7, 1.0), _u(0.72, 0.77),
                  "dining tables 0.72-0.77 m high (about 0.74 m standard), 0.8-1.8 m long"),
    "desk": Kind("desk", _u(1.0, 1.6), _u(0.6, 0.8), _u(0.70, 0.76),
                 "office desks 0.70-0.76 m high (EN 527), 1.0-1.6 m wide"),
    "bed": Kind("bed", _u(0.9, 1.8), _u(1.95, 2.15), _u(0.45, 0.60),
                "single to queen mattresses 0.9-1.8 m wide, 1.9-2.0 m long plus frame; top 0.45-0.60 m high"),
    "sofa": Kind("sofa", _u(1.5, 2.3), _u(0.8, 1.0), _u(0.75, 0.95),
                 "two- and three-seat sofas 1.5-2.3 m wide, 0.8-1.0 m deep, seat 0.40-0.48 m, back 0.75-0.95 m"),
    "wardrobe": Kind("wardrobe", _u(0.8, 2.0), _u(0.55, 0.65), _u(1.8, 2.2),
                     "wardrobes 0.55-0.65 m deep (a hanger's width), 1.8-2.2 m tall"),
    "shelf": Kind("shelf", _u(0.6, 1.2), _u(0.28, 0.40), _u(1.0, 2.1),
                  "bookcases 0.28-0.40 m deep, 1.0-2.1 m tall, 0.6-1.2 m wide"),
    "cabinet": Kind("cabinet", _u(0.5, 1.2), _u(0.40, 0.60), _u(0.70, 0.95),
                    "sideboards and kitchen base units 0.40-0.60 m deep, 0.70-0.95 m high"),
    "crate": Kind("crate", _u(0.3, 0.6), _u(0.3, 0.6), _u(0.2, 0.45),
                  "moving boxes and crates 0.3-0.6 m"),
    "ball": Kind("ball", _u(0.55, 0.75), _u(0.55, 0.75), _u(0.55, 0.75),
                 "exercise balls 0.55-0.75 m in diameter"),
    "plant": Kind("plant", _u(0.3, 0.6), _u(0.3, 0.6), _u(0.6, 1.6),
                  "potted floor plants 0.6-1.6 m tall"),
    "lamp": Kind("lamp", _u(0.25, 0.45), _u(0.25, 0.45), _u(1.4, 1.8),
                 "floor lamps 1.4-1.8 m tall"),
    # ---------------------------------------------------------------- outdoor
    "car": Kind("car", _u(1.70, 1.90), _u(3.8, 4.9), _u(1.40, 1.65),
                "passenger cars (small to mid-size): 3.8-4.9 m long, 1.70-1.90 m wide, 1.40-1.65 m tall"),
    "van": Kind("van", _u(1.9, 2.1), _u(4.8, 5.9), _u(1.9, 2.6),
                "panel vans: 4.8-5.9 m long, 1.9-2.1 m wide, 1.9-2.6 m tall"),
    "person": Kind("person", _u(0.38, 0.50), _u(0.22, 0.30), Dim(1.50, 1.95, mean=1.71, sd=0.09),
                   "adult stature: mean about 1.71 m, sd about 0.09 m (mixed-sex adult populations), shoulder width 0.38-0.50 m"),
    "tree": Kind("tree", _u(2.5, 8.0), _u(2.5, 8.0), _u(4.0, 15.0),
                 "street and park trees: 4-15 m tall, crowns 2.5-8 m across"),
    "building": Kind("building", _u(8.0, 30.0), _u(8.0, 20.0), _u(3.0, 28.0),
                     "houses to mid-rise blocks: 1-8 storeys of 2.8-3.5 m, 8-30 m frontage"),
    "storey": Kind("storey", _u(2.8, 3.5), _u(2.8, 3.5), _u(2.8, 3.5),
                   "floor-to-floor height of residential and office buildings: 2.8-3.5 m"),
    "street_light": Kind("street light", _u(0.15, 0.25), _u(0.15, 0.25), _u(4.0, 8.0),
                         "street-light columns 4-8 m tall"),
    "bench": Kind("bench", _u(1.5, 2.0), _u(0.5, 0.7), _u(0.75, 0.90),
                  "park benches 1.5-2.0 m long, seat about 0.45 m, back 0.75-0.90 m"),
    "bin": Kind("bin", _u(0.5, 0.7), _u(0.5, 0.8), _u(0.95, 1.10),
                "wheelie bins (120-240 l): 0.95-1.10 m tall"),
}

# Rooms: floor plan and ceiling height (metres).
ROOM_WIDTH = _u(2.8, 7.0)
ROOM_LENGTH = _u(3.0, 7.5)
ROOM_HEIGHT = _u(2.4, 3.0)  # 2.4 m is a common minimum habitable ceiling height; 2.4-3.0 m typical


def kind(name: str) -> Kind:
    """The catalogue entry for `name`; a ValueError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown object kind {name!r}: expected one of {', '.join(sorted(KINDS))}") from None


def draw_size(rng: np.random.Generator, name: str) -> tuple[float, float, float]:
    """(width, depth, height) in metres of one object of kind `name`."""
    return kind(name).draw(rng)
