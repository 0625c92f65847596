"""Seeded synthetic RGB-D: one still view of a random room or outdoor scene, or a video walking
through a room."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from common.camera import horizontal_fov_deg, intrinsics_for
from common.sizes import check_size

from .frame import RGBDFrame
from .outdoor import OUTDOOR_MAX_DEPTH, build_outdoor, sample_outdoor_camera
from .render import render_view
from .room import RoomConfig, build_room
from .scene import Scene
from .sensor import SensorConfig, apply_sensor
from .views import PathConfig, ViewConfig, camera_path, sample_camera

ROOM_ATTEMPTS = 8
DEFAULT_SENSOR = SensorConfig()  # stills look like photographs unless asked for the clean render


def scene_seed(seed: int, index: int) -> int:
    """Seed of scene `index` in a dataset made with `seed` (reproducible, and independent per scene)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def camera_rng(seed: int) -> np.random.Generator:
    """The generator of a still's field of view and sensor effects: a stream of its own, so drawing
    them leaves the room and the viewpoint of a seed unchanged."""
    return np.random.default_rng([int(seed), 1])


def view_meta(pose: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int], world: str) -> dict:
    """What a still's records say about its camera: world kind, field of view, height and pitch."""
    forward = pose[:3, 2]
    return {"world": world, "fov_deg": round(horizontal_fov_deg(intrinsics, size[1]), 3),
            "camera_height_m": round(float(pose[2, 3]), 4),
            "pitch_deg": round(float(np.degrees(np.arcsin(np.clip(forward[2], -1.0, 1.0)))), 3)}  # fmt: skip


def _room_view(rng: np.random.Generator) -> tuple[Scene, np.ndarray]:
    """A room and a free viewpoint in it. A rare crowded room leaves no free viewpoint: another room
    is drawn from the same generator, so the result still depends on the seed alone."""
    for _ in range(ROOM_ATTEMPTS):
        scene = build_room(rng)
        try:
            return scene, sample_camera(scene, rng)
        except RuntimeError:
            continue
    raise RuntimeError(f"no free camera position in {ROOM_ATTEMPTS} rooms")


def _outdoor_view(rng: np.random.Generator) -> tuple[Scene, np.ndarray]:
    scene = build_outdoor(rng)
    return scene, sample_outdoor_camera(scene, rng)


VIEWS = {"room": _room_view, "outdoor": _outdoor_view}
WORLDS = tuple(VIEWS)
# Each world's evaluation cap (metres): rooms as NYU Depth v2 (10 m), outdoor scenes as KITTI (80 m).
MAX_DEPTH = {"room": 10.0, "outdoor": OUTDOOR_MAX_DEPTH}


def check_world(world: str) -> str:
    if world not in VIEWS:
        raise ValueError(f"unknown world {world!r}: expected one of {', '.join(WORLDS)}")
    return world


def render_scene(seed: int, size: tuple[int, int] = (240, 320), fov_deg: float | None = None,
                 sensor: SensorConfig | None = DEFAULT_SENSOR, world: str = "room") -> RGBDFrame:
    """A random furnished room (or, with world="outdoor", a street, plaza or park) seen from a random
    free viewpoint; the same seed gives the same frame.

    size is (height, width); fov_deg the horizontal field of view in degrees (default: drawn per
    scene from ViewConfig.fov_deg, as photos come from many cameras); sensor the camera effects
    applied to the colour image (scenes.sensor; None for the clean render; depth is never changed).
    frame.meta records the world, field of view, camera height, pitch and the sensor effects.
    Outdoor sky pixels have depth 0 (scenes.render.sky_mask). Raises ValueError for an unknown
    world, RuntimeError (naming the seed) when no free viewpoint exists.
    """
    size, view = check_size(size), VIEWS[check_world(world)]
    camera = camera_rng(seed)
    drawn_fov = ViewConfig().draw_fov(camera)  # drawn even when given, so the sensor stream stays put
    intrinsics = intrinsics_for(size, drawn_fov if fov_deg is None else fov_deg)
    try:
        scene, pose = view(np.random.default_rng(int(seed)))
    except RuntimeError as error:
        raise RuntimeError(f"seed {seed}: {error}") from None
    frame = render_view(scene, intrinsics, pose, size)
    frame.meta = view_meta(pose, intrinsics, size, world)
    if sensor is not None:
        frame.rgb, frame.meta["sensor"] = apply_sensor(frame.rgb, camera, sensor)
    return frame


def video_room(rng: np.random.Generator, path: PathConfig = PathConfig()) -> Scene:
    """A room with the centre kept free for the camera walk."""
    config = RoomConfig(width=(4.2, 7.0), length=(4.2, 7.0))
    dims = config.draw_dims(rng)
    reserved = path.reserved_rect((0.0, 0.0, 0.0, *dims))
    return build_room(rng, config, reserved=[reserved], dims=dims)


def render_video(seed: int, frames: int, size: tuple[int, int] = (240, 320), fov_deg: float | None = None,
                 progress: bool = False) -> list[RGBDFrame]:
    """`frames` views along a smooth camera walk through one fixed random room, with per-frame poses."""
    if int(frames) < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    size = check_size(size)
    intrinsics = intrinsics_for(size, fov_deg)
    rng = np.random.default_rng(int(seed))
    scene = video_room(rng)
    poses = camera_path(scene, rng, int(frames))
    return [render_view(scene, intrinsics, pose, size) for pose in tqdm(poses, desc="rendering video", unit="frame", disable=not progress)]
