"""Procedural indoor rooms: floor, walls, ceiling, furniture-like boxes, spheres, cylinders, stacks,
wall pictures and ceiling lights, all drawn from one numpy Generator."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import Mesh, Rect, SceneObject, box, box_on_floor, cylinder, merge, quad, rects_overlap, sphere
from .scene import Light, Scene
from .textures import random_material


@dataclass(frozen=True)
class RoomConfig:
    """Ranges the generator draws from (metres). Sizes are chosen so visible depths stay ~0.5-10 m."""

    width: tuple[float, float] = (3.2, 7.0)
    length: tuple[float, float] = (3.2, 7.0)
    height: tuple[float, float] = (2.4, 3.1)
    furniture: tuple[int, int] = (4, 9)  # attempted pieces (some may not fit)
    pictures: tuple[int, int] = (0, 3)
    point_lights: tuple[int, int] = (1, 2)
    gap: float = 0.12  # free floor between pieces of furniture


def _footprint_of(size_x: float, size_y: float, x: float, y: float, yaw: float) -> Rect:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    half_x, half_y = (size_x * c + size_y * s) / 2, (size_x * s + size_y * c) / 2
    return x - half_x, y - half_y, x + half_x, y + half_y


class _Builder:
    """Places furniture without overlaps, inside the room and outside reserved floor areas."""

    def __init__(self, rng: np.random.Generator, dims: tuple[float, float, float], config: RoomConfig, reserved: list[Rect]):
        self.rng, self.config = rng, config
        self.width, self.length, self.height = dims
        self.taken: list[Rect] = list(reserved)
        self.objects: list[SceneObject] = []

    def fits(self, rect: Rect) -> bool:
        inside = rect[0] >= 0.02 and rect[1] >= 0.02 and rect[2] <= self.width - 0.02 and rect[3] <= self.length - 0.02
        return inside and not any(rects_overlap(rect, other, self.config.gap) for other in self.taken)

    def add(self, name: str, meshes: list[Mesh], role: str = "furniture", obstacle: bool = True) -> None:
        self.objects.append(SceneObject(name, merge(meshes), random_material(self.rng, role), obstacle))

    def spot(self, size_x: float, size_y: float, against_wall: bool, tries: int = 20) -> tuple[float, float, float] | None:
        """(x, y, yaw) for a size_x by size_y footprint, its back to a wall when `against_wall`."""
        rng = self.rng
        for _ in range(tries):
            if against_wall:
                wall = int(rng.integers(4))
                yaw = wall * math.pi / 2  # local +y (the front) points into the room
                along = self.width if wall in (0, 2) else self.length
                if along < size_x + 0.1:
                    continue
                t = rng.uniform(size_x / 2 + 0.05, along - size_x / 2 - 0.05)
                depth = size_y / 2 + 0.03
                x, y = {0: (t, depth), 1: (self.width - depth, t), 2: (t, self.length - depth), 3: (depth, t)}[wall]
            else:
                yaw = rng.uniform(0, math.pi)
                x, y = rng.uniform(0.3, self.width - 0.3), rng.uniform(0.3, self.length - 0.3)
            rect = _footprint_of(size_x, size_y, x, y, yaw)
            if self.fits(rect):
                self.taken.append(rect)
                return x, y, yaw
        return None

    # --- furniture kinds -------------------------------------------------------------------------
    def table(self) -> None:
        rng = self.rng
        sx, sy, h = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.68, 0.8)
        place = self.spot(sx, sy, against_wall=rng.random() < 0.3)
        if place is None:
            return
        x, y, yaw = place
        top = 0.04
        c, s = math.cos(yaw), math.sin(yaw)
        parts = [box_on_floor(x, y, h - top, (sx, sy, top), yaw)]
        for lx in (-1, 1):
            for ly in (-1, 1):
                ox, oy = lx * (sx / 2 - 0.06), ly * (sy / 2 - 0.06)
                parts.append(box_on_floor(x + c * ox - s * oy, y + s * ox + c * oy, 0.0, (0.05, 0.05, h - top), yaw))
        self.add("table", parts)
        self.things_on_top(x, y, yaw, sx, sy, h)

    def things_on_top(self, x: float, y: float, yaw: float, sx: float, sy: float, z: float) -> None:
        """0-3 small objects on a surface, some stacked."""
        rng = self.rng
        c, s = math.cos(yaw), math.sin(yaw)
        for _ in range(int(rng.integers(0, 4))):
            ox, oy = rng.uniform(-sx / 2 + 0.15, sx / 2 - 0.15), rng.uniform(-sy / 2 + 0.15, sy / 2 - 0.15)
            px, py = x + c * ox - s * oy, y + s * ox + c * oy
            kind = rng.integers(3)
            if kind == 0:
                r = rng.uniform(0.05, 0.12)
                self.add("ball", [sphere((px, py, z + r), r)], "object", obstacle=False)
            elif kind == 1:
                self.add("jar", [cylinder((px, py, z), rng.uniform(0.04, 0.09), rng.uniform(0.1, 0.35))], "object", obstacle=False)
            else:
                base = z
                for level in range(int(rng.integers(1, 4))):  # a small stack of boxes (books, parcels)
                    size = (rng.uniform(0.12, 0.25) * 0.85**level, rng.uniform(0.1, 0.22) * 0.85**level, rng.uniform(0.03, 0.12))
                    self.add("box", [box_on_floor(px, py, base, size, yaw + rng.uniform(-0.4, 0.4))], "object", obstacle=False)
                    base += size[2]

    def shelf(self) -> None:
        rng = self.rng
        sx, sy, h = rng.uniform(0.6, 1.5), rng.uniform(0.3, 0.45), rng.uniform(1.2, 2.1)
        place = self.spot(sx, sy, against_wall=True)
        if place is None:
            return
        x, y, yaw = place
        c, s = math.cos(yaw), math.sin(yaw)
        t = 0.03

        def at(ox: float, oy: float) -> tuple[float, float]:
            return x + c * ox - s * oy, y + s * ox + c * oy

        parts = [box_on_floor(*at(-sx / 2 + t / 2, 0), 0.0, (t, sy, h), yaw), box_on_floor(*at(sx / 2 - t / 2, 0), 0.0, (t, sy, h), yaw)]
        parts.append(box_on_floor(*at(0, -sy / 2 + t / 2), 0.0, (sx, t, h), yaw))  # back panel, against the wall
        boards = int(rng.integers(3, 6))
        for level in np.linspace(0.0, h - t, boards):
            parts.append(box_on_floor(*at(0, 0), float(level), (sx - 2 * t, sy, t), yaw))
        self.add("shelf", parts)
        for level in np.linspace(0.0, h - t, boards)[:-1]:  # items standing on the boards
            for _ in range(int(rng.integers(0, 3))):
                w, d, hh = rng.uniform(0.08, 0.3), rng.uniform(0.12, sy - 0.08), rng.uniform(0.1, 0.25)
                ox = rng.uniform(-sx / 2 + t + w / 2, sx / 2 - t - w / 2) if sx - 2 * t > w else 0.0
                self.add("item", [box_on_floor(*at(ox, 0), float(level) + t, (w, d, hh), yaw)], "object", obstacle=False)

    def cabinet(self) -> None:
        rng = self.rng
        sx, sy, h = rng.uniform(0.5, 1.3), rng.uniform(0.4, 0.6), rng.uniform(0.6, 1.1)
        place = self.spot(sx, sy, against_wall=True)
        if place is None:
            return
        x, y, yaw = place
        c, s = math.cos(yaw), math.sin(yaw)
        front = (x - s * (sy / 2 + 0.01), y + c * (sy / 2 + 0.01))
        parts = [box_on_floor(x, y, 0.0, (sx, sy, h), yaw)]
        for level in range(int(rng.integers(1, 4))):  # drawer fronts stand out a centimetre
            parts.append(box_on_floor(*front, 0.08 + level * 0.25, (sx * 0.8, 0.02, 0.16), yaw))
        self.add("cabinet", parts)
        if rng.random() < 0.6:
            self.things_on_top(x, y, yaw, sx, sy, h)

    def sofa(self) -> None:
        rng = self.rng
        sx, sy = rng.uniform(1.4, 2.2), rng.uniform(0.8, 1.0)
        place = self.spot(sx, sy, against_wall=True)
        if place is None:
            return
        x, y, yaw = place
        c, s = math.cos(yaw), math.sin(yaw)
        seat, back = rng.uniform(0.4, 0.5), rng.uniform(0.75, 0.95)
        parts = [box_on_floor(x, y, 0.0, (sx, sy, seat), yaw)]
        parts.append(box_on_floor(x + s * (sy / 2 - 0.1), y - c * (sy / 2 - 0.1), seat, (sx, 0.2, back - seat), yaw))
        for side in (-1, 1):
            parts.append(box_on_floor(x + c * side * (sx / 2 - 0.1), y + s * side * (sx / 2 - 0.1), seat, (0.2, sy, 0.2), yaw))
        self.add("sofa", parts)

    def stack(self) -> None:
        rng = self.rng
        base = rng.uniform(0.35, 0.7)
        place = self.spot(base, base, against_wall=rng.random() < 0.5)
        if place is None:
            return
        x, y, yaw = place
        z = 0.0
        for level in range(int(rng.integers(2, 5))):
            side = base * 0.85**level
            height = rng.uniform(0.2, 0.45)
            crate = box_on_floor(x, y, z, (side, side * rng.uniform(0.8, 1.0), height), yaw + rng.uniform(-0.3, 0.3))
            self.add("crate", [crate], "object", obstacle=level == 0)
            z += height

    def ball(self) -> None:
        r = self.rng.uniform(0.15, 0.4)
        place = self.spot(2 * r, 2 * r, against_wall=False)
        if place is not None:
            self.add("sphere", [sphere((place[0], place[1], r), r, segments=32)], "object")

    def column(self) -> None:
        rng = self.rng
        r, h = rng.uniform(0.1, 0.3), rng.uniform(0.4, self.height if rng.random() < 0.25 else 1.3)
        place = self.spot(2 * r, 2 * r, against_wall=rng.random() < 0.5)
        if place is not None:
            self.add("cylinder", [cylinder((place[0], place[1], 0.0), r, h)], "object")


def _room_shell(rng: np.random.Generator, width: float, length: float, height: float) -> list[SceneObject]:
    """Floor, ceiling and four walls as quads sharing exact corners, so the room is watertight."""
    corners = [np.array(p, dtype=np.float64) for p in ((0, 0), (width, 0), (width, length), (0, length))]
    lo = [np.array([*c, 0.0]) for c in corners]
    hi = [np.array([*c, height]) for c in corners]
    shell = [
        SceneObject("floor", quad(np.array(lo)), random_material(rng, "floor"), obstacle=False),
        SceneObject("ceiling", quad(np.array(hi[::-1])), random_material(rng, "ceiling"), obstacle=False),
    ]
    wall_material = random_material(rng, "wall")
    for k in range(4):
        j = (k + 1) % 4
        material = random_material(rng, "wall") if rng.random() < 0.25 else wall_material  # an accent wall
        shell.append(SceneObject(f"wall{k}", quad(np.array([lo[k], lo[j], hi[j], hi[k]])), material, obstacle=False))
    return shell


def _pictures(rng: np.random.Generator, builder: _Builder) -> None:
    """Thin framed panels hung on the walls: small depth steps and texture on otherwise plain walls."""
    width, length, height = builder.width, builder.length, builder.height
    for _ in range(int(rng.integers(builder.config.pictures[0], builder.config.pictures[1] + 1))):
        wall = int(rng.integers(4))
        w, h = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
        along = width if wall in (0, 2) else length
        if along < w + 0.4:
            continue
        t = rng.uniform(w / 2 + 0.2, along - w / 2 - 0.2)
        z = rng.uniform(1.1, max(1.2, height - h / 2 - 0.2))
        d = 0.03
        center = {0: (t, d / 2, z), 1: (width - d / 2, t, z), 2: (t, length - d / 2, z), 3: (d / 2, t, z)}[wall]
        size = (w, d, h) if wall in (0, 2) else (d, w, h)
        builder.add("picture", [box(center, size)], "object", obstacle=False)


def _lights(rng: np.random.Generator, width: float, length: float, height: float, config: RoomConfig) -> list[Light]:
    lights = []
    count = int(rng.integers(config.point_lights[0], config.point_lights[1] + 1))
    for _ in range(count):
        warmth = rng.uniform(0.0, 0.15)
        power = rng.uniform(1.6, 2.4) / count
        position = (rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * length, height - rng.uniform(0.2, 0.4))
        lights.append(Light("point", (power, power * (1 - warmth / 2), power * (1 - warmth)), position, falloff_distance=3.0))
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 0.9)
    direction = (-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth), -math.sin(elevation))
    fill = rng.uniform(0.2, 0.35)
    lights.append(Light("directional", (fill * 0.95, fill, fill * 1.05), direction=direction))
    return lights


def build_room(rng: np.random.Generator, config: RoomConfig = RoomConfig(), reserved: list[Rect] | None = None,
               dims: tuple[float, float, float] | None = None) -> Scene:
    """A furnished room drawn from `rng`. `reserved` floor rectangles stay free (a camera path);
    `dims` fixes (width, length, height) instead of drawing them."""
    if dims is None:
        dims = (rng.uniform(*config.width), rng.uniform(*config.length), rng.uniform(*config.height))
    width, length, height = (float(d) for d in dims)
    shell = _room_shell(rng, width, length, height)
    builder = _Builder(rng, (width, length, height), config, reserved or [])
    kinds = [builder.table, builder.shelf, builder.cabinet, builder.sofa, builder.stack, builder.ball, builder.column]
    weights = np.array([0.2, 0.15, 0.17, 0.08, 0.15, 0.12, 0.13])
    for _ in range(int(rng.integers(config.furniture[0], config.furniture[1] + 1))):
        kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]()
    _pictures(rng, builder)
    return Scene(
        objects=shell + builder.objects,
        lights=_lights(rng, width, length, height, config),
        ambient=float(rng.uniform(0.18, 0.3)),
        room=(0.0, 0.0, 0.0, width, length, height),
    )
