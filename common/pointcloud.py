"""Depth map + intrinsics → coloured 3D point cloud (open3d), light enough for a browser viewer."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.camera import backproject


def depth_to_point_cloud(
    depth: np.ndarray,
    rgb: np.ndarray | None,
    intrinsics: np.ndarray,
    voxel_size: float | None = None,
    max_points: int | None = 200_000,
):
    """An open3d PointCloud of the depth map, coloured by `rgb`, flipped to a y-up viewer frame.

    depth: (H, W) metres (<= 0 or non-finite = no point); rgb: (H, W, 3) uint8 or None;
    intrinsics: (3, 3) pixels. Frame of the points (and of a written .ply): metres, camera at the
    origin, x right, y up, looking down -z (OpenCV's camera frame with y and z negated).

    `voxel_size` (metres) downsamples; None picks ~1/150 of the scene's depth extent. `max_points`
    caps the result by uniform striding after downsampling, so viewers stay responsive.
    """
    import open3d as o3d

    points, flat_index = backproject(depth, intrinsics)
    if len(points) == 0:
        raise ValueError("the depth map has no valid (positive, finite) pixels to turn into points")
    # Viewers (three.js, Model3D) use y up and look down -z: flip y and z of the OpenCV frame.
    points = points * np.array([1.0, -1.0, -1.0])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape[:2] != np.shape(depth):
            raise ValueError(f"image {rgb.shape[:2]} and depth {np.shape(depth)} sizes differ")
        colours = rgb.reshape(-1, rgb.shape[-1])[flat_index, :3].astype(np.float64) / 255.0
        cloud.colors = o3d.utility.Vector3dVector(colours)
    if voxel_size is None:
        extent = float(np.percentile(points[:, 2], 98) - np.percentile(points[:, 2], 2))
        voxel_size = max(extent / 150.0, 1e-3)
    if voxel_size > 0:
        cloud = cloud.voxel_down_sample(voxel_size)
    if max_points is not None and len(cloud.points) > max_points:
        stride = math.ceil(len(cloud.points) / max_points)
        cloud = cloud.uniform_down_sample(stride)
    return cloud


def write_point_cloud(cloud, path: str | Path) -> Path:
    """Write .ply (binary) or .pcd; the parent folder is created."""
    import open3d as o3d

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not o3d.io.write_point_cloud(str(path), cloud, write_ascii=False):
        raise OSError(f"could not write point cloud {path}")
    return path
