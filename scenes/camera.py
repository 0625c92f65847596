"""Pinhole intrinsics, camera orientation and the per-pixel rays the renderer casts.

World frame: z up, floor at z = 0, metres. Camera frame: OpenCV (x right, y down, z forward).
"""
from __future__ import annotations

import math

import numpy as np

from common.sizes import check_size


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
