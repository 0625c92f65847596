"""The scene-folder format, read and written here only.

    rgb/NAME.png           RGB frames (also .jpg when reading)
    depth/NAME.png         16-bit depth, 0 = no depth; millimetres, or poses.json's
                           "depth_png_scale" units per metre (256 for far scenes, as KITTI)
    intrinsics.json        K (3x3) or fx/fy/cx/cy, with width and height; fps for videos; absent
                           when frames have their own K (stills with varied fields of view)
    poses.json             {"kind": "scenes"|"video", "frames": [{"name", "pose", "K"?}], "fps", ...}
                           poses are camera-to-world 4x4, OpenCV camera axes, metres; a frame's own
                           "K" (3x3) overrides intrinsics.json
    video.mp4              (videos) the RGB frames as a playable clip

`python -m scenes` writes such folders; the temporal study, the ablation study and the training
data read them.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from common.depth_io import MM_PER_M, read_depth_png, write_depth_png
from common.image_io import load_rgb, write_rgb
from common.jsonio import read_json

POSE_CONVENTION = "camera-to-world 4x4, OpenCV camera axes (x right, y down, z forward), world z up, metres"
FRAME_SUFFIXES = (".png", ".jpg")
DEFAULT_FPS = 30.0
DEPTH_SCALE_KEY = "depth_png_scale"  # in poses.json: units per metre of depth/*.png (default millimetres)
DEPTH_CAP_KEY = "max_depth_m"  # in poses.json: the split's evaluation cap in metres, when it states one


# ---------------------------------------------------------------- writing

def write_rgbd_frame(folder: str | Path, name: str, rgb: np.ndarray, depth_m: np.ndarray, depth_scale: float = MM_PER_M) -> None:
    """rgb/NAME.png and depth/NAME.png at `depth_scale` units per metre (record a scale other than
    millimetres in poses.json as DEPTH_SCALE_KEY, so readers find it)."""
    folder = Path(folder)
    write_rgb(folder / "rgb" / f"{name}.png", rgb)
    write_depth_png(folder / "depth" / f"{name}.png", depth_m, depth_scale)


def intrinsics_record(intrinsics: np.ndarray, size: tuple[int, int]) -> dict:
    height, width = size
    return {
        "fx": float(intrinsics[0, 0]), "fy": float(intrinsics[1, 1]),
        "cx": float(intrinsics[0, 2]), "cy": float(intrinsics[1, 2]),
        "width": int(width), "height": int(height),
        "K": np.asarray(intrinsics, dtype=float).tolist(),
    }  # fmt: skip


def write_json(path: str | Path, record: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def write_intrinsics(folder: str | Path, intrinsics: np.ndarray, size: tuple[int, int]) -> Path:
    return write_json(Path(folder) / "intrinsics.json", intrinsics_record(intrinsics, size))


def write_poses(folder: str | Path, kind: str, frames: list[dict], **extra: Any) -> Path:
    """`frames`: [{"name": ..., "pose": 4x4 list, ...}]; `extra` (seed, fps) goes to the top level."""
    if kind not in ("scenes", "video"):
        raise ValueError(f"poses kind must be 'scenes' or 'video', got {kind!r}")
    return write_json(Path(folder) / "poses.json", {"kind": kind, **extra, "convention": POSE_CONVENTION, "frames": frames})


# ---------------------------------------------------------------- reading

def is_scene_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "rgb").is_dir()


def frame_paths(folder: str | Path) -> list[Path]:
    """rgb/ frames in name order (.png and .jpg)."""
    rgb_dir = Path(folder) / "rgb"
    return sorted((p for p in rgb_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()), key=lambda p: p.name)


MAX_PIXEL_VALUE = 1e6  # K entries (pixels): larger is no camera, and breaks the float32 geometry downstream
MIN_FOCAL_PX = 1e-3
MAX_TRANSLATION_M = 1e6  # a pose's position (metres)


def _as_matrix(data: Any, rows: int, cols: int, what: str) -> np.ndarray:
    """A finite float64 rows x cols matrix from nested lists (or an array), or a ValueError naming `what`."""
    try:
        matrix = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # strings, ragged lists, objects
        raise ValueError(f"{what} must be a {rows}x{cols} matrix of numbers") from None
    if matrix.shape != (rows, cols):
        raise ValueError(f"{what} must be a {rows}x{cols} matrix of numbers, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} holds a value that is not a finite number")
    return matrix


def parse_intrinsics(data: Any, _depth: int = 0) -> np.ndarray:
    """A 3x3 K from {"K": ...}, {"fx", "fy", "cx", "cy"} or a nested list; a ValueError in plain
    words when it is not one, or not a pinhole camera (fx, fy > 0, last row 0 0 1)."""
    if isinstance(data, dict) and _depth < 2:
        for key in ("K", "intrinsics", "matrix"):
            if key in data:
                return parse_intrinsics(data[key], _depth + 1)
    if isinstance(data, dict) and all(k in data for k in ("fx", "fy", "cx", "cy")):
        values = [data[k] for k in ("fx", "fy", "cx", "cy")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError("intrinsics: fx, fy, cx and cy must be numbers")
        data = [[values[0], 0.0, values[2]], [0.0, values[1], values[3]], [0.0, 0.0, 1.0]]
    elif isinstance(data, dict):
        raise ValueError("intrinsics must be a 3x3 matrix K or fx/fy/cx/cy")
    matrix = _as_matrix(data, 3, 3, "intrinsics K")
    if not (matrix[0, 0] > 0 and matrix[1, 1] > 0) or not np.allclose(matrix[2], (0.0, 0.0, 1.0)):
        raise ValueError("intrinsics K must be a pinhole camera: focal lengths fx and fy above 0 and a last row of 0 0 1")
    if np.abs(matrix).max() > MAX_PIXEL_VALUE or min(matrix[0, 0], matrix[1, 1]) < MIN_FOCAL_PX:
        raise ValueError(f"intrinsics K must hold focal lengths and a principal point in pixels (focal lengths "
                         f"{MIN_FOCAL_PX:g} to {MAX_PIXEL_VALUE:g}); got fx {matrix[0, 0]:.3g}, fy {matrix[1, 1]:.3g}")
    return matrix


def read_intrinsics(folder: str | Path) -> np.ndarray | None:
    """K from intrinsics.json, or None when the folder has none."""
    path = Path(folder) / "intrinsics.json"
    if not path.is_file():
        return None
    return parse_intrinsics(_read_json(path))


def parse_poses(data: Any, names: list[str]) -> list[np.ndarray]:
    """Poses as a list, {"poses": list}, {"frames": [{"name", "pose"}]} or {frame name: pose};
    a ValueError in plain words for anything else."""
    shapes = "a list of 4x4 poses, {'poses': [...]}, {'frames': [...]} or one pose per frame name"
    if isinstance(data, dict):
        if "poses" in data:
            data = data["poses"]
            if not isinstance(data, list):
                raise ValueError(f"poses.json: 'poses' must be a list of 4x4 poses; expected {shapes}")
            return _checked_poses(data)
        if "frames" in data:
            frames = data["frames"]
            if not isinstance(frames, list):
                raise ValueError(f"poses.json: 'frames' must be a list; expected {shapes}")
            if frames and all(isinstance(f, dict) and "name" in f for f in frames):
                by_name = {str(f["name"]): f.get("pose") for f in frames}
                missing = [name for name in names if name not in by_name]
                if missing:
                    raise ValueError(f"poses.json has no pose for frame(s) {', '.join(missing[:3])}")
                return _checked_poses([by_name[name] for name in names] if names else list(by_name.values()))
            return _checked_poses([f.get("pose") if isinstance(f, dict) else f for f in frames])
        if names and all(name in data for name in names):
            return _checked_poses([data[name] for name in names])
        raise ValueError(f"poses.json: expected {shapes}")
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise ValueError(f"poses.json: expected {shapes}")
    return _checked_poses(list(data))


def _checked_poses(raw: list) -> list[np.ndarray]:
    return [checked_pose(_as_matrix(pose, 4, 4, f"poses.json: pose {number}"), f"poses.json: pose {number}")
            for number, pose in enumerate(raw)]


def checked_pose(pose: np.ndarray, what: str) -> np.ndarray:
    """A finite 4x4 camera-to-world pose that is a rigid motion, or a ValueError naming `what`: the
    last row 0 0 0 1, a rotation block with determinant near 1 (rotations, or small scale errors
    of an estimated pose; all-zero or flattened poses are refused: they cannot be inverted) and a
    translation within MAX_TRANSLATION_M metres."""
    if not np.isfinite(pose).all():
        raise ValueError(f"{what} holds a value that is not a finite number")
    if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError(f"{what} is not a camera pose: its last row must be 0 0 0 1")
    determinant = float(np.linalg.det(pose[:3, :3]))
    if not 0.5 < determinant < 2.0:
        raise ValueError(f"{what} is not a camera pose: its 3x3 rotation has determinant {determinant:.3g} "
                         "(a rotation has 1), so it cannot be inverted to relate frames")
    if np.abs(pose[:3, 3]).max() > MAX_TRANSLATION_M:
        raise ValueError(f"{what} moves the camera more than {MAX_TRANSLATION_M:g} m; give positions in metres")
    return pose


def read_pose_record(folder: str | Path) -> dict | list | None:
    path = Path(folder) / "poses.json"
    return _read_json(path) if path.is_file() else None


def read_poses(folder: str | Path, names: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Frame names and their (N, 4, 4) camera-to-world poses from poses.json."""
    record = read_pose_record(folder)
    if record is None:
        raise FileNotFoundError(f"{Path(folder).name}/poses.json not found: poses are written by python -m scenes")
    if names is None:
        frames = record.get("frames", []) if isinstance(record, dict) else []
        names = [f["name"] for f in frames if isinstance(f, dict) and "name" in f] or [p.stem for p in frame_paths(folder)]
    return names, np.stack(parse_poses(record, names)).reshape(-1, 4, 4)


def folder_fps(folder: str | Path) -> float:
    """The folder's frame rate from its JSON files, its video.mp4, or 30."""
    folder = Path(folder)
    for name in ("intrinsics.json", "poses.json", "meta.json", "scene.json"):
        path = folder / name
        if path.is_file():
            data = _read_json(path)
            if isinstance(data, dict) and isinstance(data.get("fps"), (int, float)) and data["fps"] > 0:
                return float(data["fps"])
    if (folder / "video.mp4").is_file():
        from common.video_io import probe_video

        try:
            return probe_video(folder / "video.mp4").fps
        except ValueError:
            pass
    return DEFAULT_FPS


def rgbd_names(folder: str | Path) -> list[str]:
    """Names with both an rgb/ frame and depth/NAME.png, sorted."""
    folder = Path(folder)
    if not (folder / "rgb").is_dir() or not (folder / "depth").is_dir():
        raise FileNotFoundError(f"{folder.name}: expected rgb/ and depth/ folders (write one with python -m scenes)")
    return [p.stem for p in frame_paths(folder) if (folder / "depth" / f"{p.stem}.png").is_file()]


def rgbd_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """(rgb path, depth path) for every frame that has both, in name order."""
    folder = Path(folder)
    rgbd_names(folder)  # checks the layout
    return [(p, folder / "depth" / f"{p.stem}.png") for p in frame_paths(folder) if (folder / "depth" / f"{p.stem}.png").is_file()]


def frame_intrinsics(folder: str | Path) -> dict[str, np.ndarray]:
    """Each frame's own K (3, 3) from poses.json, by frame name; {} when frames carry none."""
    record = read_pose_record(folder)
    frames = record.get("frames", []) if isinstance(record, dict) else []
    return {f["name"]: parse_intrinsics(f["K"]) for f in frames if isinstance(f, dict) and "name" in f and "K" in f}


def intrinsics_by_name(folder: str | Path, names: list[str]) -> list[np.ndarray | None]:
    """K (3, 3) of every named frame: its own from poses.json, else intrinsics.json's, else None."""
    shared, own = read_intrinsics(folder), frame_intrinsics(folder)
    return [own.get(name, shared) for name in names]


def folder_depth_scale(folder: str | Path) -> float:
    """Units per metre of the folder's depth PNGs: poses.json's DEPTH_SCALE_KEY, else millimetres."""
    record = read_pose_record(folder)
    scale = record.get(DEPTH_SCALE_KEY, MM_PER_M) if isinstance(record, dict) else MM_PER_M
    if not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"{Path(folder).name}/poses.json: {DEPTH_SCALE_KEY} must be a positive number, got {scale!r}")
    return float(scale)


def folder_depth_cap(folder: str | Path) -> float | None:
    """The evaluation cap in metres that the folder's poses.json states (DEPTH_CAP_KEY), or None."""
    record = read_pose_record(folder)
    cap = record.get(DEPTH_CAP_KEY) if isinstance(record, dict) else None
    if cap is not None and (not isinstance(cap, (int, float)) or not cap > 0):
        raise ValueError(f"{Path(folder).name}/poses.json: {DEPTH_CAP_KEY} must be a positive number, got {cap!r}")
    return None if cap is None else float(cap)


def iter_rgbd_folder(folder: str | Path) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(name, rgb uint8 (H,W,3), depth float32 metres (H,W), K (3,3) or None) per frame, in name order."""
    pairs, scale = rgbd_pairs(folder), folder_depth_scale(folder)
    for (rgb_path, depth_path), intrinsics in zip(pairs, intrinsics_by_name(folder, [p.stem for p, _ in pairs])):
        yield rgb_path.stem, load_rgb(rgb_path), read_depth_png(depth_path, scale), intrinsics


def read_rgbd_folder(folder: str | Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    return list(iter_rgbd_folder(folder))


def _read_json(path: Path) -> Any:
    return read_json(path, label=f"{path.parent.name}/{path.name}")
