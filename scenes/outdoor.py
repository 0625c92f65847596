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
from dataclasses import dataclass

import numpy as np

from .daylight import daylight
from .geometry import Rect, SceneObject, merge, quad
from .outdoor_parts import PAINT, ROAD_Z, Builder, building_size
from .outdoor_views import CAMERA_MODES, OutdoorPathConfig, OutdoorViewConfig, outdoor_path, sample_outdoor_camera
from .scene import Scene
from .textures import random_material

__all__ = ["OUTDOOR_MAX_DEPTH", "OutdoorConfig", "build_outdoor", "sample_outdoor_camera", "outdoor_path",
           "OutdoorViewConfig", "OutdoorPathConfig", "CAMERA_MODES"]

OUTDOOR_MAX_DEPTH = 80.0  # metres: the KITTI evaluation cap, used as this split's cap
GROUND_HALF_SIZE = 300.0  # metres: the base ground plane reaches this far from the origin


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



class _Layout(Builder):
    """The parts builder with the layout's ranges."""

    def __init__(self, rng: np.random.Generator, config: OutdoorConfig):
        super().__init__(rng, config.gap)
        self.config = config


# ----------------------------------------------------------------- layout

def _choose(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*weighted)
    return str(rng.choice(names, p=np.asarray(weights) / sum(weights)))


def _scatter(b: _Layout, place, area: Rect, count: int, tries_each: int = 8) -> int:
    """Call place(x, y) at random points of `area` until `count` succeed (or tries run out)."""
    placed = 0
    for _ in range(count * tries_each):
        if placed >= count:
            break
        x, y = b.rng.uniform(area[0], area[2]), b.rng.uniform(area[1], area[3])
        placed += bool(place(float(x), float(y)))
    return placed


def _row(b: _Layout, start: tuple[float, float], along: tuple[float, float], length: float, facing: float,
         setback: tuple[float, float], storeys: tuple[int, int] = (1, 8)) -> None:
    """Buildings side by side from `start` in the unit direction `along` for `length` metres, their
    fronts facing `facing` (yaw) and each set back from the row's line by a draw from `setback`."""
    rng, config = b.rng, b.config
    fx, fy = math.cos(facing), math.sin(facing)
    t = float(rng.uniform(*config.building_gap))
    while t < length:
        size = building_size(rng, storeys)
        width = size[0][0]
        if t + width > length + 4.0:
            break
        back, middle = float(rng.uniform(*setback)), t + width / 2
        b.building(start[0] + along[0] * middle - fx * back, start[1] + along[1] * middle - fy * back, 0.0, facing, size=size)
        t += width + float(rng.uniform(*config.building_gap))


def _cross_street(b: _Layout, end: int, x_end: float, y_span: float) -> None:
    """Beyond the street's end (end +1: x > 0), a cross street and a row of buildings facing back."""
    rng = b.rng
    road = float(rng.uniform(7.0, 12.0))
    front = end * (x_end + road + float(rng.uniform(2.0, 5.0)))
    _row(b, (front, -y_span), (0.0, 1.0), 2 * y_span, math.pi if end > 0 else 0.0, (0.0, 2.0), storeys=(2, 8))
    x0, x1 = sorted((end * x_end, end * (x_end + road)))
    b.surface("road", (x0, -y_span, x1, y_span), ROAD_Z, "road")


def _lane_markings(b: _Layout, length: float, lanes: int, lane_width: float) -> None:
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


def _street_side(b: _Layout, side: int, front: float, x_range: tuple[float, float], kerb: float) -> None:
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


def _open_side(b: _Layout, side: int, kind_name: str, front: float, x_range: tuple[float, float], kerb: float) -> None:
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


def _roadside(b: _Layout, side: int, front: float, length: float, kerb: float) -> None:
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


def _kerbside(b: _Layout, side: int, road_edge: float, pavement: float, length: float, kerb: float) -> None:
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


def _vehicles(b: _Layout, length: float, lanes: int, lane_width: float, parking: dict[int, float], road_edge: dict[int, float]) -> None:
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

def build_outdoor(rng: np.random.Generator, config: OutdoorConfig = OutdoorConfig()) -> Scene:
    """A road along x with pavements, and on each side a row of buildings, a plaza or a park;
    parked and moving vehicles, street trees, street lights, benches, bins and people; a sun with
    shadows and a sky. Everything is drawn from `rng`, so a seed fixes the scene."""
    b = _Layout(rng, config)
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

    lights, ambient, sky = daylight(rng)
    return Scene(objects=b.objects, lights=lights, ambient=ambient, sky=sky, kind="outdoor")
