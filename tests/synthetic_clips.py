"""Analytic RGB-D views with exact depth, for known-answer checks of the measures.

A textured wall at world z = WALL_Z and a textured box face at z = BOX_Z in front of it, ray-cast
in closed form (no renderer needed). World axes are the OpenCV camera axes of the identity pose.
"""
from __future__ import annotations

import math

import numpy as np

from common.camera import intrinsics_for

WALL_Z = 4.0
BOX_Z = 2.5
BOX_HALF = (0.5, 0.35)  # half width (x) and half height (y) of the box face, metres


def translation_pose(x: float = 0.0, y: float = 0.0, z: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """Camera-to-world pose: rotate by yaw about the camera's y axis, then translate."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
    pose[:3, 3] = [x, y, z]
    return pose


def _texture(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth, non-repeating RGB pattern on a plane (enough texture for optical flow)."""
    rng = np.random.default_rng(seed)
    channels = []
    for _ in range(3):
        value = np.full(x.shape, 0.5)
        for _ in range(6):
            fx, fy = rng.uniform(-14, 14, size=2)
            value += 0.08 * np.sin(fx * x + fy * y + rng.uniform(0, 2 * math.pi))
        channels.append(value)
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def render_view(intrinsics: np.ndarray, pose: np.ndarray, size: tuple[int, int], with_box: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 HxWx3, z-depth float32 HxW metres) of the wall (and box) seen from `pose`."""
    h, w = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays_cam = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsics).T  # z component 1
    rays = rays_cam @ pose[:3, :3].T
    origin = pose[:3, 3]
    depth = np.full((h, w), np.inf)
    rgb = np.zeros((h, w, 3))
    planes = [(WALL_Z, None, 1)] + ([(BOX_Z, BOX_HALF, 2)] if with_box else [])
    for plane_z, half, seed in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (plane_z - origin[2]) / rays[..., 2]  # ray parameter = camera z-depth (ray z_cam = 1)
        hit_x = origin[0] + t * rays[..., 0]
        hit_y = origin[1] + t * rays[..., 1]
        hit = np.isfinite(t) & (t > 0) & (t < depth)
        if half is not None:
            hit &= (np.abs(hit_x) <= half[0]) & (np.abs(hit_y) <= half[1])
        depth = np.where(hit, t, depth)
        rgb = np.where(hit[..., None], _texture(hit_x, hit_y, seed), rgb)
    depth = np.where(np.isfinite(depth), depth, 0.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8), depth.astype(np.float32)


def render_clip(poses: list[np.ndarray], size: tuple[int, int] = (72, 96), fov_deg: float = 60.0, with_box: bool = True):
    """(rgbs, depths, K) for a camera path."""
    intrinsics = intrinsics_for(size, fov_deg)
    views = [render_view(intrinsics, pose, size, with_box) for pose in poses]
    return [v[0] for v in views], [v[1] for v in views], intrinsics
