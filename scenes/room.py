"""Procedural indoor rooms: floor, walls, ceiling, doors, windows, furniture of known kinds with
real-world sizes (scenes.catalog), things on surfaces, wall pictures and lights, all drawn from one
numpy Generator."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import catalog
from .geometry import Mesh, Rect, SceneObject, box, box_on_floor, cylinder, merge, quad, rects_overlap, sphere
from .light_colour import CAST_AFTER_WHITE_BALANCE, DAYLIGHT, LAMPS, light_colour
from .scene import Light, Scene
from .textures import Material, random_material


@dataclass(frozen=True)
class RoomConfig:
    """What the generator draws per room. Floor plan and ceiling height come from scenes.catalog
    unless given here as (low, high) ranges in metres; visible depths stay ~0.5-10 m."""

    width: tuple[float, float] | None = None
    length: tuple[float, float] | None = None
    height: tuple[float, float] | None = None
    furniture: tuple[int, int] = (5, 10)  # attempted pieces (some may not fit)
    doors: tuple[int, int] = (1, 2)
    windows: tuple[int, int] = (0, 2)
    pictures: tuple[int, int] = (0, 3)
    point_lights: tuple[int, int] = (1, 2)
    gap: float = 0.12  # free floor between pieces of furniture

    def draw_dims(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """(width, length, height) in metres."""
        dims = []
        for given, default in ((self.width, catalog.ROOM_WIDTH), (self.length, catalog.ROOM_LENGTH), (self.height, catalog.ROOM_HEIGHT)):
            dims.append(float(rng.uniform(*given)) if given is not None else default.draw(rng))
        return dims[0], dims[1], dims[2]


def _footprint_of(size_x: float, size_y: float, x: float, y: float, yaw: float) -> Rect:
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    half_x, half_y = (size_x * c + size_y * s) / 2, (size_x * s + size_y * c) / 2
    return x - half_x, y - half_y, x + half_x, y + half_y


class _Builder:
    """Places furniture without overlaps, inside the room and outside reserved floor areas.

    Local frame of a piece: x along its width, y from its back (-) to its front (+), turned by yaw;
    a piece against a wall has its back to the wall."""

    def __init__(self, rng: np.random.Generator, dims: tuple[float, float, float], config: RoomConfig, reserved: list[Rect]):
        self.rng, self.config = rng, config
        self.width, self.length, self.height = dims
        self.taken: list[Rect] = list(reserved)
        self.objects: list[SceneObject] = []

    def fits(self, rect: Rect, gap: float | None = None) -> bool:
        inside = rect[0] >= 0.02 and rect[1] >= 0.02 and rect[2] <= self.width - 0.02 and rect[3] <= self.length - 0.02
        gap = self.config.gap if gap is None else gap
        return inside and not any(rects_overlap(rect, other, gap) for other in self.taken)

    def add(self, name: str, meshes: list[Mesh], role: str = "furniture", obstacle: bool = True,
            size: tuple[float, float, float] | None = None) -> None:
        self.objects.append(SceneObject(name, merge(meshes), random_material(self.rng, role), obstacle, size))

    def wall_spot(self, width: float, along_min: float = 0.05) -> tuple[int, float] | None:
        """A wall (0-3) and a position along it with room for `width`."""
        wall = int(self.rng.integers(4))
        along = self.width if wall in (0, 2) else self.length
        if along < width + 2 * along_min:
            return None
        return wall, float(self.rng.uniform(width / 2 + along_min, along - width / 2 - along_min))

    def on_wall(self, wall: int, t: float, off: float) -> tuple[float, float, float]:
        """(x, y, yaw) of a point `t` along `wall` and `off` into the room, facing into the room."""
        x, y = {0: (t, off), 1: (self.width - off, t), 2: (t, self.length - off), 3: (off, t)}[wall]
        return x, y, wall * math.pi / 2

    def spot(self, size_x: float, size_y: float, against_wall: bool, tries: int = 20) -> tuple[float, float, float] | None:
        """(x, y, yaw) for a size_x by size_y footprint, its back to a wall when `against_wall`."""
        rng = self.rng
        for _ in range(tries):
            if against_wall:
                found = self.wall_spot(size_x)
                if found is None:
                    continue
                x, y, yaw = self.on_wall(*found, size_y / 2 + 0.03)
            else:
                yaw = rng.uniform(0, math.pi)
                x, y = rng.uniform(0.3, self.width - 0.3), rng.uniform(0.3, self.length - 0.3)
            rect = _footprint_of(size_x, size_y, x, y, yaw)
            if self.fits(rect):
                self.taken.append(rect)
                return x, y, yaw
        return None

    def placed(self, name: str, against_wall: bool):
        """A catalogue size for kind `name` and a free spot for it: ((width, depth, height), x, y,
        yaw, local-to-world map), or None when it does not fit."""
        size = catalog.draw_size(self.rng, name)
        place = self.spot(size[0], size[1], against_wall)
        return None if place is None else (size, *place, _local(*place))

    # --- furniture kinds (sizes from scenes.catalog) -------------------------------------------
    def table(self) -> None:
        rng = self.rng
        sx, sy, h = catalog.draw_size(rng, "table")
        place = self.spot(sx, sy, against_wall=rng.random() < 0.25)
        if place is None:
            return
        x, y, yaw = place
        top = rng.uniform(0.025, 0.05)
        at = _local(x, y, yaw)
        parts = [box_on_floor(x, y, h - top, (sx, sy, top), yaw)]
        for lx in (-1, 1):
            for ly in (-1, 1):
                parts.append(box_on_floor(*at(lx * (sx / 2 - 0.06), ly * (sy / 2 - 0.06)), 0.0, (0.05, 0.05, h - top), yaw))
        self.add("table", parts, size=(sx, sy, h))
        self.things_on_top(x, y, yaw, sx, sy, h)
        for side in rng.permutation(4)[: int(rng.integers(0, 5))]:  # chairs pulled up to its sides
            if side < 2:
                self.chair(*at(0.0, (1 if side else -1) * (sy / 2 + 0.3)), yaw + (0 if side else math.pi) + math.pi)
            else:
                self.chair(*at((1 if side == 3 else -1) * (sx / 2 + 0.3), 0.0), yaw + (-math.pi / 2 if side == 3 else math.pi / 2))

    def chair(self, x: float | None = None, y: float | None = None, yaw: float | None = None) -> None:
        """A chair facing along local +y; free-standing when no place is given."""
        rng = self.rng
        w, d, back_top = catalog.draw_size(rng, "chair")
        if x is None:
            place = self.spot(w, d, against_wall=rng.random() < 0.5)
            if place is None:
                return
            x, y, yaw = place
        else:
            rect = _footprint_of(w, d, x, y, yaw)
            if not self.fits(rect, gap=0.03):
                return
            self.taken.append(rect)
        seat = rng.uniform(0.43, 0.48)  # EN 16139 / BIFMA seat heights
        at = _local(x, y, yaw)
        parts = [box_on_floor(x, y, seat - 0.04, (w, d, 0.04), yaw)]
        for lx in (-1, 1):
            for ly in (-1, 1):
                parts.append(box_on_floor(*at(lx * (w / 2 - 0.03), ly * (d / 2 - 0.03)), 0.0, (0.03, 0.03, seat - 0.04), yaw))
        parts.append(box_on_floor(*at(0.0, -d / 2 + 0.02), seat, (w, 0.04, back_top - seat), yaw))
        self.add("chair", parts, size=(w, d, back_top))

    def desk(self) -> None:
        rng = self.rng
        found = self.placed("desk", against_wall=True)
        if found is None:
            return
        (sx, sy, h), x, y, yaw, at = found
        top = 0.03
        parts = [box_on_floor(x, y, h - top, (sx, sy, top), yaw)]
        for lx in (-1, 1):  # side panels
            parts.append(box_on_floor(*at(lx * (sx / 2 - 0.015), 0.0), 0.0, (0.03, sy, h - top), yaw))
        self.add("desk", parts, size=(sx, sy, h))
        self.things_on_top(x, y, yaw, sx, sy, h)
        if rng.random() < 0.8:
            self.chair(*at(rng.uniform(-0.2, 0.2), sy / 2 + 0.3), yaw + math.pi + rng.uniform(-0.3, 0.3))

    def bed(self) -> None:
        rng = self.rng
        found = self.placed("bed", against_wall=True)  # the head against the wall
        if found is None:
            return
        (w, length, h), x, y, yaw, at = found
        mattress = rng.uniform(0.18, 0.25)
        parts = [box_on_floor(x, y, 0.0, (w, length, h - mattress), yaw)]
        self.add("bed", parts + [box_on_floor(*at(0.0, -length / 2 + 0.04), 0.0, (w, 0.08, rng.uniform(0.9, 1.2)), yaw)],
                 size=(w, length, h))
        self.add("mattress", [box_on_floor(x, y, h - mattress, (w - 0.04, length - 0.1, mattress), yaw)], "object", obstacle=False)
        for k in range(1 if w < 1.2 else 2):  # pillows at the head
            px = 0.0 if w < 1.2 else (k - 0.5) * w / 2
            pillow = box_on_floor(*at(px, -length / 2 + 0.35), h, (min(0.6, w / 2 - 0.05), 0.4, 0.12), yaw)
            self.add("pillow", [pillow], "object", obstacle=False)

    def wardrobe(self) -> None:
        found = self.placed("wardrobe", against_wall=True)
        if found is None:
            return
        (w, d, h), x, y, yaw, at = found
        h = min(h, self.height - 0.1)
        doors = 2 if w < 1.3 else 3
        parts = [box_on_floor(x, y, 0.0, (w, d, h), yaw)]
        for k in range(doors):  # door panels stand a centimetre proud, with a gap between them
            cx = (k + 0.5) * w / doors - w / 2
            parts.append(box_on_floor(*at(cx, d / 2 + 0.005), 0.05, (w / doors - 0.02, 0.01, h - 0.1), yaw))
        self.add("wardrobe", parts, size=(w, d, h))

    def things_on_top(self, x: float, y: float, yaw: float, sx: float, sy: float, z: float) -> None:
        """0-3 small objects on a surface, some stacked."""
        rng = self.rng
        at = _local(x, y, yaw)
        for _ in range(int(rng.integers(0, 4))):
            px, py = at(rng.uniform(-sx / 2 + 0.15, sx / 2 - 0.15), rng.uniform(-sy / 2 + 0.15, sy / 2 - 0.15))
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
        found = self.placed("shelf", against_wall=True)
        if found is None:
            return
        (sx, sy, h), x, y, yaw, at = found
        t = 0.03
        parts = [box_on_floor(*at(-sx / 2 + t / 2, 0), 0.0, (t, sy, h), yaw), box_on_floor(*at(sx / 2 - t / 2, 0), 0.0, (t, sy, h), yaw)]
        parts.append(box_on_floor(*at(0, -sy / 2 + t / 2), 0.0, (sx, t, h), yaw))  # back panel, against the wall
        boards = int(rng.integers(3, 6))
        for level in np.linspace(0.0, h - t, boards):
            parts.append(box_on_floor(*at(0, 0), float(level), (sx - 2 * t, sy, t), yaw))
        self.add("shelf", parts, size=(sx, sy, h))
        for level in np.linspace(0.0, h - t, boards)[:-1]:  # items standing on the boards
            for _ in range(int(rng.integers(0, 3))):
                w, d, hh = rng.uniform(0.08, 0.3), rng.uniform(0.12, sy - 0.08), rng.uniform(0.1, 0.25)
                ox = rng.uniform(-sx / 2 + t + w / 2, sx / 2 - t - w / 2) if sx - 2 * t > w else 0.0
                self.add("item", [box_on_floor(*at(ox, 0), float(level) + t, (w, d, hh), yaw)], "object", obstacle=False)

    def cabinet(self) -> None:
        rng = self.rng
        found = self.placed("cabinet", against_wall=True)
        if found is None:
            return
        (sx, sy, h), x, y, yaw, at = found
        parts = [box_on_floor(x, y, 0.0, (sx, sy, h), yaw)]
        for level in range(int(rng.integers(1, 4))):  # drawer fronts stand out a centimetre
            if 0.24 + level * 0.25 > h - 0.03:
                break
            parts.append(box_on_floor(*at(0.0, sy / 2 + 0.01), 0.08 + level * 0.25, (sx * 0.8, 0.02, 0.16), yaw))
        self.add("cabinet", parts, size=(sx, sy, h))
        if rng.random() < 0.6:
            self.things_on_top(x, y, yaw, sx, sy, h)

    def sofa(self) -> None:
        rng = self.rng
        found = self.placed("sofa", against_wall=True)
        if found is None:
            return
        (sx, sy, back), x, y, yaw, at = found
        seat = rng.uniform(0.40, 0.48)
        parts = [box_on_floor(x, y, 0.0, (sx, sy, seat), yaw)]
        parts.append(box_on_floor(*at(0.0, -sy / 2 + 0.1), seat, (sx, 0.2, back - seat), yaw))
        for side in (-1, 1):
            parts.append(box_on_floor(*at(side * (sx / 2 - 0.1), 0.0), seat, (0.2, sy, 0.2), yaw))
        self.add("sofa", parts, size=(sx, sy, back))

    def stack(self) -> None:
        rng = self.rng
        w, d, _ = catalog.draw_size(rng, "crate")
        place = self.spot(w, d, against_wall=rng.random() < 0.5)
        if place is None:
            return
        x, y, yaw = place
        z = 0.0
        for level in range(int(rng.integers(1, 4))):
            cw, cd, ch = catalog.draw_size(rng, "crate")
            cw, cd = min(cw, w) * 0.92**level, min(cd, d) * 0.92**level  # each crate no wider than the one below
            self.add("crate", [box_on_floor(x, y, z, (cw, cd, ch), yaw + rng.uniform(-0.2, 0.2))], "object",
                     obstacle=level == 0, size=(cw, cd, ch))
            z += ch

    def exercise_ball(self) -> None:
        diameter = catalog.draw_size(self.rng, "ball")[2]
        place = self.spot(diameter, diameter, against_wall=False)
        if place is not None:
            r = diameter / 2
            self.add("exercise ball", [sphere((place[0], place[1], r), r, segments=32)], "object", size=(diameter,) * 3)

    def plant(self) -> None:
        rng = self.rng
        w, _, h = catalog.draw_size(rng, "plant")
        place = self.spot(w, w, against_wall=rng.random() < 0.7)
        if place is None:
            return
        x, y, _ = place
        pot_r, pot_h = rng.uniform(0.12, 0.2), rng.uniform(0.25, 0.4)
        self.add("pot", [cylinder((x, y, 0.0), pot_r, pot_h)], "object", obstacle=False)
        leaves, z = [], pot_h
        while z < h - 0.05:  # a column of leaf clusters up to the plant's height
            r = min(w / 2, (h - z) / 2) * rng.uniform(0.7, 1.0)
            leaves.append(sphere((x + rng.uniform(-0.05, 0.05), y + rng.uniform(-0.05, 0.05), z + r), max(r, 0.05)))
            z += 1.4 * r
        top = max(v for mesh in leaves for v in mesh.vertices[:, 2]) if leaves else pot_h
        self.add("plant", leaves, "object", size=(w, w, top))

    def lamp(self) -> None:
        rng = self.rng
        w, _, h = catalog.draw_size(rng, "lamp")
        place = self.spot(w, w, against_wall=rng.random() < 0.6)
        if place is None:
            return
        x, y, _ = place
        shade = rng.uniform(0.25, 0.35)
        parts = [cylinder((x, y, 0.0), w / 2 * 0.8, 0.03), cylinder((x, y, 0.03), 0.015, h - shade - 0.03),
                 cylinder((x, y, h - shade), w / 2, shade)]
        self.add("lamp", parts, "object", size=(w, w, h))


def _local(x: float, y: float, yaw: float):
    """Maps a piece's local (ox, oy) to world (x, y)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return lambda ox, oy: (x + c * ox - s * oy, y + s * ox + c * oy)


def _doors(rng: np.random.Generator, builder: _Builder) -> None:
    """Door leaves set in the walls, each with its frame; the floor in front of a door stays free."""
    for _ in range(int(rng.integers(builder.config.doors[0], builder.config.doors[1] + 1))):
        w, d, h = catalog.draw_size(rng, "door")
        found = builder.wall_spot(w + 0.2, along_min=0.15)
        if found is None:
            continue
        wall, t = found
        x, y, yaw = builder.on_wall(wall, t, 0.0)
        swing = _footprint_of(w + 0.2, w + 0.1, *builder.on_wall(wall, t, (w + 0.1) / 2 + 0.03))  # kept clear
        if not builder.fits(swing, gap=0.0):
            continue
        builder.taken.append(swing)
        at = _local(x, y, yaw)
        builder.add("door", [box_on_floor(*at(0.0, d / 2), 0.0, (w, d, h), yaw)], "furniture", obstacle=False, size=(w, d, h))
        frame = [box_on_floor(*at(side * (w / 2 + 0.04), 0.015), 0.0, (0.08, 0.03, h + 0.08), yaw) for side in (-1, 1)]
        frame.append(box_on_floor(*at(0.0, 0.015), h, (w + 0.16, 0.03, 0.08), yaw))
        builder.add("door frame", frame, "furniture", obstacle=False)


def _windows(rng: np.random.Generator, builder: _Builder) -> None:
    """Windows: a bright pane (daylight) in a frame on a wall, sill at 0.8-1.0 m."""
    for _ in range(int(rng.integers(builder.config.windows[0], builder.config.windows[1] + 1))):
        w, d, h = catalog.draw_size(rng, "window")
        sill = rng.uniform(0.8, 1.0)
        h = min(h, builder.height - sill - 0.2)
        found = builder.wall_spot(w, along_min=0.3)
        if found is None or h < 0.5:
            continue
        x, y, yaw = builder.on_wall(*found, 0.0)
        at = _local(x, y, yaw)
        bright = rng.uniform(0.8, 1.0)
        tint = (bright * rng.uniform(0.85, 0.95), bright * rng.uniform(0.9, 1.0), bright)
        pane = Material("mottled", tint, tuple(c * 0.8 for c in tint), float(rng.uniform(0.3, 0.8)), seed=int(rng.integers(2**31 - 1)))
        builder.objects.append(SceneObject("window", box_on_floor(*at(0.0, 0.01), sill, (w, 0.02, h), yaw), pane, False, (w, d, h)))
        frame = [box_on_floor(*at(side * (w / 2 + 0.03), d / 2), sill - 0.03, (0.06, d, h + 0.06), yaw) for side in (-1, 1)]
        frame += [box_on_floor(*at(0.0, d / 2), z, (w + 0.12, d, 0.05), yaw) for z in (sill - 0.05, sill + h)]
        builder.add("window frame", frame, "furniture", obstacle=False)


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
        builder.add("picture", [box(center, size)], "picture", obstacle=False)


def _lights(rng: np.random.Generator, width: float, length: float, height: float, config: RoomConfig) -> list[Light]:
    """Ceiling lamps (warm to neutral white, shadowed) and a soft daylight fill from one side."""
    lights = []
    count = int(rng.integers(config.point_lights[0], config.point_lights[1] + 1))
    for _ in range(count):
        colour = light_colour(rng.uniform(*LAMPS), CAST_AFTER_WHITE_BALANCE)
        power = rng.uniform(1.6, 2.4) / count
        position = (rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * length, height - rng.uniform(0.2, 0.4))
        lights.append(Light("point", tuple(power * c for c in colour), position, falloff_distance=3.0))
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 0.9)
    direction = (-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth), -math.sin(elevation))
    fill = rng.uniform(0.2, 0.35)
    daylight = light_colour(rng.uniform(*DAYLIGHT), CAST_AFTER_WHITE_BALANCE)
    lights.append(Light("directional", tuple(fill * c for c in daylight), direction=direction))
    return lights


def build_room(rng: np.random.Generator, config: RoomConfig = RoomConfig(), reserved: list[Rect] | None = None,
               dims: tuple[float, float, float] | None = None) -> Scene:
    """A furnished room drawn from `rng`. `reserved` floor rectangles stay free (a camera path);
    `dims` fixes (width, length, height) instead of drawing them."""
    if dims is None:
        dims = config.draw_dims(rng)
    width, length, height = (float(d) for d in dims)
    shell = _room_shell(rng, width, length, height)
    builder = _Builder(rng, (width, length, height), config, reserved or [])
    _doors(rng, builder)
    _windows(rng, builder)
    pieces = {builder.table: 0.14, builder.desk: 0.08, builder.shelf: 0.12, builder.cabinet: 0.12, builder.sofa: 0.08,
              builder.bed: 0.07, builder.wardrobe: 0.07, builder.stack: 0.08, builder.exercise_ball: 0.03,
              builder.plant: 0.09, builder.lamp: 0.06, builder.chair: 0.06}  # fmt: skip
    kinds, weights = list(pieces), np.array(list(pieces.values()))
    for _ in range(int(rng.integers(config.furniture[0], config.furniture[1] + 1))):
        kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]()
    _pictures(rng, builder)
    return Scene(
        objects=shell + builder.objects,
        lights=_lights(rng, width, length, height, config),
        ambient=float(rng.uniform(0.18, 0.3)),
        room=(0.0, 0.0, 0.0, width, length, height),
    )
