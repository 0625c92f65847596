"""Frame sources for the temporal study: a video file, or a procedural scene folder with ground truth.

A scene folder holds rgb/*.png, depth/*.png (16-bit millimetres), intrinsics.json and poses.json
(camera-to-world 4x4, OpenCV axes), as `python -m mirror_model.scenes` writes them. Frames are
yielded lazily, one at a time, so long clips never sit in memory.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from analysis.video_io import check_max_side, probe_video, read_video_frames, resize_max_side, sample_indices_keep
from mirror_model.depth_io import read_depth_png

DEFAULT_SCENE_FPS = 30.0


@dataclass
class FrameSample:
    """One frame to analyse; ground truth fields are None for plain videos."""

    index: int
    time_s: float
    rgb: np.ndarray
    depth_gt: np.ndarray | None = None
    pose: np.ndarray | None = None  # 4x4 camera-to-world
    intrinsics: np.ndarray | None = None  # 3x3 K at this frame's (possibly resized) resolution


def _parse_intrinsics(data: Any) -> np.ndarray:
    if isinstance(data, dict):
        for key in ("K", "intrinsics", "matrix"):
            if key in data:
                return _parse_intrinsics(data[key])
        if all(k in data for k in ("fx", "fy", "cx", "cy")):
            return np.array([[data["fx"], 0.0, data["cx"]], [0.0, data["fy"], data["cy"]], [0.0, 0.0, 1.0]], dtype=np.float64)
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f"intrinsics must be a 3x3 matrix or fx/fy/cx/cy, got shape {matrix.shape}")
    return matrix


def _parse_poses(data: Any, names: list[str]) -> list[np.ndarray]:
    """Poses as a list, {"poses": list}, {"frames": [{"pose": ...}]} or {frame name: pose}."""
    if isinstance(data, dict):
        if "poses" in data:
            return _parse_poses(data["poses"], names)
        if "frames" in data:
            frames = data["frames"]
            if frames and all(isinstance(f, dict) and "name" in f for f in frames):
                by_name = {f["name"]: f["pose"] for f in frames}
                missing = [name for name in names if name not in by_name]
                if missing:
                    raise ValueError(f"poses.json has no pose for frame(s) {', '.join(missing[:3])}")
                return [np.asarray(by_name[name], dtype=np.float64) for name in names]
            return [np.asarray(f["pose"] if isinstance(f, dict) else f, dtype=np.float64) for f in frames]
        if all(name in data for name in names):
            return [np.asarray(data[name], dtype=np.float64) for name in names]
        raise ValueError("poses.json: expected a list of 4x4 poses, {'poses': [...]}, {'frames': [...]} or one pose per frame name")
    poses = [np.asarray(p, dtype=np.float64) for p in data]
    for pose in poses:
        if pose.shape != (4, 4):
            raise ValueError(f"poses.json: every pose must be 4x4 camera-to-world, got shape {pose.shape}")
    return poses


def is_scene_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "rgb").is_dir()


def scene_fps(scene_dir: str | Path) -> float:
    """The scene's frame rate from its JSON files, its video.mp4, or 30."""
    scene_dir = Path(scene_dir)
    for name in ("intrinsics.json", "poses.json", "meta.json", "scene.json"):
        path = scene_dir / name
        if path.is_file():
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("fps"), (int, float)) and data["fps"] > 0:
                return float(data["fps"])
    if (scene_dir / "video.mp4").is_file():
        try:
            return probe_video(scene_dir / "video.mp4").fps
        except ValueError:
            pass
    return DEFAULT_SCENE_FPS


def _scale_intrinsics(intrinsics: np.ndarray, old_hw: tuple[int, int], new_hw: tuple[int, int]) -> np.ndarray:
    """K after resizing; pixel centres sit at integer coordinates, so centres map as (c+0.5)*s-0.5."""
    sx, sy = new_hw[1] / old_hw[1], new_hw[0] / old_hw[0]
    scaled = intrinsics.copy()
    scaled[0, 0] *= sx
    scaled[1, 1] *= sy
    scaled[0, 2] = (intrinsics[0, 2] + 0.5) * sx - 0.5
    scaled[1, 2] = (intrinsics[1, 2] + 0.5) * sy - 0.5
    return scaled


def read_scene_frames(
    scene_dir: str | Path,
    target_fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
) -> Iterator[FrameSample]:
    """Frames of a scene folder with ground-truth depth, poses and intrinsics when present.

    Checked at the call (missing folder, no frames, pose count mismatch); frames load lazily.
    """
    scene_dir = Path(scene_dir)
    if not scene_dir.exists():
        raise FileNotFoundError(f"scene folder not found: {scene_dir}")
    if not is_scene_dir(scene_dir):
        raise ValueError(f"{scene_dir}: not a scene folder (expected rgb/*.png; write one with python -m mirror_model.scenes)")
    rgb_paths = sorted((scene_dir / "rgb").glob("*.png")) + sorted((scene_dir / "rgb").glob("*.jpg"))
    if not rgb_paths:
        raise ValueError(f"{scene_dir}/rgb holds no .png or .jpg frames")
    names = [p.stem for p in rgb_paths]
    intrinsics = poses = None
    if (scene_dir / "intrinsics.json").is_file():
        intrinsics = _parse_intrinsics(json.loads((scene_dir / "intrinsics.json").read_text()))
    if (scene_dir / "poses.json").is_file():
        pose_data = json.loads((scene_dir / "poses.json").read_text())
        if isinstance(pose_data, dict) and pose_data.get("kind") == "scenes":
            raise ValueError(
                f"{scene_dir}: holds independent scenes, not a video; write a camera walk with python -m mirror_model.scenes --video"
            )
        poses = _parse_poses(pose_data, names)
        if len(poses) != len(rgb_paths):
            raise ValueError(f"{scene_dir}: poses.json has {len(poses)} poses for {len(rgb_paths)} frames")
    if max_frames is not None and max_frames <= 0:
        raise ValueError(f"max frames must be positive, got {max_frames}")
    if target_fps is not None and target_fps <= 0:
        raise ValueError(f"target fps must be positive, got {target_fps}")
    check_max_side(max_side)
    return _iter_scene(scene_dir, rgb_paths, intrinsics, poses, scene_fps(scene_dir), target_fps, max_frames, max_side)


def _iter_scene(scene_dir, rgb_paths, intrinsics, poses, fps, target_fps, max_frames, max_side) -> Iterator[FrameSample]:
    yielded = 0
    for index, rgb_path in enumerate(rgb_paths):
        if max_frames is not None and yielded >= max_frames:
            return
        if not sample_indices_keep(index, fps, target_fps):
            continue
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{rgb_path}: not a readable image")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        full_hw = rgb.shape[:2]
        rgb = resize_max_side(rgb, max_side)
        depth_path = scene_dir / "depth" / f"{rgb_path.stem}.png"
        depth = None
        if depth_path.is_file():
            depth = read_depth_png(depth_path)
            if depth.shape != rgb.shape[:2]:  # nearest keeps depth edges sharp (no mixed depths)
                depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        K = None if intrinsics is None else _scale_intrinsics(intrinsics, full_hw, rgb.shape[:2])
        pose = None if poses is None else poses[index]
        yield FrameSample(index, index / fps, rgb, depth, pose, K)
        yielded += 1


def read_frames(
    source: str | Path, target_fps: float | None = None, max_frames: int | None = None, max_side: int | None = None
) -> Iterator[FrameSample]:
    """FrameSamples from a video file or a scene folder (decided by what the path is)."""
    source = Path(source)
    if is_scene_dir(source):
        return read_scene_frames(source, target_fps, max_frames, max_side)
    if source.is_dir():
        raise ValueError(f"{source}: a folder but not a scene folder (expected rgb/, depth/, poses.json); pass a video file or a scene folder")
    frames = read_video_frames(source, target_fps, max_frames, max_side)
    return (FrameSample(index, time_s, rgb) for index, time_s, rgb in frames)
