"""Where cameras go: random still viewpoints and smooth collision-free paths inside a room."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from common.camera import intrinsics_for

from .camera import camera_rays, pose_from_angles
from .render import cast
from .scene import Scene


@dataclass(frozen=True)
class CameraProfile:
    """How one kind of camera is held: eye height above the floor (metres) and pitch (degrees,
    negative looks down), each drawn uniformly; `weight` is its share of views."""

    name: str
    weight: float
    eye_height: tuple[float, float]
    pitch_deg: tuple[float, float]


# A phone or camera held by a standing person (eye level less a little), and a robot or a camera
# on a table or a seated person's phone: lower, closer to level.
HANDHELD = CameraProfile("handheld", 0.75, (1.25, 1.75), (-30.0, 10.0))
ROBOT = CameraProfile("robot", 0.25, (0.35, 1.0), (-15.0, 12.0))


@dataclass(frozen=True)
class ViewConfig:
    """Ranges for still viewpoints (metres, degrees)."""

    profiles: tuple[CameraProfile, ...] = (HANDHELD, ROBOT)
    roll_deg: tuple[float, float] = (-3.0, 3.0)
    # Horizontal field of view: phones' main cameras (about 65-75), webcams (60-78), NYU's Kinect (63).
    fov_deg: tuple[float, float] = (55.0, 80.0)
    clearance: float = 0.4  # floor distance from the eye to walls and obstacle footprints
    yaw_spread_deg: float = 50.0  # around the direction of the farthest room corner
    min_median_depth: float = 1.8  # reject views pressed against a wall
    min_median_fraction: float = 0.35  # ... or seeing much less than the room's extent that way
    max_near_fraction: float = 0.03  # share of pixels closer than 0.5 m
    tries: int = 60

    def draw_profile(self, rng: np.random.Generator) -> CameraProfile:
        weights = np.array([p.weight for p in self.profiles], dtype=np.float64)
        return self.profiles[int(rng.choice(len(self.profiles), p=weights / weights.sum()))]

    def draw_fov(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(*self.fov_deg))


def _probe_depths(scene: Scene, pose: np.ndarray) -> np.ndarray:
    """Z-depths on a coarse 12x16 grid: a cheap check of what a view would see."""
    size = (12, 16)
    hits = cast(scene, camera_rays(intrinsics_for(size), pose, size).reshape(-1, 6))
    return hits["t_hit"]  # camera_rays directions have unit optical-axis component: t is z-depth


def sample_camera(scene: Scene, rng: np.random.Generator, config: ViewConfig = ViewConfig()) -> np.ndarray:
    """A camera-to-world pose inside the room, clear of objects, held as one of `config.profiles`
    (drawn once per call), looking across the room at a view that is not pressed against a wall.
    The best of `config.tries` candidates if none passes."""
    if scene.room is None:
        raise ValueError("sample_camera needs a scene with room bounds (build one with build_room)")
    xmin, ymin, _, xmax, ymax, zmax = scene.room
    profile = config.draw_profile(rng)
    best_pose, best_score = None, -math.inf
    for _ in range(config.tries):
        x, y = rng.uniform(xmin + config.clearance, xmax - config.clearance), rng.uniform(ymin + config.clearance, ymax - config.clearance)
        z = min(rng.uniform(*profile.eye_height), zmax - 0.3)
        # Look across the room, as people photograph rooms, not into the nearest wall.
        corners = np.array([(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)]) - (x, y)
        far = corners[np.argmax(np.linalg.norm(corners, axis=1))]
        yaw = math.atan2(far[1], far[0]) + math.radians(rng.uniform(-config.yaw_spread_deg, config.yaw_spread_deg))
        pitch, roll = (math.radians(rng.uniform(*r)) for r in (profile.pitch_deg, config.roll_deg))
        if scene.clearance(x, y) < config.clearance:
            continue
        pose = pose_from_angles((x, y, z), yaw, pitch, roll)
        depths = _probe_depths(scene, pose)
        if not np.all(np.isfinite(depths)):
            continue
        median, near = float(np.median(depths)), float(np.mean(depths < 0.5))
        wanted = max(config.min_median_depth, config.min_median_fraction * float(np.linalg.norm(far)))
        if median >= wanted and near <= config.max_near_fraction:
            return pose
        score = median / wanted - 10.0 * near
        if score > best_score:
            best_pose, best_score = pose, score
    if best_pose is None:
        raise RuntimeError("no free camera position found in this room (it may be too full)")
    return best_pose


@dataclass(frozen=True)
class PathConfig:
    """A walk around an ellipse at the room centre with gentle head motion."""

    speed: float = 0.05  # metres per frame (0.5 m/s at 10 fps)
    radius_fraction: float = 0.2  # ellipse semi-axes as a fraction of room width / length
    eye_height: tuple[float, float] = (1.2, 1.6)
    inward_deg: tuple[float, float] = (20.0, 70.0)  # heading turned towards the room centre
    sway_deg: float = 12.0
    bob: float = 0.03  # metres of vertical bobbing
    clearance: float = 0.4

    def semi_axes(self, width: float, length: float) -> tuple[float, float]:
        return self.radius_fraction * width, self.radius_fraction * length

    def reserved_rect(self, room: tuple[float, ...]) -> tuple[float, float, float, float]:
        """Floor the path may cover plus clearance: furniture is kept out of it."""
        xmin, ymin, _, xmax, ymax, _ = room
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        a, b = self.semi_axes(xmax - xmin, ymax - ymin)
        return cx - a - self.clearance, cy - b - self.clearance, cx + a + self.clearance, cy + b + self.clearance


def camera_path(scene: Scene, rng: np.random.Generator, frames: int, config: PathConfig = PathConfig()) -> list[np.ndarray]:
    """`frames` camera-to-world poses along a smooth closed walk; every quantity is a smooth function
    of time, so translation and rotation change little and steadily from frame to frame."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if scene.room is None:
        raise ValueError("camera_path needs a scene with room bounds (build one with build_room)")
    xmin, ymin, _, xmax, ymax, _ = scene.room
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    a, b = config.semi_axes(xmax - xmin, ymax - ymin)
    direction = 1.0 if rng.random() < 0.5 else -1.0
    angular_speed = direction * config.speed / math.sqrt((a * a + b * b) / 2)  # ~constant walking speed
    start = rng.uniform(0, 2 * math.pi)
    height = rng.uniform(*config.eye_height)
    inward = math.radians(rng.uniform(*config.inward_deg)) * direction
    sway_rate, pitch_rate, phase = rng.uniform(0.04, 0.08), rng.uniform(0.03, 0.06), rng.uniform(0, 2 * math.pi)
    base_pitch = math.radians(rng.uniform(-20.0, -8.0))
    poses = []
    for k in range(frames):
        theta = start + angular_speed * k
        eye = (cx + a * math.cos(theta), cy + b * math.sin(theta), height + config.bob * math.sin(0.6 * k + phase))
        heading = math.atan2(b * math.cos(theta) * direction, -a * math.sin(theta) * direction)
        yaw = heading + inward + math.radians(config.sway_deg) * math.sin(sway_rate * k + phase)
        pitch = base_pitch + math.radians(4.0) * math.sin(pitch_rate * k)
        roll = math.radians(1.0) * math.sin(0.5 * sway_rate * k)
        poses.append(pose_from_angles(eye, yaw, pitch, roll))
    return poses
