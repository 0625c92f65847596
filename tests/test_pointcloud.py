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


def test_point_cloud_frame_is_y_up_looking_down_minus_z():
    """The .ply frame (docs/app.md): x right, y up, the camera at the origin looking down -z, metres.
    A pixel above the principal point lands at +y; every point in front of the camera has z < 0."""
    K = intrinsics_for((5, 5), 90.0)  # principal point at (2, 2)
    depth = np.zeros((5, 5), np.float32)
    depth[0, 2] = 2.0  # top centre pixel
    depth[2, 4] = 3.0  # right middle pixel
    cloud = depth_to_point_cloud(depth, None, K, voxel_size=0)
    points = {round(float(-z), 3): (x, y) for x, y, z in np.asarray(cloud.points)}
    assert set(points) == {2.0, 3.0}  # z = -depth: in front of the camera is -z
    top_x, top_y = points[2.0]
    right_x, right_y = points[3.0]
    assert top_y > 0 and abs(top_x) < 1e-9  # up in the picture is +y
    assert right_x > 0 and abs(right_y) < 1e-9  # right in the picture is +x
    assert top_y == pytest.approx(2.0 * 2 / K[1, 1])  # metric: depth x offset / focal length
