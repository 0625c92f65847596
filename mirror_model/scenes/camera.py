"""Pinhole intrinsics, camera orientation and the per-pixel rays the renderer casts.

World frame: z up, floor at z = 0, metres. Camera frame: OpenCV (x right, y down, z forward).
"""
from __future__ import annotations

import math
import re

import numpy as np

# NYU Depth v2 Kinect colour camera at 640x480 (about 63 degrees horizontal field of view).
NYU_FX, NYU_FY = 518.8, 519.5
NYU_WIDTH, NYU_HEIGHT = 640, 480
MIN_SIDE, MAX_SIDE = 8, 4096


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) as ints, or a ValueError naming the problem."""
    try:
        height, width = (int(side) for side in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise ValueError(f"size {height}x{width} out of range: each side must be {MIN_SIDE}..{MAX_SIDE} pixels")
    return height, width


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' (height x width) to (240, 320)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if match is None:
        raise ValueError(f"size must be HEIGHTxWIDTH like 240x320, got {text!r}")
    return check_size((int(match.group(1)), int(match.group(2))))


def size_argument(text: str) -> tuple[int, int]:
    """parse_size for argparse `type=`: a bad size becomes a one-line usage error."""
    import argparse

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def intrinsics_for(size: tuple[int, int], fov_deg: float | None = None) -> np.ndarray:
    """K for an image of `size` (height, width), principal point at the centre.

    Without `fov_deg` the NYU Depth v2 focal lengths are scaled to the size (as if the NYU image had
    been resized); with it, square pixels with that horizontal field of view.
    """
    height, width = check_size(size)
    if fov_deg is None:
        fx = NYU_FX * width / NYU_WIDTH
        fy = NYU_FY * height / NYU_HEIGHT
    else:
        if not 10.0 <= float(fov_deg) <= 150.0:
            raise ValueError(f"field of view must be between 10 and 150 degrees, got {fov_deg}")
        fx = fy = (width / 2.0) / math.tan(math.radians(float(fov_deg)) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fy, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def horizontal_fov_deg(intrinsics: np.ndarray, width: int) -> float:
    return math.degrees(2.0 * math.atan(width / (2.0 * float(intrinsics[0, 0]))))


def forward_from_angles(yaw: float, pitch: float) -> np.ndarray:
    """Unit viewing direction: yaw around world z from +x, pitch up from the horizontal (radians)."""
    return np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)])


def look_rotation(forward: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation whose columns are the camera's x (right), y (down), z (forward) axes
    in world coordinates, for a camera looking along `forward` with world z up and `roll` radians."""
    forward = np.asarray(forward, dtype=np.float64)
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        raise ValueError("camera cannot look straight up or down (roll is undefined)")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    cos_r, sin_r = math.cos(roll), math.sin(roll)
    right, down = cos_r * right + sin_r * down, -sin_r * right + cos_r * down
    return np.stack([right, down, forward], axis=1)


def make_pose(eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = eye
    return pose


def pose_from_angles(eye: np.ndarray, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    return make_pose(np.asarray(eye, dtype=np.float64), look_rotation(forward_from_angles(yaw, pitch), roll))


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    eye = np.asarray(eye, dtype=np.float64)
    return make_pose(eye, look_rotation(np.asarray(target, dtype=np.float64) - eye, roll))


def camera_rays(intrinsics: np.ndarray, pose: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 6) float32 rays [origin, direction] through the pixel centres.

    Directions are K^-1 [u, v, 1] rotated to the world, so their component along the optical axis is 1
    and a hit distance t along them is already the z-depth.
    """
    height, width = check_size(size)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    directions_cam = pixels @ np.linalg.inv(intrinsics).T
    directions = directions_cam @ np.asarray(pose, dtype=np.float64)[:3, :3].T
    origins = np.broadcast_to(pose[:3, 3], directions.shape)
    return np.concatenate([origins, directions], axis=-1).astype(np.float32)
