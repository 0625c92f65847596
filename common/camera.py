"""Pinhole camera geometry: intrinsics from a field of view, rescaling them, back-projection.

Camera frame: OpenCV axes (x right, y down, z forward), metres; pixel centres at integer coordinates.
"""
from __future__ import annotations

import math

import numpy as np

# NYU Depth v2 Kinect colour camera at 640x480 (about 63 degrees horizontal field of view).
NYU_FX, NYU_FY = 518.8, 519.5
NYU_WIDTH, NYU_HEIGHT = 640, 480
MIN_FOV_DEG, MAX_FOV_DEG = 1.0, 179.0


def intrinsics_for(size: tuple[int, int], fov_deg: float | None = None) -> np.ndarray:
    """K for an image of `size` (height, width), principal point at the centre.

    Without `fov_deg` the NYU Depth v2 focal lengths are scaled to the size (as if the NYU image had
    been resized); with it, square pixels with that horizontal field of view.
    """
    height, width = (int(side) for side in size)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if fov_deg is None:
        fx = NYU_FX * width / NYU_WIDTH
        fy = NYU_FY * height / NYU_HEIGHT
    else:
        fov_deg = float(fov_deg)
        if not MIN_FOV_DEG <= fov_deg <= MAX_FOV_DEG:  # also rejects NaN
            raise ValueError(f"field of view must be between {MIN_FOV_DEG:g} and {MAX_FOV_DEG:g} degrees, got {fov_deg}")
        fx = fy = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fy, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def horizontal_fov_deg(intrinsics: np.ndarray, width: int) -> float:
    return math.degrees(2.0 * math.atan(width / (2.0 * float(intrinsics[0, 0]))))


def scale_intrinsics(intrinsics: np.ndarray, old_hw: tuple[int, int], new_hw: tuple[int, int]) -> np.ndarray:
    """K after resizing; pixel centres sit at integer coordinates, so centres map as (c+0.5)*s-0.5."""
    sx, sy = new_hw[1] / old_hw[1], new_hw[0] / old_hw[0]
    scaled = np.array(intrinsics, dtype=np.float64)
    scaled[0, 0] *= sx
    scaled[1, 1] *= sy
    scaled[0, 2] = (intrinsics[0, 2] + 0.5) * sx - 0.5
    scaled[1, 2] = (intrinsics[1, 2] + 0.5) * sy - 0.5
    return scaled


def backproject_grid(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(H, W, 3) camera-frame points of a z-depth map."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2D array, got shape {depth.shape}")
    height, width = depth.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    return (pixels @ np.linalg.inv(np.asarray(intrinsics, dtype=np.float64)).T) * depth[..., None]


def backproject(depth: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame points (N, 3) of the valid pixels and their flat pixel indices."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    return backproject_grid(np.where(valid, depth, 0.0), intrinsics)[valid], np.flatnonzero(valid)
