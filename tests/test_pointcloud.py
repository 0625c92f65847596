import numpy as np
import pytest

from common.camera import backproject, intrinsics_for
from common.pointcloud import depth_to_point_cloud, write_point_cloud


def test_intrinsics_from_fov_90_degrees():
    K = intrinsics_for((240, 320), 90.0)
    assert K[0, 0] == pytest.approx(160.0)
    assert K[0, 2] == pytest.approx(159.5) and K[1, 2] == pytest.approx(119.5)


def test_backprojected_plane_has_the_plane_depth_and_reprojects():
    K = intrinsics_for((30, 40), 60.0)
    depth = np.full((30, 40), 2.5, np.float32)
    depth[0, 0] = 0.0  # invalid pixels are skipped
    points, index = backproject(depth, K)
    assert len(points) == 30 * 40 - 1 and index[0] == 1
    np.testing.assert_allclose(points[:, 2], 2.5)
    # Re-projecting each point lands on its own pixel.
    u = points[:, 0] / points[:, 2] * K[0, 0] + K[0, 2]
    v = points[:, 1] / points[:, 2] * K[1, 1] + K[1, 2]
    np.testing.assert_allclose(u, index % 40, atol=1e-9)
    np.testing.assert_allclose(v, index // 40, atol=1e-9)


def test_point_cloud_is_coloured_downsampled_and_written(tmp_path):
    import open3d as o3d

    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 3.0, (60, 80)).astype(np.float32)
    rgb = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    K = intrinsics_for((60, 80), 60.0)
    full = depth_to_point_cloud(depth, rgb, K, voxel_size=0)
    assert len(full.points) == 60 * 80 and full.has_colors()
    light = depth_to_point_cloud(depth, rgb, K, voxel_size=0.2, max_points=500)
    assert 0 < len(light.points) <= 500
    path = write_point_cloud(light, tmp_path / "cloud.ply")
    assert len(o3d.io.read_point_cloud(str(path)).points) == len(light.points)


def test_point_cloud_rejects_empty_depth():
    with pytest.raises(ValueError, match="no valid"):
        depth_to_point_cloud(np.zeros((4, 4)), None, intrinsics_for((4, 4), 60))
