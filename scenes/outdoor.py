"""Procedural outdoor scenes: a street with buildings, a plaza or a park beside a road, with cars,
vans, trees, people, street lights, benches and bins, lit by a sun that casts shadows under a sky.

World frame: z up, metres; the road runs along x, centred on y = 0. Every object size is drawn
from scenes.catalog (so the apparent size of a car or a person says how far away it is); layout
widths (lanes, pavements, kerbs) are OutdoorConfig ranges with their sources. Rays that hit
nothing are sky: depth 0 and object id -1 (scenes.render.sky_mask). Depth of interest is capped
at OUTDOOR_MAX_DEPTH like KITTI; farther geometry keeps its exact depth and is for the caller to cap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from common.camera import intrinsics_for
from common.sizes import check_size

from .camera import camera_rays, pose_from_angles
from .catalog import draw_size, kind
from .frame import RGBDFrame
from .geometry import Mesh, Rect, SceneObject, box, cylinder, merge, quad, rects_overlap, sphere
from .render import cast, render_view
from .scene import Light, Scene, Sky
from .textures import Material, random_material

OUTDOOR_MAX_DEPTH = 80.0  # metres: the KITTI evaluation cap, used as this split's cap
ROAD_Z = 0.01  # asphalt surface above the base ground plane (keeps the two planes apart)
GROUND_HALF_SIZE = 300.0  # metres: the base ground plane reaches this far from the origin

GLASS = Material("mottled", (0.05, 0.07, 0.09), (0.16, 0.19, 0.23), scale=0.6, seed=11)
RUBBER = Material("plain", (0.025, 0.025, 0.025), (0.02, 0.02, 0.02))
PAINT = Material("plain", (0.85, 0.85, 0.82), (0.8, 0.8, 0.78))  # road markings
METAL = Material("mottled", (0.18, 0.19, 0.2), (0.1, 0.1, 0.11), scale=0.5, seed=5)


@dataclass(frozen=True)
class OutdoorConfig:
    """Ranges the generator draws from (metres unless named). Object sizes come from
    scenes.catalog; these are the layout's own quantities."""

    street_length: tuple[float, float] = (140.0, 220.0)  # built frontage along the road
    lanes: tuple[int, int] = (2, 4)
    lane_width: tuple[float, float] = (2.75, 3.5)  # urban traffic lanes: 2.75-3.65 m (highway design manuals)
    parking_width: tuple[float, float] = (2.0, 2.5)  # parallel-parking bays: 2.0-2.5 m
    parking_probability: float = 0.7  # a side of the road has a parking lane
    pavement_width: tuple[float, float] = (2.0, 5.0)  # footways: 2 m minimum, wider in centres
    kerb_height: tuple[float, float] = (0.10, 0.15)  # kerb upstands of 100-150 mm
    setback: tuple[float, float] = (0.0, 6.0)  # building front behind the pavement
    building_gap: tuple[float, float] = (0.0, 5.0)  # between neighbouring buildings
    cross_street_probability: float = 0.7  # the street's far ends are closed by a cross street's buildings
    # Side of the road: buildings (a street), an open paved square (a plaza) or a park.
    side_kinds: tuple[tuple[str, float], ...] = (("buildings", 0.65), ("plaza", 0.15), ("park", 0.2))
    open_depth: tuple[float, float] = (25.0, 60.0)  # plaza or park depth from the pavement
    plaza_length: tuple[float, float] = (35.0, 80.0)  # along the road
    park_length: tuple[float, float] = (50.0, 150.0)
    tree_lined_probability: float = 0.55
    tree_spacing: tuple[float, float] = (7.0, 14.0)
    light_spacing: tuple[float, float] = (20.0, 35.0)  # street lights: 3-5 column heights apart
    moving_vehicles: tuple[int, int] = (0, 6)
    van_share: float = 0.15
    people: tuple[int, int] = (3, 16)  # on the pavements; plazas and parks add their own
    gap: float = 0.3  # free ground between placed objects


# ----------------------------------------------------------------- mesh helpers (local frame:
# an object faces +x; x extent is its catalogue depth, y extent its width, z from its base)

def _placed(mesh: Mesh, x: float, y: float, z: float, yaw: float) -> Mesh:
    """`mesh` turned by `yaw` about z and moved so its local origin sits at (x, y, z)."""
    c, s = math.cos(yaw), math.sin(yaw)
    v = mesh.vertices
    turned = np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], axis=1)
    return Mesh(turned + (x, y, z), mesh.triangles)


@lru_cache(maxsize=8)
def _unit_sphere(segments: int) -> Mesh:
    return sphere((0.0, 0.0, 0.0), 1.0, segments)


@lru_cache(maxsize=8)
def _unit_cylinder(segments: int) -> Mesh:
    return cylinder((0.0, 0.0, 0.0), 1.0, 1.0, segments)


def _ellipsoid(center: tuple[float, float, float], semi_axes: tuple[float, float, float], segments: int = 16) -> Mesh:
    """A UV sphere scaled per axis; with `segments` divisible by 4 its extents are exactly 2 x semi_axes."""
    unit = _unit_sphere(segments)
    return Mesh(unit.vertices * semi_axes + center, unit.triangles)


def _cylinder(base: tuple[float, float, float], radius: float, height: float, segments: int = 10) -> Mesh:
    """geometry.cylinder from a cached unit cylinder (scenes place hundreds of them)."""
    unit = _unit_cylinder(segments)
    return Mesh(unit.vertices * (radius, radius, height) + base, unit.triangles)


def _boxes(centers: np.ndarray, sizes: np.ndarray) -> Mesh:
    """Many axis-aligned boxes as one mesh, built at once (a facade's window panes)."""
    centers, sizes = np.asarray(centers, dtype=np.float64).reshape(-1, 3), np.asarray(sizes, dtype=np.float64).reshape(-1, 3)
    unit = box((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    vertices = unit.vertices[None] * sizes[:, None] + centers[:, None]
    triangles = unit.triangles[None] + (np.arange(len(centers)) * len(unit.vertices))[:, None, None]
    return Mesh(vertices.reshape(-1, 3), triangles.reshape(-1, 3))


def _cone(center: tuple[float, float, float], radii: tuple[float, float], height: float, segments: int = 16) -> Mesh:
    """A closed cone with an elliptical base at `center` and its apex `height` above."""
    phi = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    ring = np.stack([np.cos(phi) * radii[0], np.sin(phi) * radii[1], np.zeros(segments)], axis=1)
    vertices = np.concatenate([ring, [[0.0, 0.0, height], [0.0, 0.0, 0.0]]]) + center
    apex, base = segments, segments + 1
    triangles = [[j, (j + 1) % segments, apex] for j in range(segments)]
    triangles += [[base, (j + 1) % segments, j] for j in range(segments)]
    return Mesh(vertices, np.array(triangles))


def _wheel(x: float, y: float, radius: float, width: float) -> Mesh:
    """A cylinder lying on its side, axis along local y, touching the ground at z = 0."""
    upright = _cylinder((0.0, 0.0, 0.0), radius, width, segments=12)
    v = upright.vertices
    lying = np.stack([v[:, 0], v[:, 2] - width / 2, v[:, 1]], axis=1)  # z -> y, y -> z
    return Mesh(lying + (x, y, radius), upright.triangles)


def _tapered_box(center: tuple[float, float, float], size: tuple[float, float, float], top_length: float) -> Mesh:
    """A box whose top face is shortened along x to `top_length` (sloped front and back, a cabin)."""
    mesh = box(center, size)
    top = mesh.vertices[:, 2] > center[2]
    mesh.vertices[top, 0] = center[0] + (mesh.vertices[top, 0] - center[0]) * (top_length / size[0])
    return mesh


def _footprint(depth: float, width: float, x: float, y: float, yaw: float) -> Rect:
    """Axis-aligned ground rectangle of a depth x width object at (x, y) turned by `yaw`."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    half_x, half_y = (depth * c + width * s) / 2, (depth * s + width * c) / 2
    return x - half_x, y - half_y, x + half_x, y + half_y


def _building_size(rng: np.random.Generator, storeys: tuple[int, int]) -> tuple[tuple[float, float, float], int, float]:
    """((width, depth, height), storeys, storey height): height = storeys x storey height, with the
    storey height drawn from the catalogue's range where that product stays in the building range."""
    building, storey = kind("building"), kind("storey")
    counts = [n for n in range(storeys[0], storeys[1] + 1)
              if n * storey.height.low <= building.height.high and n * storey.height.high >= building.height.low]
    if not counts:
        raise ValueError(f"no storey count in {storeys} gives a building height in the catalogue's range")
    n = int(rng.choice(counts))
    low = max(storey.height.low, building.height.low / n)
    high = min(storey.height.high, building.height.high / n)
    storey_height = float(rng.uniform(low, high))
    return (building.width.draw(rng), building.depth.draw(rng), n * storey_height), n, storey_height


# ----------------------------------------------------------------- the builder

class _Builder:
    """Collects objects and keeps ground footprints (and, above head height, crowns and lamp arms)
    from overlapping."""

    def __init__(self, rng: np.random.Generator, config: OutdoorConfig):
        self.rng, self.config = rng, config
        self.objects: list[SceneObject] = []
        self.ground: list[Rect] = []  # footprints of things standing on the ground
        self.canopy: list[Rect] = []  # crowns, lamp arms and buildings: what tall things must avoid

    def add(self, name: str, meshes: list[Mesh], material: Material, obstacle: bool = True,
            size: tuple[float, float, float] | None = None) -> None:
        self.objects.append(SceneObject(name, merge(meshes), material, obstacle, size))

    def claim(self, rect: Rect, canopy: Rect | None = None, gap: float | None = None) -> bool:
        """Reserve `rect` on the ground (and `canopy` overhead) if both are free."""
        gap = self.config.gap if gap is None else gap
        if any(rects_overlap(rect, other, gap) for other in self.ground):
            return False
        if canopy is not None and any(rects_overlap(canopy, other, 0.2) for other in self.canopy):
            return False
        self.ground.append(rect)
        if canopy is not None:
            self.canopy.append(canopy)
        return True

    # --- surfaces ------------------------------------------------------------------------------
    def surface(self, name: str, rect: Rect, top: float, role: str) -> None:
        """A flat area (road, pavement, grass): a quad at road level, else a slab `top` high."""
        material = random_material(self.rng, role)
        if material.kind == "checker":  # paving slabs: a subtle difference between neighbours
            shade = float(self.rng.uniform(0.8, 0.93))
            material = replace(material, color_b=tuple(c * shade for c in material.color_a), scale=float(self.rng.uniform(0.4, 0.9)))
        x0, y0, x1, y1 = rect
        if top <= ROAD_Z + 1e-9:
            mesh = quad(np.array([[x0, y0, top], [x1, y0, top], [x1, y1, top], [x0, y1, top]]))
        else:
            mesh = box(((x0 + x1) / 2, (y0 + y1) / 2, top / 2), (x1 - x0, y1 - y0, top))
        self.objects.append(SceneObject(name, mesh, material, obstacle=False))

    # --- objects -------------------------------------------------------------------------------
    def building(self, x: float, y: float, z: float, yaw: float, storeys: tuple[int, int] = (1, 8),
                 size: tuple[tuple[float, float, float], int, float] | None = None) -> tuple[float, float, float] | None:
        """A block facing +x in its frame (the street) with window rows and a door; None if it collides.
        (x, y) is the middle of its front face."""
        rng = self.rng
        (width, depth, height), n, storey_height = size or _building_size(rng, storeys)
        c, s = math.cos(yaw), math.sin(yaw)
        cx, cy = x - c * depth / 2, y - s * depth / 2
        rect = _footprint(depth, width, cx, cy, yaw)
        if not self.claim(rect, canopy=rect, gap=0.0):
            return None
        facade = random_material(rng, "facade")
        facade = replace(facade, axis=(0.0, 0.0, 1.0))  # stripes as courses or siding, not diagonals
        if facade.kind == "stripes":  # fine and low in contrast, as boards or brick courses are
            shade = float(rng.uniform(0.75, 0.92))
            facade = replace(facade, color_b=tuple(c * shade for c in facade.color_a), scale=float(rng.uniform(0.15, 0.4)))
        self.add("building", [_placed(box((-depth / 2, 0.0, height / 2), (depth, width, height)), x, y, z, yaw)],
                 facade, size=(width, depth, height))
        win_w, win_d, win_h = draw_size(rng, "window")
        sill = float(rng.uniform(0.8, 1.0))
        bay = win_w + float(rng.uniform(0.6, 1.6))
        columns = int((width - 1.0) // bay)
        if columns < 1:
            return width, depth, height
        offsets = (np.arange(columns) - (columns - 1) / 2) * bay
        door_column = int(rng.integers(columns))
        level, column = (grid.ravel() for grid in np.meshgrid(np.arange(n), np.arange(columns), indexing="ij"))
        keep = (level > 0) | (column != door_column)
        centers = np.stack([np.full(keep.sum(), win_d / 2), offsets[column[keep]], level[keep] * storey_height + sill + win_h / 2], axis=1)
        glass = replace(GLASS, seed=int(rng.integers(1 << 30)))
        if len(centers):
            panes = _boxes(centers, np.tile((win_d, win_w, win_h), (len(centers), 1)))
            self.add("window", [_placed(panes, x, y, z, yaw)], glass, obstacle=False, size=(win_w, win_d, win_h))
        door_w, door_d, door_h = draw_size(rng, "door")
        door = box((door_d / 2, float(offsets[door_column]), door_h / 2), (door_d, door_w, door_h))
        self.add("door", [_placed(door, x, y, z, yaw)], random_material(rng, "furniture"), obstacle=False, size=(door_w, door_d, door_h))
        return width, depth, height

    def vehicle(self, x: float, y: float, z: float, yaw: float, name: str) -> bool:
        """A car or van whose body is drawn from the catalogue, at (x, y) on a surface at height z."""
        rng = self.rng
        width, length, height = draw_size(rng, name)
        if not self.claim(_footprint(length, width, x, y, yaw), gap=0.4):
            return False
        # Parts in proportion to the drawn body: wheels about 40% of the height across (0.6-0.75 m
        # tyres), the body's shoulder at about half the height, a roof panel on the cabin.
        radius = 0.2 * height if name == "car" else 0.17 * height
        clearance = 0.55 * radius
        shoulder = (0.52 if name == "car" else 0.45) * height
        roof = 0.05
        if name == "car":
            cabin_length = float(rng.uniform(0.48, 0.58)) * length
            cabin_x = -float(rng.uniform(0.0, 0.08)) * length
            cabin_size = (cabin_length, 0.88 * width, height - roof - shoulder)
            cabin = _tapered_box((cabin_x, 0.0, (shoulder + height - roof) / 2), cabin_size, cabin_length * 0.7)
            body = [box((0.0, 0.0, (clearance + shoulder) / 2), (length, width, shoulder - clearance)),
                    box((cabin_x, 0.0, height - roof / 2), (cabin_length * 0.68, 0.86 * width, roof))]
        else:  # van: a tall cargo box behind a short bonnet and a sloped windscreen
            cab = 0.2 * length
            cargo = length - cab
            cabin_size = (cab, 0.9 * width, height - shoulder - 0.1)
            cabin = _tapered_box((length / 2 - cab / 2, 0.0, (shoulder + height) / 2 - 0.05), cabin_size, cab * 0.45)
            body = [box((0.0, 0.0, (clearance + shoulder) / 2), (length, width, shoulder - clearance)),
                    box((-length / 2 + cargo / 2, 0.0, (shoulder + height) / 2), (cargo, width, height - shoulder))]
        paint = random_material(rng, "vehicle")
        self.add(name, [_placed(merge(body), x, y, z, yaw)], paint, size=(width, length, height))
        self.add("window", [_placed(cabin, x, y, z, yaw)], GLASS, obstacle=False)
        axle = 0.31 * length
        wheels = [_wheel(sx * axle, sy * (width / 2 - 0.12), radius, 0.2) for sx in (-1, 1) for sy in (-1, 1)]
        self.add("wheel", [_placed(merge(wheels), x, y, z, yaw)], RUBBER, obstacle=False)
        return True

    def tree(self, x: float, y: float, z: float, conifer_share: float = 0.0, tries: int = 6) -> bool:
        """A trunk under a broadleaf crown (an ellipsoid with lobes, its base at least 2.2 m up so
        people pass beneath) or, with `conifer_share`, a conifer (stacked cones down to the ground,
        whose whole crown keeps other things and cameras away)."""
        rng = self.rng
        conifer = rng.random() < conifer_share
        for _ in range(tries):
            width, depth, height = draw_size(rng, "tree")
            trunk_radius = float(rng.uniform(0.012, 0.02)) * height
            crown = _footprint(depth, width, x, y, 0.0)
            trunk = crown if conifer else _footprint(2 * trunk_radius, 2 * trunk_radius, x, y, 0.0)
            if self.claim(trunk, canopy=crown):
                break
        else:
            return False
        if conifer:
            crown_base = float(rng.uniform(0.05, 0.2)) * height
            tiers = int(rng.integers(2, 4))
            parts, step = [], (height - crown_base) / (tiers + 1)
            for tier in range(tiers):
                shrink = 1.0 - 0.25 * tier
                bottom = crown_base + tier * step
                parts.append(_cone((0.0, 0.0, bottom), (depth / 2 * shrink, width / 2 * shrink), height - bottom))
        else:
            crown_base = max(float(rng.uniform(0.25, 0.45)) * height, 2.2)
            semi = (depth / 2, width / 2, (height - crown_base) / 2)
            parts = [_ellipsoid((0.0, 0.0, crown_base + semi[2]), semi)]
            for _ in range(int(rng.integers(3, 7))):  # lobes inside the crown's bounding box
                r = float(rng.uniform(0.35, 0.5)) * min(semi)
                lobe = (float(rng.uniform(-semi[0] + r, semi[0] - r)), float(rng.uniform(-semi[1] + r, semi[1] - r)),
                        float(rng.uniform(crown_base + r, height - r)))
                parts.append(_ellipsoid(lobe, (r, r, r), segments=12))
        self.add("tree", [_placed(merge(parts), x, y, z, 0.0)], random_material(rng, "foliage"), obstacle=conifer,
                 size=(width, depth, height))
        trunk_top = (crown_base + height) / 2
        # A conifer's crown already keeps things away from its trunk.
        self.add("tree trunk", [_cylinder((x, y, z), trunk_radius, trunk_top)], random_material(rng, "bark"), obstacle=not conifer)
        return True

    def person(self, x: float, y: float, z: float, yaw: float) -> bool:
        """Legs, torso and arms in clothes, a head with hair on top; stature and shoulder width from
        the catalogue, body proportions from anthropometric ratios (legs ~47%, head ~13% of stature)."""
        rng = self.rng
        width, depth, stature = draw_size(rng, "person")
        if not self.claim(_footprint(depth, width, x, y, yaw), gap=0.25):
            return False
        leg_top, shoulder = 0.47 * stature, 0.82 * stature
        arm, torso = 0.14 * width, 0.72 * width
        stride = float(rng.uniform(-0.15, 0.15)) * depth  # walking: one leg ahead
        parts = [
            box((stride, -0.18 * width, leg_top / 2), (0.7 * depth, 0.26 * width, leg_top)),
            box((-stride, 0.18 * width, leg_top / 2), (0.7 * depth, 0.26 * width, leg_top)),
            box((0.0, 0.0, (leg_top + shoulder) / 2), (depth, torso, shoulder - leg_top)),
        ]
        hand = 0.44 * stature
        for side in (-1, 1):
            parts.append(box((0.0, side * (torso + arm) / 2, (hand + shoulder) / 2), (0.6 * depth, arm, shoulder - hand)))
        # The hair's top is the stature; the face sits a little lower and forward.
        head = (0.05 * stature, 0.042 * stature, 0.062 * stature)
        head_z = stature - 0.07 * stature
        hair = _ellipsoid((-0.002 * stature, 0.0, stature - 0.056 * stature), (0.05 * stature, 0.045 * stature, 0.056 * stature))
        parts.append(hair)
        clothing = random_material(rng, "clothing")
        self.add("person", [_placed(merge(parts), x, y, z, yaw)], clothing, size=(width, depth, stature))
        face = _ellipsoid((0.004 * stature, 0.0, head_z), head)
        self.add("face", [_placed(face, x, y, z, yaw)], random_material(rng, "skin"), obstacle=False)
        return True

    def street_light(self, x: float, y: float, z: float, yaw: float) -> bool:
        """A column with an arm reaching over the road (along +x in its frame) and a lamp head."""
        rng = self.rng
        width, _, height = draw_size(rng, "street_light")
        reach = float(rng.uniform(0.8, 1.8))
        canopy = _footprint(2 * reach + 0.5, 0.6, x + math.cos(yaw) * reach / 2, y + math.sin(yaw) * reach / 2, yaw)
        if not self.claim(_footprint(width, width, x, y, 0.0), canopy=canopy):
            return False
        head = 0.14
        parts = [_cylinder((0.0, 0.0, 0.0), width / 2, height - head),
                 box((reach / 2, 0.0, height - head - 0.04), (reach, 0.07, 0.08)),
                 box((reach - 0.2, 0.0, height - head / 2), (0.55, 0.26, head))]
        self.add("street light", [_placed(merge(parts), x, y, z, yaw)], METAL, size=(width, width, height))
        return True

    def bench(self, x: float, y: float, z: float, yaw: float) -> bool:
        """Seat, back rest and two side frames; faces +x in its frame."""
        rng = self.rng
        width, depth, height = draw_size(rng, "bench")
        if not self.claim(_footprint(depth, width, x, y, yaw)):
            return False
        seat = 0.45  # the catalogue's seat height
        parts = [box((0.05 * depth, 0.0, seat - 0.03), (0.9 * depth, width, 0.06)),
                 box((-depth / 2 + 0.04, 0.0, (seat + height) / 2), (0.08, width, height - seat))]
        for side in (-1, 1):
            parts.append(box((0.0, side * (width / 2 - 0.05), seat / 2), (depth, 0.08, seat)))
        self.add("bench", [_placed(merge(parts), x, y, z, yaw)], random_material(rng, "furniture"), size=(width, depth, height))
        return True

    def bin(self, x: float, y: float, z: float, yaw: float) -> bool:
        rng = self.rng
        width, depth, height = draw_size(rng, "bin")
        if not self.claim(_footprint(depth, width, x, y, yaw)):
            return False
        lid = 0.05
        parts = [box((0.0, 0.0, (height - lid) / 2), (0.92 * depth, 0.92 * width, height - lid)),
                 box((0.0, 0.0, height - lid / 2), (depth, width, lid))]
        self.add("bin", [_placed(merge(parts), x, y, z, yaw)], random_material(rng, "vehicle"), size=(width, depth, height))
        return True


# ----------------------------------------------------------------- layout

def _choose(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*weighted)
    return str(rng.choice(names, p=np.asarray(weights) / sum(weights)))


def _scatter(b: _Builder, place, area: Rect, count: int, tries_each: int = 8) -> int:
    """Call place(x, y) at random points of `area` until `count` succeed (or tries run out)."""
    placed = 0
    for _ in range(count * tries_each):
        if placed >= count:
            break
        x, y = b.rng.uniform(area[0], area[2]), b.rng.uniform(area[1], area[3])
        placed += bool(place(float(x), float(y)))
    return placed


def _row(b: _Builder, start: tuple[float, float], along: tuple[float, float], length: float, facing: float,
         setback: tuple[float, float], storeys: tuple[int, int] = (1, 8)) -> None:
    """Buildings side by side from `start` in the unit direction `along` for `length` metres, their
    fronts facing `facing` (yaw) and each set back from the row's line by a draw from `setback`."""
    rng, config = b.rng, b.config
    fx, fy = math.cos(facing), math.sin(facing)
    t = float(rng.uniform(*config.building_gap))
    while t < length:
        size = _building_size(rng, storeys)
        width = size[0][0]
        if t + width > length + 4.0:
            break
        back, middle = float(rng.uniform(*setback)), t + width / 2
        b.building(start[0] + along[0] * middle - fx * back, start[1] + along[1] * middle - fy * back, 0.0, facing, size=size)
        t += width + float(rng.uniform(*config.building_gap))


def _cross_street(b: _Builder, end: int, x_end: float, y_span: float) -> None:
    """Beyond the street's end (end +1: x > 0), a cross street and a row of buildings facing back."""
    rng = b.rng
    road = float(rng.uniform(7.0, 12.0))
    front = end * (x_end + road + float(rng.uniform(2.0, 5.0)))
    _row(b, (front, -y_span), (0.0, 1.0), 2 * y_span, math.pi if end > 0 else 0.0, (0.0, 2.0), storeys=(2, 8))
    x0, x1 = sorted((end * x_end, end * (x_end + road)))
    b.surface("road", (x0, -y_span, x1, y_span), ROAD_Z, "road")


def _lane_markings(b: _Builder, length: float, lanes: int, lane_width: float) -> None:
    """Dashed white lines between lanes (2-4 m of paint every 9-12 m)."""
    rng = b.rng
    dash, period = float(rng.uniform(2.0, 4.0)), float(rng.uniform(9.0, 12.0))
    z = ROAD_Z + 0.003
    parts = []
    for k in range(1, lanes):
        y = (k - lanes / 2) * lane_width
        for x in np.arange(-length / 2, length / 2 - dash, period):
            parts.append(quad(np.array([[x, y - 0.06, z], [x + dash, y - 0.06, z], [x + dash, y + 0.06, z], [x, y + 0.06, z]])))
    if parts:
        b.objects.append(SceneObject("road marking", merge(parts), PAINT, obstacle=False))


def _street_side(b: _Builder, side: int, front: float, x_range: tuple[float, float], kerb: float) -> None:
    """A grass verge or a paved forecourt in front of a row of buildings facing the road."""
    rng, config = b.rng, b.config
    if x_range[1] - x_range[0] < 5.0:
        return
    y0, y1 = sorted((side * front, side * (front + config.setback[1])))
    paved = rng.random() < 0.5
    b.surface("pavement" if paved else "grass", (x_range[0], y0, x_range[1], y1), kerb, "ground" if paved else "foliage")
    _row(b, (x_range[0], side * front), (1.0, 0.0), x_range[1] - x_range[0], -side * math.pi / 2, config.setback)


def _random_yaw(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.0, 2 * math.pi))


def _open_side(b: _Builder, side: int, kind_name: str, front: float, x_range: tuple[float, float], kerb: float) -> None:
    """A plaza (paved, with trees in a row, benches and people, buildings on its three other sides)
    or a park (grass with a path, many trees, benches, people, buildings behind it or not)."""
    rng, config = b.rng, b.config
    depth = float(rng.uniform(*config.open_depth))
    x0, x1 = x_range
    near, far = front, front + depth
    y0, y1 = sorted((side * near, side * far))
    area = (x0, y0, x1, y1)
    inner = (x0 + 1.0, y0 + 1.0, x1 - 1.0, y1 - 1.0)
    if kind_name == "plaza":
        _row(b, (x0, side * far), (1.0, 0.0), x1 - x0, -side * math.pi / 2, (0.0, 2.0), storeys=(2, 8))
        _row(b, (x0, side * (near + 4.0)), (0.0, side), depth - 4.0, 0.0, (0.0, 1.0), storeys=(2, 8))
        _row(b, (x1, side * (near + 4.0)), (0.0, side), depth - 4.0, math.pi, (0.0, 1.0), storeys=(2, 8))
        b.surface("pavement", area, kerb, "ground")
        spacing = float(rng.uniform(8.0, 14.0))
        row_y = side * (near + float(rng.uniform(4.0, depth / 2)))
        for x in np.arange(x0 + spacing / 2, x1, spacing):
            b.tree(float(x), row_y, kerb)
        right_angles = (0.0, math.pi / 2, math.pi, -math.pi / 2)
        _scatter(b, lambda x, y: b.bench(x, y, kerb, float(rng.choice(right_angles))), inner, int(rng.integers(3, 9)))
        _scatter(b, lambda x, y: b.street_light(x, y, kerb, _random_yaw(rng)), inner, int(rng.integers(2, 6)))
        people = int(rng.integers(8, 30))
    else:
        if rng.random() < 0.6:
            _row(b, (x0, side * (far + float(rng.uniform(0.0, 10.0)))), (1.0, 0.0), x1 - x0, -side * math.pi / 2, (0.0, 3.0))
        b.surface("grass", area, kerb, "foliage")
        path_y = side * (near + float(rng.uniform(5.0, depth - 5.0)))
        path_width = float(rng.uniform(2.0, 4.0))
        path = (x0, path_y - path_width / 2, x1, path_y + path_width / 2)
        b.surface("pavement", path, kerb + 0.02, "ground")
        b.ground.append(path)  # keeps trees and benches off the path while they are placed
        _scatter(b, lambda x, y: b.tree(x, y, kerb, conifer_share=0.3), inner, int(rng.integers(12, 30)))
        b.ground.remove(path)
        for x in np.arange(x0 + 10.0, x1 - 10.0, float(rng.uniform(15.0, 30.0))):
            b.bench(float(x), path_y + side * (path_width / 2 + 0.6), kerb, -side * math.pi / 2)
        people = int(rng.integers(4, 16))
    _scatter(b, lambda x, y: b.person(x, y, kerb, _random_yaw(rng)), inner, people)
    _scatter(b, lambda x, y: b.bin(x, y, kerb, _random_yaw(rng)), inner, int(rng.integers(0, 4)))


def _roadside(b: _Builder, side: int, front: float, length: float, kerb: float) -> None:
    """One side of the road: a row of buildings, or a plaza or park with buildings either side of it."""
    rng, config = b.rng, b.config
    side_kind = _choose(rng, config.side_kinds)
    if side_kind == "buildings":
        _street_side(b, side, front, (-length / 2, length / 2), kerb)
        return
    width = min(float(rng.uniform(*(config.plaza_length if side_kind == "plaza" else config.park_length))), length - 20.0)
    start = float(rng.uniform(-length / 2, length / 2 - width))
    _open_side(b, side, side_kind, front, (start, start + width), kerb)
    _street_side(b, side, front, (-length / 2, start), kerb)
    _street_side(b, side, front, (start + width, length / 2), kerb)


def _kerbside(b: _Builder, side: int, road_edge: float, pavement: float, length: float, kerb: float) -> None:
    """Street lights and (on tree-lined streets) trees along the kerb; benches at the back of the
    pavement, bins at its front."""
    rng, config = b.rng, b.config
    facing_road = -side * math.pi / 2
    x = -length / 2 + float(rng.uniform(2.0, 10.0))
    while x < length / 2 - 2.0:
        b.street_light(x, side * (road_edge + 0.5), kerb, facing_road)
        x += float(rng.uniform(*config.light_spacing))
    if rng.random() < config.tree_lined_probability:
        x = -length / 2 + float(rng.uniform(2.0, 8.0))
        while x < length / 2 - 2.0:
            b.tree(x, side * (road_edge + min(1.0, pavement / 2)), kerb)
            x += float(rng.uniform(*config.tree_spacing))
    for _ in range(int(rng.integers(0, 5))):
        b.bench(float(rng.uniform(-length / 2, length / 2)), side * (road_edge + pavement - 0.45), kerb, facing_road)
    for _ in range(int(rng.integers(0, 5))):
        b.bin(float(rng.uniform(-length / 2, length / 2)), side * (road_edge + 0.45), kerb, facing_road)


def _vehicles(b: _Builder, length: float, lanes: int, lane_width: float, parking: dict[int, float], road_edge: dict[int, float]) -> None:
    """Parked cars and vans along the parking lanes, moving ones in the traffic lanes (right-hand
    traffic: lanes at y < 0 drive towards +x). The scene is static: "moving" says where they are."""
    rng, config = b.rng, b.config
    half_lanes = lanes * lane_width / 2
    for side in (-1, 1):
        if parking[side] == 0.0:
            continue
        x, y = -length / 2 + float(rng.uniform(0.0, 6.0)), side * (road_edge[side] - parking[side] / 2)
        while x < length / 2 - 6.0:
            if rng.random() < 0.65:
                name = "van" if rng.random() < config.van_share else "car"
                b.vehicle(x + 3.0, y, ROAD_Z, (0.0 if side < 0 else math.pi) + float(rng.normal(0, 0.02)), name)
            x += float(rng.uniform(5.5, 9.0))
    for _ in range(int(rng.integers(config.moving_vehicles[0], config.moving_vehicles[1] + 1))):
        y = (int(rng.integers(lanes)) + 0.5) * lane_width - half_lanes + float(rng.normal(0, 0.15))
        yaw = (0.0 if y < 0 else math.pi) + float(rng.normal(0, 0.03))
        name = "van" if rng.random() < config.van_share else "car"
        for _ in range(6):
            if b.vehicle(float(rng.uniform(-length / 2 + 8, length / 2 - 8)), y, ROAD_Z, yaw, name):
                break


def _daylight(rng: np.random.Generator) -> tuple[list[Light], tuple[float, float, float], Sky]:
    """Sun, sky light and sky for a morning, noon, evening or overcast day.

    Sun colours follow the colour temperature of a black body (warm low sun, near-white noon);
    overcast days have a weak fill light without shadows and a bright grey sky.
    """
    condition = _choose(rng, (("morning", 0.2), ("noon", 0.4), ("evening", 0.2), ("overcast", 0.2)))
    azimuth = float(rng.uniform(0.0, 2 * math.pi))
    if condition == "overcast":
        elevation, kelvin = math.radians(rng.uniform(45.0, 80.0)), float(rng.uniform(6500.0, 7500.0))
        grey = float(rng.uniform(0.5, 0.75))
        zenith = tuple(grey * c for c in (0.92, 0.95, 1.0))
        horizon = tuple(min(1.0, grey * 1.15) * c for c in (0.97, 0.98, 1.0))
        sky = Sky(zenith, horizon, sun_glow=0.0, cloud_cover=float(rng.uniform(0.85, 1.0)),
                  cloud_colour=tuple(grey * 1.05 * c for c in (1.0, 1.0, 1.02)), seed=int(rng.integers(1 << 30)))
        sun, shadows = float(rng.uniform(0.15, 0.3)), False
        ambient_level = float(rng.uniform(0.6, 0.85))
    else:
        low = condition != "noon"
        elevation = math.radians(rng.uniform(8.0, 25.0) if low else rng.uniform(35.0, 75.0))
        kelvin = float(rng.uniform(3000.0, 4500.0) if low else rng.uniform(5200.0, 6200.0))
        if condition == "morning":
            kelvin += 400.0  # morning light is a little cooler than evening light at the same height
        sun_colour = blackbody_rgb(kelvin)
        zenith = (0.06, 0.16, 0.5) if low else (0.08, 0.2, 0.58)
        horizon = tuple(0.55 * c + 0.4 * s for c, s in zip((0.6, 0.7, 0.85), sun_colour)) if low else (0.55, 0.66, 0.82)
        jitter = rng.uniform(0.85, 1.1, size=3)
        zenith = tuple(float(c * j) for c, j in zip(zenith, jitter))
        sun_direction = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
        sky = Sky(zenith, horizon, sun_direction, sun_colour, sun_glow=float(rng.uniform(0.3, 0.8)),
                  cloud_cover=float(rng.uniform(0.0, 0.6)), cloud_colour=(0.9, 0.9, 0.92), seed=int(rng.integers(1 << 30)))
        sun, shadows = float(rng.uniform(1.0, 1.3) if low else rng.uniform(1.1, 1.4)), True
        ambient_level = float(rng.uniform(0.25, 0.38))
    sun_rgb = blackbody_rgb(kelvin)
    direction = (-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth), -math.sin(elevation))
    lights = [Light("directional", tuple(sun * c for c in sun_rgb), direction=direction, shadows=shadows)]
    sky_tint = np.asarray(sky.zenith) * 0.5 + np.asarray(sky.horizon) * 0.5
    ambient = ambient_level * (0.5 + 0.5 * sky_tint / sky_tint.mean())
    return lights, tuple(float(a) for a in ambient), sky


def blackbody_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear RGB of a black body at `kelvin`, white-balanced to 6504 K (D65) and scaled to max 1.

    Planck's law evaluated at one wavelength per channel (610, 550 and 465 nm), a coarse stand-in
    for integrating the spectrum against colour-matching functions: 3000 K gives about (1, 0.64, 0.27).
    """
    if not kelvin > 0:
        raise ValueError(f"colour temperature must be positive, got {kelvin}")
    wavelengths = np.array([610e-9, 550e-9, 465e-9])
    second_radiation_constant = 1.438777e-2  # h c / k_B in metre kelvin

    def planck(temperature: float) -> np.ndarray:
        return wavelengths**-5 / np.expm1(second_radiation_constant / (wavelengths * temperature))

    rgb = planck(kelvin) / planck(6504.0)
    return tuple(float(c) for c in rgb / rgb.max())


def build_outdoor(rng: np.random.Generator, config: OutdoorConfig = OutdoorConfig()) -> Scene:
    """A road along x with pavements, and on each side a row of buildings, a plaza or a park;
    parked and moving vehicles, street trees, street lights, benches, bins and people; a sun with
    shadows and a sky. Everything is drawn from `rng`, so a seed fixes the scene."""
    b = _Builder(rng, config)
    length = float(rng.uniform(*config.street_length))
    lanes = int(rng.integers(config.lanes[0], config.lanes[1] + 1))
    lane_width = float(rng.uniform(*config.lane_width))
    parking = {side: float(rng.uniform(*config.parking_width)) if rng.random() < config.parking_probability else 0.0 for side in (-1, 1)}
    kerb = float(rng.uniform(*config.kerb_height))
    half_lanes = lanes * lane_width / 2
    road_edge = {side: half_lanes + parking[side] for side in (-1, 1)}
    pavement = {side: float(rng.uniform(*config.pavement_width)) for side in (-1, 1)}

    g = GROUND_HALF_SIZE
    ground = quad(np.array([[-g, -g, 0.0], [g, -g, 0.0], [g, g, 0.0], [-g, g, 0.0]]))
    b.objects.append(SceneObject("ground", ground, random_material(rng, "ground" if rng.random() < 0.5 else "foliage"), obstacle=False))
    b.surface("road", (-length / 2, -road_edge[-1], length / 2, road_edge[1]), ROAD_Z, "road")
    _lane_markings(b, length, lanes, lane_width)
    for side in (-1, 1):
        y0, y1 = sorted((side * road_edge[side], side * (road_edge[side] + pavement[side])))
        b.surface("pavement", (-length / 2, y0, length / 2, y1), kerb, "ground")

    # Buildings, plazas and parks first: the kerbside trees and lights then fit around them.
    for side in (-1, 1):
        _roadside(b, side, road_edge[side] + pavement[side], length, kerb)
    for side in (-1, 1):
        _kerbside(b, side, road_edge[side], pavement[side], length, kerb)
    _vehicles(b, length, lanes, lane_width, parking, road_edge)
    for side in (-1, 1):  # people on the pavements
        y0, y1 = sorted((side * (road_edge[side] + 0.3), side * (road_edge[side] + pavement[side] - 0.3)))
        _scatter(b, lambda x, y: b.person(x, y, kerb, (0.0 if rng.random() < 0.5 else math.pi) + float(rng.normal(0, 0.3))),
                 (-length / 2, y0, length / 2, y1), int(rng.integers(config.people[0], config.people[1] + 1)) // 2)
    if rng.random() < 0.15:  # someone crossing the road
        heading = math.pi / 2 if rng.random() < 0.5 else -math.pi / 2
        _scatter(b, lambda x, y: b.person(x, y, ROAD_Z, heading), (-length / 4, -half_lanes, length / 4, half_lanes), 1)
    y_span = max((max(abs(r[1]), abs(r[3])) for r in b.ground), default=60.0)
    for end in (-1, 1):
        if rng.random() < config.cross_street_probability:
            _cross_street(b, end, length / 2, y_span)

    lights, ambient, sky = _daylight(rng)
    return Scene(objects=b.objects, lights=lights, ambient=ambient, sky=sky, kind="outdoor")


# ----------------------------------------------------------------- cameras

CAMERA_MODES = ("handheld", "car", "robot")


@dataclass(frozen=True)
class OutdoorViewConfig:
    """Ranges for outdoor viewpoints (metres above the surface stood on, degrees)."""

    modes: tuple[tuple[str, float], ...] = (("handheld", 0.55), ("car", 0.3), ("robot", 0.15))
    handheld_height: tuple[float, float] = (1.3, 1.8)  # phone or camera at chest to eye level
    car_height: tuple[float, float] = (1.4, 1.7)  # roof-mounted, as KITTI's 1.65 m
    robot_height: tuple[float, float] = (0.3, 1.0)  # delivery and wheeled robots
    pitch_deg: tuple[float, float] = (-15.0, 5.0)  # negative looks down
    roll_deg: tuple[float, float] = (-3.0, 3.0)
    along_street_share: float = 0.75  # handheld and robot views looking along the road, the rest anywhere
    yaw_spread_deg: float = 30.0  # around the road's direction (car views: a third of it)
    clearance: float = 0.5  # ground distance from the camera to obstacle footprints (cars: + 0.5)
    end_margin: float = 15.0  # stay this far inside the street's ends
    min_median_depth: float = 5.0  # reject views pressed against something (median over the view)
    min_upper_median_depth: float = 8.0  # ... and walls or vans filling the upper half
    max_near_fraction: float = 0.05  # share of probe rays closer than 1 m
    max_sky_fraction: float = 0.45  # reject views that are mostly sky
    tries: int = 80


def _surfaces(scene: Scene, names: tuple[str, ...]) -> list[tuple[Rect, float]]:
    """(footprint, top height) of the flat areas named `names` (road, pavement, grass)."""
    return [(obj.mesh.footprint(), obj.mesh.top) for obj in scene.objects if obj.name in names]


def _street_axis(scene: Scene) -> float:
    """Yaw (radians) of the main road's long side: the direction views look along."""
    roads = _surfaces(scene, ("road",))
    if not roads:
        return 0.0
    rect = max(roads, key=lambda r: (r[0][2] - r[0][0]) * (r[0][3] - r[0][1]))[0]
    return 0.0 if rect[2] - rect[0] >= rect[3] - rect[1] else math.pi / 2


class _Clearance:
    """Ground distance to the nearest obstacle footprint, vectorised over the scene's obstacles
    (Scene.clearance recomputes every footprint per call; a camera search asks hundreds of times)."""

    def __init__(self, scene: Scene):
        rects = scene.obstacle_footprints()
        self.rects = np.array(rects, dtype=np.float64).reshape(-1, 4)

    def __call__(self, x: float, y: float) -> float:
        if not len(self.rects):
            return float("inf")
        dx = np.maximum.reduce([self.rects[:, 0] - x, np.zeros(len(self.rects)), x - self.rects[:, 2]])
        dy = np.maximum.reduce([self.rects[:, 1] - y, np.zeros(len(self.rects)), y - self.rects[:, 3]])
        return float(np.hypot(dx, dy).min())


def _probe(scene: Scene, pose: np.ndarray) -> np.ndarray:
    """Hit distances (z-depth, inf for sky) on a coarse 12x16 grid of the view."""
    size = (12, 16)
    return cast(scene, camera_rays(intrinsics_for(size), pose, size).reshape(-1, 6))["t_hit"]


def _spot(scene: Scene, rng: np.random.Generator, mode: str, config: OutdoorViewConfig, clear: _Clearance
          ) -> tuple[float, float, float, float] | None:
    """(x, y, surface height, preferred yaw) for a camera of `mode`, or None if this draw is blocked."""
    names = {"handheld": ("pavement", "grass"), "car": ("road",), "robot": ("pavement", "road", "grass")}[mode]
    surfaces = _surfaces(scene, names) or _surfaces(scene, ("road", "pavement", "grass"))
    if not surfaces:
        raise ValueError("the scene has no road, pavement or grass to stand a camera on (build it with build_outdoor)")
    areas = np.array([(r[2] - r[0]) * (r[3] - r[1]) for r, _ in surfaces])
    rect, top = surfaces[int(rng.choice(len(surfaces), p=areas / areas.sum()))]
    axis = _street_axis(scene)
    margin = config.clearance
    along = (rect[0] + config.end_margin, rect[2] - config.end_margin) if axis == 0.0 else (rect[0] + margin, rect[2] - margin)
    across = (rect[1] + margin, rect[3] - margin) if axis == 0.0 else (rect[1] + config.end_margin, rect[3] - config.end_margin)
    if along[0] >= along[1] or across[0] >= across[1]:
        return None
    x, y = float(rng.uniform(*along)), float(rng.uniform(*across))
    if clear(x, y) < config.clearance + (0.5 if mode == "car" else 0.0):
        return None
    if mode == "car":
        # Drive with the traffic: right-hand, so y < 0 heads along +axis.
        heading = axis if (y if axis == 0.0 else -x) < 0 else axis + math.pi
        yaw = heading + math.radians(rng.uniform(-1, 1) * config.yaw_spread_deg / 3)
    elif rng.random() < config.along_street_share:
        yaw = axis + (0.0 if rng.random() < 0.5 else math.pi) + math.radians(rng.uniform(-1, 1) * config.yaw_spread_deg)
    else:
        yaw = float(rng.uniform(0, 2 * math.pi))
    return x, y, top, yaw


def sample_outdoor_camera(scene: Scene, rng: np.random.Generator, config: OutdoorViewConfig = OutdoorViewConfig(),
                          mode: str | None = None) -> np.ndarray:
    """A camera-to-world pose on a road, pavement or grass of an outdoor scene: handheld (1.3-1.8 m
    above the surface), car-mounted (1.4-1.7 m, in a lane, with the traffic) or a low robot
    (0.3-1.0 m); pitch -15..+5 degrees, roll +-3; mostly looking along the street.

    Views pressed against a wall or a vehicle (median probe depth under `min_median_depth`, or
    many rays nearer than 1 m) and views that are mostly sky are rejected; after `tries` draws the
    best one seen is returned. `mode` fixes the camera kind (one of CAMERA_MODES). Raises
    ValueError for a scene without surfaces or an unknown mode, RuntimeError if no draw was free.
    """
    if mode is not None and mode not in CAMERA_MODES:
        raise ValueError(f"unknown camera mode {mode!r}: expected one of {', '.join(CAMERA_MODES)}")
    clear = _Clearance(scene)
    heights = {"handheld": config.handheld_height, "car": config.car_height, "robot": config.robot_height}
    best_pose, best_score = None, -math.inf
    for _ in range(config.tries):
        chosen = mode or _choose(rng, config.modes)
        spot = _spot(scene, rng, chosen, config, clear)
        if spot is None:
            continue
        x, y, top, yaw = spot
        pitch, roll = (math.radians(rng.uniform(*r)) for r in (config.pitch_deg, config.roll_deg))
        pose = pose_from_angles((x, y, top + rng.uniform(*heights[chosen])), yaw, pitch, roll)
        depths = _probe(scene, pose)
        sky, near = float(np.mean(~np.isfinite(depths))), float(np.mean(depths < 1.0))
        median, upper = float(np.median(depths)), float(np.median(depths[: len(depths) // 2]))  # rows top first
        if (median >= config.min_median_depth and upper >= config.min_upper_median_depth
                and near <= config.max_near_fraction and sky <= config.max_sky_fraction):
            return pose
        score = (min(median, 50.0) / config.min_median_depth + min(upper, 50.0) / config.min_upper_median_depth
                 - 10.0 * near - 5.0 * max(0.0, sky - config.max_sky_fraction))
        if score > best_score:
            best_pose, best_score = pose, score
    if best_pose is None:
        raise RuntimeError("no free camera position found in this outdoor scene")
    return best_pose


@dataclass(frozen=True)
class OutdoorPathConfig:
    """A straight walk along a pavement or a drive along a lane, with gentle head or body motion."""

    walk_speed: float = 0.14  # metres per frame: 1.4 m/s at 10 fps
    drive_speed: tuple[float, float] = (0.6, 1.1)  # 22-40 km/h at 10 fps
    drive_share: float = 0.4
    sway_deg: float = 6.0  # walking: head turns left and right
    bob: float = 0.03  # walking: metres of vertical bobbing per step
    clearance: float = 0.5  # walking; driving keeps 1.2 m from obstacles
    tries: int = 60


def outdoor_path(scene: Scene, rng: np.random.Generator, frames: int, config: OutdoorPathConfig = OutdoorPathConfig(),
                 drive: bool | None = None) -> list[np.ndarray]:
    """`frames` camera-to-world poses along the street: a walk on a pavement (handheld height) or a
    drive in a lane (car-mounted height), every pose clear of obstacles. The scene is static, so
    parked and "moving" vehicles alike stand still. Raises RuntimeError if no clear stretch is found."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    driving = rng.random() < config.drive_share if drive is None else bool(drive)
    view = OutdoorViewConfig()
    clear = _Clearance(scene)
    axis = _street_axis(scene)
    speed = float(rng.uniform(*config.drive_speed)) if driving else config.walk_speed
    margin = 1.2 if driving else config.clearance
    for _ in range(config.tries):
        spot = _spot(scene, rng, "car" if driving else "handheld", view, clear)
        if spot is None:
            continue
        x, y, top, yaw = spot
        heading = axis if driving else yaw
        if not driving:  # walk along the street, whichever way the start looked
            heading = axis if math.cos(yaw - axis) >= 0 else axis + math.pi
        step = np.array([math.cos(heading), math.sin(heading)]) * speed
        route = np.array([x, y]) + np.arange(frames)[:, None] * step
        surfaces = _surfaces(scene, ("road",) if driving else ("pavement", "grass"))
        on_surface = all(any(r[0] <= px <= r[2] and r[1] <= py <= r[3] for r, _ in surfaces) for px, py in route)
        if not on_surface or min(clear(px, py) for px, py in route) < margin:
            continue
        height = top + float(rng.uniform(*(view.car_height if driving else view.handheld_height)))
        pitch0 = math.radians(rng.uniform(-8.0, 0.0))
        phase, rate = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.05, 0.1))
        poses = []
        for k, (px, py) in enumerate(route):
            if driving:
                eye, yaw_k, pitch, roll = (px, py, height), heading, pitch0, 0.0
            else:
                eye = (px, py, height + config.bob * math.sin(0.9 * k + phase))
                yaw_k = heading + math.radians(config.sway_deg) * math.sin(rate * k + phase)
                pitch = pitch0 + math.radians(2.0) * math.sin(0.5 * rate * k)
                roll = math.radians(1.0) * math.sin(0.45 * k + phase)
            poses.append(pose_from_angles(eye, yaw_k, pitch, roll))
        return poses
    raise RuntimeError(f"no clear {'lane' if driving else 'pavement'} stretch of {frames} frames found in this scene")


def render_outdoor(seed: int, size: tuple[int, int] = (240, 320), fov_deg: float | None = None) -> RGBDFrame:
    """A random outdoor scene seen from a random street-level viewpoint; the same seed gives the
    same frame. size is (height, width); fov_deg the horizontal field of view (default: the NYU
    intrinsics rooms use, ~63 degrees; KITTI's camera sees ~81)."""
    size = check_size(size)
    rng = np.random.default_rng(int(seed))
    scene = build_outdoor(rng)
    pose = sample_outdoor_camera(scene, rng)
    return render_view(scene, intrinsics_for(size, fov_deg), pose, size)
