"""Parts of the outdoor world: meshes of buildings, vehicles, trees, people and street furniture,
sized from scenes.catalog, and a builder that places them without overlaps on the ground.

Local frame of every part: the object faces +x; its x extent is the catalogue's depth (front to
back), its y extent the catalogue's width, z rises from its base. Parts are turned by a yaw about z
and moved onto their spot. Proportions inside a part (wheel size, leg length, crown base) are
stated where they are drawn; the overall size is always the catalogue's.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from .catalog import draw_size, kind
from .geometry import Mesh, Rect, SceneObject, box, cylinder, merge, quad, rects_overlap, sphere
from .textures import Material, random_material

ROAD_Z = 0.01  # asphalt surface above the base ground plane (keeps the two planes apart)

GLASS = Material("mottled", (0.05, 0.07, 0.09), (0.1, 0.12, 0.15), scale=0.6, seed=11)
RUBBER = Material("plain", (0.025, 0.025, 0.025), (0.02, 0.02, 0.02))
PAINT = Material("plain", (0.85, 0.85, 0.82), (0.8, 0.8, 0.78))  # road markings
METAL = Material("mottled", (0.18, 0.19, 0.2), (0.1, 0.1, 0.11), scale=0.5, seed=5)

# ----------------------------------------------------------------- mesh helpers

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


def footprint(depth: float, width: float, x: float, y: float, yaw: float) -> Rect:
    """Axis-aligned ground rectangle of a depth x width object at (x, y) turned by `yaw`."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    half_x, half_y = (depth * c + width * s) / 2, (depth * s + width * c) / 2
    return x - half_x, y - half_y, x + half_x, y + half_y


def building_size(rng: np.random.Generator, storeys: tuple[int, int]) -> tuple[tuple[float, float, float], int, float]:
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

class Builder:
    """Collects objects and keeps ground footprints (and, above head height, crowns and lamp arms)
    from overlapping."""

    def __init__(self, rng: np.random.Generator, gap: float = 0.3):
        self.rng, self.gap = rng, gap
        self.objects: list[SceneObject] = []
        self.ground: list[Rect] = []  # footprints of things standing on the ground
        self.canopy: list[Rect] = []  # crowns, lamp arms and buildings: what tall things must avoid

    def add(self, name: str, meshes: list[Mesh], material: Material, obstacle: bool = True,
            size: tuple[float, float, float] | None = None) -> None:
        self.objects.append(SceneObject(name, merge(meshes), material, obstacle, size))

    def claim(self, rect: Rect, canopy: Rect | None = None, gap: float | None = None) -> bool:
        """Reserve `rect` on the ground (and `canopy` overhead) if both are free."""
        gap = self.gap if gap is None else gap
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
        # Large surfaces vary gently: paving slabs differ little from their neighbours, asphalt and
        # lawns are patchy, not camouflage. The second colour is a shade of the first.
        shade = float(self.rng.uniform(*{"checker": (0.8, 0.93), "mottled": (0.6, 0.85)}.get(material.kind, (0.7, 0.9))))
        material = replace(material, color_b=tuple(c * shade for c in material.color_a))
        if material.kind == "checker":
            material = replace(material, scale=float(self.rng.uniform(0.4, 0.9)))
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
        (width, depth, height), n, storey_height = size or building_size(rng, storeys)
        c, s = math.cos(yaw), math.sin(yaw)
        cx, cy = x - c * depth / 2, y - s * depth / 2
        rect = footprint(depth, width, cx, cy, yaw)
        if not self.claim(rect, canopy=rect, gap=0.0):
            return None
        facade = random_material(rng, "facade")
        facade = replace(facade, axis=(0.0, 0.0, 1.0))  # stripes as courses or siding, not diagonals
        # Weathering and courses are low in contrast: the second colour is a shade of the first.
        shade = float(rng.uniform(0.75, 0.92))
        facade = replace(facade, color_b=tuple(c * shade for c in facade.color_a))
        if facade.kind == "stripes":  # boards or brick courses are fine
            facade = replace(facade, scale=float(rng.uniform(0.15, 0.4)))
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
        if not self.claim(footprint(length, width, x, y, yaw), gap=0.4):
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
            crown = footprint(depth, width, x, y, 0.0)
            trunk = crown if conifer else footprint(2 * trunk_radius, 2 * trunk_radius, x, y, 0.0)
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
        if not self.claim(footprint(depth, width, x, y, yaw), gap=0.25):
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
        canopy = footprint(2 * reach + 0.5, 0.6, x + math.cos(yaw) * reach / 2, y + math.sin(yaw) * reach / 2, yaw)
        if not self.claim(footprint(width, width, x, y, 0.0), canopy=canopy):
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
        if not self.claim(footprint(depth, width, x, y, yaw)):
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
        if not self.claim(footprint(depth, width, x, y, yaw)):
            return False
        lid = 0.05
        parts = [box((0.0, 0.0, (height - lid) / 2), (0.92 * depth, 0.92 * width, height - lid)),
                 box((0.0, 0.0, height - lid / 2), (depth, width, lid))]
        self.add("bin", [_placed(merge(parts), x, y, z, yaw)], random_material(rng, "vehicle"), size=(width, depth, height))
        return True
