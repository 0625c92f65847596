"""Seeded synthetic RGB-D: one still view of a random room, or a video walking through one."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from common.camera import intrinsics_for
from common.sizes import check_size

from .frame import RGBDFrame
from .render import render_view
from .room import RoomConfig, build_room
from .scene import Scene
from .views import PathConfig, camera_path, sample_camera

ROOM_ATTEMPTS = 8


def scene_seed(seed: int, index: int) -> int:
    """Seed of scene `index` in a dataset made with `seed` (reproducible, and independent per scene)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def render_scene(seed: int, size: tuple[int, int] = (240, 320), fov_deg: float | None = None) -> RGBDFrame:
    """A random furnished room seen from a random free viewpoint; the same seed gives the same frame.

    size is (height, width); fov_deg the horizontal field of view (default: NYU Depth v2 intrinsics).
    """
    size = check_size(size)
    intrinsics = intrinsics_for(size, fov_deg)
    rng = np.random.default_rng(int(seed))
    # A rare crowded room leaves no free viewpoint: draw another room from the same generator, so
    # the result still depends on the seed alone.
    for _ in range(ROOM_ATTEMPTS):
        scene = build_room(rng)
        try:
            pose = sample_camera(scene, rng)
        except RuntimeError:
            continue
        return render_view(scene, intrinsics, pose, size)
    raise RuntimeError(f"seed {seed}: no free camera position in {ROOM_ATTEMPTS} rooms")


def video_room(rng: np.random.Generator, path: PathConfig = PathConfig()) -> Scene:
    """A room with the centre kept free for the camera walk."""
    config = RoomConfig(width=(4.2, 7.0), length=(4.2, 7.0))
    dims = (rng.uniform(*config.width), rng.uniform(*config.length), rng.uniform(*config.height))
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
