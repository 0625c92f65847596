"""Where cameras go in an outdoor scene: street-level stills (handheld, car-mounted, low robot)
and straight walks or drives along the street, all on the scene's roads, pavements and grass."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.camera import intrinsics_for

from .camera import camera_rays, pose_from_angles
from .geometry import Rect
from .render import cast
from .scene import Scene

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


def _spot(scene: Scene, rng: np.random.Generator, mode: str, config: OutdoorViewConfig, clear: _Clearance,
          names: tuple[str, ...] | None = None) -> tuple[float, float, float, float] | None:
    """(x, y, surface height, preferred yaw) for a camera of `mode` standing on a surface named in
    `names` (default: the mode's own), or None if this draw is blocked."""
    names = names or {"handheld": ("pavement", "grass"), "car": ("road",), "robot": ("pavement", "road", "grass")}[mode]
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
        names, weights = zip(*config.modes)
        chosen = mode or str(rng.choice(names, p=np.asarray(weights) / sum(weights)))
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
    """`frames` camera-to-world poses along the street: a walk on a pavement (or on grass when no
    pavement has a clear stretch) at handheld height, or a drive in a lane at car-mounted height,
    every pose clear of obstacles. The scene is static, so parked and "moving" vehicles alike stand
    still. Raises ValueError for frames < 1, RuntimeError if no clear stretch is found."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    driving = rng.random() < config.drive_share if drive is None else bool(drive)
    view = OutdoorViewConfig()
    clear = _Clearance(scene)
    axis = _street_axis(scene)
    speed = float(rng.uniform(*config.drive_speed)) if driving else config.walk_speed
    margin = 1.2 if driving else config.clearance
    for attempt in range(config.tries):
        # Walks keep to pavements; if none has a clear stretch, the second half of the tries may use grass.
        names = ("road",) if driving else ("pavement",) if attempt < config.tries // 2 else ("pavement", "grass")
        spot = _spot(scene, rng, "car" if driving else "handheld", view, clear, names=names)
        if spot is None:
            continue
        x, y, top, yaw = spot
        heading = axis if driving else yaw
        if not driving:  # walk along the street, whichever way the start looked
            heading = axis if math.cos(yaw - axis) >= 0 else axis + math.pi
        step = np.array([math.cos(heading), math.sin(heading)]) * speed
        route = np.array([x, y]) + np.arange(frames)[:, None] * step
        surfaces = _surfaces(scene, names)
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
