"""Datasets on disk: rgb/NAME.png, depth/NAME.png (16-bit millimetres), intrinsics.json, poses.json
and, for a video, video.mp4 of the RGB frames."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..depth_io import read_depth_png, write_depth_png
from .camera import check_size
from .frame import RGBDFrame
from .generate import render_scene, render_video, scene_seed

POSE_CONVENTION = "camera-to-world 4x4, OpenCV camera axes (x right, y down, z forward), world z up, metres"


def intrinsics_record(intrinsics: np.ndarray, size: tuple[int, int]) -> dict:
    height, width = size
    return {
        "fx": float(intrinsics[0, 0]), "fy": float(intrinsics[1, 1]),
        "cx": float(intrinsics[0, 2]), "cy": float(intrinsics[1, 2]),
        "width": int(width), "height": int(height),
        "K": np.asarray(intrinsics, dtype=float).tolist(),
    }


def _write_frame(out_dir: Path, name: str, frame: RGBDFrame) -> None:
    import cv2

    rgb_path = out_dir / "rgb" / f"{name}.png"
    rgb_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(rgb_path), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {rgb_path}")
    write_depth_png(out_dir / "depth" / f"{name}.png", frame.depth)


def _write_json(path: Path, record: dict) -> None:
    path.write_text(json.dumps(record, indent=1) + "\n")


def _check_count(count: int, what: str) -> int:
    if int(count) < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")
    return int(count)


def write_scenes(out_dir: str | Path, count: int, size: tuple[int, int] = (240, 320), seed: int = 0,
                 fov_deg: float | None = None, progress: bool = True) -> Path:
    """Render `count` independent scenes (scene i uses scene_seed(seed, i)) into `out_dir`."""
    count, size, out_dir = _check_count(count, "count"), check_size(size), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in tqdm(range(count), desc="rendering scenes", unit="scene", disable=not progress):
        name = f"scene_{index:05d}"
        seed_i = scene_seed(seed, index)
        frame = render_scene(seed_i, size, fov_deg)
        _write_frame(out_dir, name, frame)
        frames.append({"name": name, "seed": seed_i, "pose": frame.pose.tolist()})
    _write_json(out_dir / "intrinsics.json", intrinsics_record(frame.intrinsics, size))
    _write_json(out_dir / "poses.json", {"kind": "scenes", "seed": int(seed), "convention": POSE_CONVENTION, "frames": frames})
    return out_dir


def write_video_file(path: str | Path, rgb_frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """RGB uint8 frames to an mp4: H.264 (browser-playable) when ffmpeg is installed, mp4v otherwise."""
    from analysis.video_io import write_video as write_mp4

    return write_mp4(path, rgb_frames, fps)


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
        _write_frame(out_dir, name, frame)
        records.append({"name": name, "pose": frame.pose.tolist()})
    _write_json(out_dir / "intrinsics.json", intrinsics_record(rendered[0].intrinsics, size))
    _write_json(out_dir / "poses.json", {"kind": "video", "seed": int(seed), "fps": float(fps), "convention": POSE_CONVENTION, "frames": records})
    write_video_file(out_dir / "video.mp4", [frame.rgb for frame in rendered], fps)
    return out_dir


def read_intrinsics(folder: str | Path) -> np.ndarray:
    path = Path(folder) / "intrinsics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: expected a folder written by python -m mirror_model.scenes")
    record = json.loads(path.read_text())
    if "K" in record:
        return np.asarray(record["K"], dtype=np.float64)
    return np.array([[record["fx"], 0.0, record["cx"]], [0.0, record["fy"], record["cy"]], [0.0, 0.0, 1.0]])


def rgbd_names(folder: str | Path) -> list[str]:
    """Names with both rgb/NAME.png and depth/NAME.png, sorted."""
    folder = Path(folder)
    if not (folder / "rgb").is_dir() or not (folder / "depth").is_dir():
        raise FileNotFoundError(f"{folder}: expected rgb/ and depth/ folders (write one with python -m mirror_model.scenes)")
    return sorted(p.stem for p in (folder / "rgb").glob("*.png") if (folder / "depth" / p.name).is_file())


def iter_rgbd_folder(folder: str | Path) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, rgb uint8 (H,W,3), depth float32 metres (H,W), K (3,3)) per frame, in name order."""
    import cv2

    folder = Path(folder)
    intrinsics = read_intrinsics(folder)
    for name in rgbd_names(folder):
        bgr = cv2.imread(str(folder / "rgb" / f"{name}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{folder / 'rgb' / name}.png: not a readable image")
        yield name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), read_depth_png(folder / "depth" / f"{name}.png"), intrinsics


def read_rgbd_folder(folder: str | Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    return list(iter_rgbd_folder(folder))


def read_poses(folder: str | Path) -> tuple[list[str], np.ndarray]:
    """Frame names and their (N, 4, 4) camera-to-world poses from poses.json."""
    path = Path(folder) / "poses.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: poses are written by python -m mirror_model.scenes")
    frames = json.loads(path.read_text())["frames"]
    return [f["name"] for f in frames], np.asarray([f["pose"] for f in frames], dtype=np.float64).reshape(-1, 4, 4)
