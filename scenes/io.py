"""Rendered scenes written as scene folders (the format is common.scene_folder's): stills for
training and evaluation, or one camera walk with its video.mp4."""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from common.depth_io import KITTI_UNITS_PER_M, MM_PER_M, UINT16_MAX_M
from common.scene_folder import DEPTH_CAP_KEY, DEPTH_SCALE_KEY, write_intrinsics, write_poses, write_rgbd_frame
from common.sizes import check_size
from common.video_io import write_video as write_mp4

from .generate import DEFAULT_SENSOR, MAX_DEPTH, check_world, render_scene, render_video, scene_seed
from .photos import load_library


def _check_count(count: int, what: str) -> int:
    if int(count) < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")
    return int(count)


def write_scenes(out_dir: str | Path, count: int, size: tuple[int, int] = (240, 320), seed: int = 0,
                 fov_deg: float | None = None, progress: bool = True, clean: bool = False, world: str = "room") -> Path:
    """Render `count` independent scenes (scene i uses scene_seed(seed, i)) into `out_dir`. Each
    frame's record in poses.json carries its own K and meta (field of view, camera height, pitch,
    sensor effects; `clean` renders without them); intrinsics.json is written only when every frame
    shares one K (a fixed `fov_deg`). poses.json names the photo library that textured the scenes
    and the split's cap (10 m for rooms, 80 m for `world="outdoor"`, whose depth PNGs hold 256 units
    per metre, as KITTI's, since millimetres stop at 65.5 m; sky pixels have depth 0)."""
    count, size, out_dir, world = _check_count(count, "count"), check_size(size), Path(out_dir), check_world(world)
    depth_scale = KITTI_UNITS_PER_M if MAX_DEPTH[world] > UINT16_MAX_M else MM_PER_M
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in tqdm(range(count), desc="rendering scenes", unit="scene", disable=not progress):
        name = f"scene_{index:05d}"
        seed_i = scene_seed(seed, index)
        frame = render_scene(seed_i, size, fov_deg, sensor=None if clean else DEFAULT_SENSOR, world=world)
        write_rgbd_frame(out_dir, name, frame.rgb, frame.depth, depth_scale)
        frames.append({"name": name, "seed": seed_i, "pose": frame.pose.tolist(), "K": frame.intrinsics.tolist(), **frame.meta})
    if all(record["K"] == frames[0]["K"] for record in frames):  # one camera: the shared file says so
        write_intrinsics(out_dir, frame.intrinsics, size)
    else:
        (out_dir / "intrinsics.json").unlink(missing_ok=True)
    write_poses(out_dir, "scenes", frames, seed=int(seed), world=world, photo_library=load_library().identity,
                **{DEPTH_SCALE_KEY: depth_scale, DEPTH_CAP_KEY: MAX_DEPTH[world]})
    return out_dir


def write_video(out_dir: str | Path, frames: int, size: tuple[int, int] = (240, 320), seed: int = 0,
                fps: float = 10.0, fov_deg: float | None = None, progress: bool = True) -> Path:
    """Render one camera walk (render_video) into `out_dir`: frames, poses, intrinsics and video.mp4."""
    frames, size, out_dir = _check_count(frames, "frames"), check_size(size), Path(out_dir)
    if not float(fps) > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = render_video(seed, frames, size, fov_deg, progress=progress)
    records = []
    for index, frame in enumerate(rendered):
        name = f"frame_{index:05d}"
        write_rgbd_frame(out_dir, name, frame.rgb, frame.depth)
        records.append({"name": name, "pose": frame.pose.tolist()})
    write_intrinsics(out_dir, rendered[0].intrinsics, size)
    write_poses(out_dir, "video", records, seed=int(seed), fps=float(fps))
    write_mp4(out_dir / "video.mp4", [frame.rgb for frame in rendered], fps)
    return out_dir
