"""Procedural RGB-D scenes: exact depth, geometry consistency, determinism, plausibility, smooth video
poses and the dataset files written by the command line."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from common.camera import intrinsics_for
from common.scene_folder import read_poses, read_rgbd_folder
from common.sizes import parse_size
from scenes.__main__ import build_parser
from scenes.__main__ import main as scenes_cli
from scenes.camera import look_at, pose_from_angles
from scenes.generate import render_scene, render_video, scene_seed, video_room
from scenes.geometry import SceneObject, box, quad
from scenes.render import render_view
from scenes.room import build_room
from scenes.scene import Light, Scene
from scenes.textures import Material, albedo
from scenes.views import camera_path, sample_camera

SMALL = (60, 80)


def _wall_scene(x: float) -> Scene:
    """One large vertical plane x = const, facing -x."""
    corners = np.array([[x, -50, -50], [x, 50, -50], [x, 50, 50], [x, -50, 50]], dtype=float)
    return Scene([SceneObject("wall", quad(corners), Material("checker", scale=0.3))],
                 [Light("directional", (0.6, 0.6, 0.6), direction=(1, 0.2, -0.3))])


def _backproject_world(frame) -> tuple[np.ndarray, np.ndarray]:
    """World points of the pixels with depth, and the mask of those pixels."""
    height, width = frame.depth.shape
    v, u = np.mgrid[0:height, 0:width].astype(float)
    valid = frame.depth > 0
    pixels = np.stack([u[valid], v[valid], np.ones(valid.sum())], axis=1)
    camera_points = (pixels @ np.linalg.inv(frame.intrinsics).T) * frame.depth[valid, None].astype(float)
    return camera_points @ frame.pose[:3, :3].T + frame.pose[:3, 3], valid


def test_depth_of_a_frontal_plane_is_its_distance():
    distance = 3.217
    frame = render_view(_wall_scene(distance), intrinsics_for(SMALL), pose_from_angles((0, 0, 0), 0.0, 0.0), SMALL)
    # z-depth (not ray length) is the same for every pixel of a plane facing the camera
    assert np.abs(frame.depth - distance).max() < 1e-3


def test_depth_of_a_tilted_plane_matches_the_analytic_solution():
    distance = 2.5
    pose = pose_from_angles((0.1, -0.2, 0.3), math.radians(25), math.radians(-10), math.radians(4))
    K = intrinsics_for(SMALL, fov_deg=70)
    frame = render_view(_wall_scene(distance), K, pose, SMALL)
    v, u = np.mgrid[0 : SMALL[0], 0 : SMALL[1]].astype(float)
    rays_cam = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T  # unit z component
    rays_world = rays_cam @ pose[:3, :3].T
    expected = (distance - pose[0, 3]) / rays_world[..., 0]  # distance along a ray with z_cam = 1
    assert expected.min() > 1.0 and expected.max() - expected.min() > 0.5  # really tilted
    assert np.abs(frame.depth - expected).max() < 1e-3


def test_backprojected_box_pixels_lie_on_the_box_and_reach_its_corner():
    center, size, yaw = np.array([0.3, -0.2, 0.5]), np.array([0.8, 0.6, 1.0]), 0.4
    scene = Scene([SceneObject("box", box(tuple(center), tuple(size), yaw), Material("stripes"))], [Light("directional", (0.7, 0.7, 0.7))])
    # the corner with +x, -y, +z in the box's own frame, seen from that side
    c, s = math.cos(yaw), math.sin(yaw)
    local_corner = size / 2 * np.array([1, -1, 1])
    corner = center + np.array([c * local_corner[0] - s * local_corner[1], s * local_corner[0] + c * local_corner[1], local_corner[2]])
    eye = center + 3.0 * (corner - center) / np.linalg.norm(corner - center) + [0, 0, 0.5]
    size_px = (120, 160)
    frame = render_view(scene, intrinsics_for(size_px), look_at(eye, center), size_px)
    points, valid = _backproject_world(frame)
    assert 0.05 < valid.mean() < 0.9  # the box is in view, with background around it
    local = points - center
    local = np.stack([c * local[:, 0] + s * local[:, 1], -s * local[:, 0] + c * local[:, 1], local[:, 2]], axis=1)
    # distance to the box surface: outside distance, or depth below the nearest face when inside
    excess = np.abs(local) - size / 2
    surface_distance = np.where(excess.max(axis=1) > 0, np.linalg.norm(np.clip(excess, 0, None), axis=1), -excess.max(axis=1))
    assert surface_distance.max() < 3e-3
    pixel_footprint = np.linalg.norm(corner - eye) / frame.intrinsics[0, 0]
    assert np.linalg.norm(points - corner, axis=1).min() < 2.0 * pixel_footprint


def test_same_seed_is_bit_identical_and_different_seed_differs():
    first, again, other = render_scene(7, SMALL), render_scene(7, SMALL), render_scene(8, SMALL)
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.depth, again.depth)
    assert np.array_equal(first.pose, again.pose)
    assert not np.array_equal(first.depth, other.depth) and not np.array_equal(first.rgb, other.rgb)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_scene_depth_and_colour_are_plausible(seed):
    frame = render_scene(seed, SMALL)
    assert frame.rgb.shape == (*SMALL, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == SMALL and frame.depth.dtype == np.float32
    assert np.all(frame.depth > 0) and np.all(np.isfinite(frame.depth))  # closed room: no holes
    assert np.mean((frame.depth >= 0.5) & (frame.depth <= 10.0)) > 0.95
    assert np.ptp(frame.depth) > 0.5
    assert 40 < frame.rgb.mean() < 225 and frame.rgb.std() > 15
    rotation = frame.pose[:3, :3]
    assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rotation), 1.0)
    assert abs(rotation[2, 2]) < math.sin(math.radians(31))  # optical axis within the profiles' pitch ranges
    assert 0.35 <= frame.pose[2, 3] <= 1.75  # a robot's or a hand's height
    assert frame.meta["camera_height_m"] == pytest.approx(frame.pose[2, 3], abs=1e-4)
    assert 55.0 <= frame.meta["fov_deg"] <= 80.0


def test_default_intrinsics_are_nyu_scaled_and_fov_is_honoured():
    K = intrinsics_for((480, 640))
    assert K[0, 0] == pytest.approx(518.8) and K[1, 1] == pytest.approx(519.5)
    assert intrinsics_for((240, 320))[0, 0] == pytest.approx(518.8 / 2)
    K60 = intrinsics_for((60, 80), fov_deg=60)
    assert math.degrees(2 * math.atan(40 / K60[0, 0])) == pytest.approx(60)
    assert render_scene(0, SMALL, fov_deg=90).intrinsics[0, 0] == pytest.approx(40.0)


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_still_cameras_stay_clear_of_walls_and_objects(seed):
    rng = np.random.default_rng(seed)
    scene = build_room(rng)
    assert any(obj.obstacle for obj in scene.objects)
    pose = sample_camera(scene, rng)
    assert scene.clearance(pose[0, 3], pose[1, 3]) >= 0.4


def test_video_poses_are_smooth_collision_free_and_consistent_with_depth():
    frames_count, size = 10, (48, 64)
    frames = render_video(3, frames_count, size)
    poses = np.stack([f.pose for f in frames])
    rng = np.random.default_rng(3)
    scene = video_room(rng)
    assert np.allclose(poses, np.stack(camera_path(scene, rng, frames_count)))  # documented construction
    assert min(scene.clearance(p[0, 3], p[1, 3]) for p in poses) >= 0.35

    positions = poses[:, :3, 3]
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert 0.005 < steps.min() and steps.max() < 0.12  # it moves, at walking pace
    assert np.linalg.norm(np.diff(positions, n=2, axis=0), axis=1).max() < 0.02
    relative = np.einsum("nji,njk->nik", poses[:-1, :3, :3], poses[1:, :3, :3])
    angles = np.degrees(np.arccos(np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angles.max() < 5.0
    assert np.abs(np.diff(angles)).max() < 1.5

    # The room is fixed: points of frame t seen from frame t+1 have the depth frame t+1 measured.
    for a, b in zip(frames[:-1], frames[1:]):
        points, _ = _backproject_world(a)
        in_b = (points - b.pose[:3, 3]) @ b.pose[:3, :3]
        uvw = in_b @ b.intrinsics.T
        u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
        inside = (in_b[:, 2] > 0.1) & (u >= 0) & (u <= size[1] - 1.001) & (v >= 0) & (v <= size[0] - 1.001)
        u, v, z = u[inside], v[inside], in_b[inside, 2]
        u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
        fu, fv = u - u0, v - v0
        sampled = ((1 - fu) * (1 - fv) * b.depth[v0, u0] + fu * (1 - fv) * b.depth[v0, u0 + 1]
                   + (1 - fu) * fv * b.depth[v0 + 1, u0] + fu * fv * b.depth[v0 + 1, u0 + 1])  # bilinear
        assert inside.mean() > 0.7 and np.median(np.abs(sampled - z)) < 2e-3


def test_textures_vary_over_space_and_reject_unknown_kinds():
    points = np.stack([np.linspace(0, 2, 50), np.zeros(50), np.zeros(50)], axis=1)
    normals = np.tile([0.0, 0.0, 1.0], (50, 1))
    for kind in ("checker", "stripes", "wood", "mottled"):
        colours = albedo(Material(kind, (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), 0.25), points, normals)
        assert colours.shape == (50, 3) and colours.std(axis=0).max() > 0.05, kind
    with pytest.raises(ValueError, match="texture kind"):
        Material("marble")


def test_size_parsing_errors_are_clear():
    assert parse_size("240x320") == (240, 320)
    for bad in ("240", "240x", "0x10", "axb", "10x99999"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)


def test_cli_writes_a_dataset_that_reads_back(tmp_path):
    out = tmp_path / "scenes"
    assert scenes_cli(["--out", str(out), "--count", "2", "--size", "24x32", "--seed", "5"]) == 0
    items = read_rgbd_folder(out)
    assert [name for name, *_ in items] == ["scene_00000", "scene_00001"]
    # Each still drew its own field of view: no shared intrinsics.json, each frame's K in poses.json.
    assert not (out / "intrinsics.json").exists()
    assert items[0][3][0, 0] != pytest.approx(items[1][3][0, 0])
    names, poses = read_poses(out)
    for index, (_name, rgb, depth, K) in enumerate(items):
        expected = render_scene(scene_seed(5, index), (24, 32))
        assert np.array_equal(rgb, expected.rgb)
        assert np.abs(depth - expected.depth).max() <= 0.5e-3 + 1e-6  # 16-bit millimetres
        assert np.allclose(K, expected.intrinsics) and np.allclose(poses[index], expected.pose)
    assert names == ["scene_00000", "scene_00001"]
    # With --fov every frame shares one camera, and intrinsics.json says so.
    fixed = tmp_path / "fixed"
    assert scenes_cli(["--out", str(fixed), "--count", "2", "--size", "24x32", "--seed", "5", "--fov", "60"]) == 0
    intrinsics = json.loads((fixed / "intrinsics.json").read_text())
    assert (intrinsics["width"], intrinsics["height"]) == (32, 24) and intrinsics["fx"] == pytest.approx(16 / math.tan(math.radians(30)))


def test_cli_writes_a_video_with_poses_and_mp4(tmp_path):
    import cv2

    out = tmp_path / "walk"
    assert scenes_cli(["--out", str(out), "--video", "--frames", "4", "--size", "24x32", "--seed", "2"]) == 0
    names, poses = read_poses(out)
    assert names == [f"frame_{i:05d}" for i in range(4)] and poses.shape == (4, 4, 4)
    assert len(read_rgbd_folder(out)) == 4
    capture = cv2.VideoCapture(str(out / "video.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (24, 32, 3)


def test_cli_replaces_its_own_earlier_output_and_refuses_other_folders(tmp_path, capsys):
    out = tmp_path / "scenes"
    assert scenes_cli(["--out", str(out), "--count", "3", "--size", "24x32"]) == 0
    assert scenes_cli(["--out", str(out), "--world", "outdoor", "--count", "1", "--size", "24x32", "--fov", "60"]) == 0
    assert [name for name, *_ in read_rgbd_folder(out)] == ["scene_00000"]  # no stale room outlives the new set
    assert sorted(p.name for p in (out / "rgb").iterdir()) == ["scene_00000.png"] and (out / "intrinsics.json").is_file()
    assert scenes_cli(["--out", str(out), "--count", "2", "--size", "24x32"]) == 0
    assert not (out / "intrinsics.json").exists()  # the earlier set's shared camera is not left behind
    (out / "rgb" / "holiday.png").write_bytes(b"mine")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for folder, named in ((out, "rgb/holiday.png"), (mine, "notes.txt")):
        assert scenes_cli(["--out", str(folder), "--count", "1", "--size", "24x32"]) == 2
        message = capsys.readouterr().err
        assert f"not an earlier output of this command ({named})" in message and str(tmp_path) not in message
    assert (out / "rgb" / "holiday.png").read_bytes() == b"mine" and (mine / "notes.txt").read_text() == "mine"


def test_help_says_when_intrinsics_json_is_written():
    text = " ".join(build_parser().format_help().split())
    assert "intrinsics.json when every frame shares one camera" in text and "256 units per metre" in text


def test_cli_rejects_bad_arguments_with_exit_code_2(tmp_path, capsys):
    assert scenes_cli(["--out", str(tmp_path), "--size", "240by320"]) == 2
    assert "HEIGHTxWIDTH" in capsys.readouterr().err
    assert scenes_cli(["--out", str(tmp_path), "--count", "0"]) == 2
    result = subprocess.run([sys.executable, "-m", "scenes", "--out", str(tmp_path), "--size", "3x4"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "size" in result.stderr


def _crowded_room() -> Scene:
    """A 3 x 3 m room whose floor is one obstacle from wall to wall: no camera position is free."""
    room = (0.0, 0.0, 0.0, 3.0, 3.0, 2.5)
    furniture = SceneObject("wall-to-wall crate", box((1.5, 1.5, 0.5), (3.0, 3.0, 1.0)), Material("wood"), obstacle=True)
    return Scene([furniture], [Light("directional", (0.7, 0.7, 0.7))], room=room)


def test_a_room_without_free_floor_has_no_camera_viewpoint():
    room = _crowded_room()
    assert max(room.clearance(x, y) for x in np.linspace(0, 3, 13) for y in np.linspace(0, 3, 13)) == 0.0
    with pytest.raises(RuntimeError, match="no free camera position"):
        sample_camera(room, np.random.default_rng(0))


def _first_room_crowded(monkeypatch, rooms: list) -> None:
    """render_scene's first room is the crowded one; later rooms come from the real generator.
    Every room it gets is appended to `rooms`."""
    import scenes.generate

    calls = []

    def build(rng, *args, **kwargs):
        calls.append(1)
        room = _crowded_room() if len(calls) == 1 else build_room(rng, *args, **kwargs)
        rooms.append(room)
        return room

    monkeypatch.setattr(scenes.generate, "build_room", build)


def test_a_crowded_room_without_a_free_viewpoint_falls_back_to_another_room_deterministically(monkeypatch):
    seed, size = 42, (30, 40)
    rooms: list = []
    _first_room_crowded(monkeypatch, rooms)
    fallback = render_scene(seed, size, sensor=None)  # the clean render, to compare with render_view's
    assert len(rooms) == 2 and rooms[0].objects[0].name == "wall-to-wall crate"
    # Documented: another room is drawn from the same generator, so the frame depends on the seed alone.
    rng = np.random.default_rng(seed)
    with pytest.raises(RuntimeError):
        sample_camera(_crowded_room(), rng)  # the failed search uses up its draws
    room = build_room(rng)
    expected = render_view(room, fallback.intrinsics, sample_camera(room, rng), size)
    np.testing.assert_array_equal(fallback.depth, expected.depth)
    np.testing.assert_array_equal(fallback.rgb, expected.rgb)
    np.testing.assert_array_equal(fallback.pose, expected.pose)
    _first_room_crowded(monkeypatch, rooms)
    again = render_scene(seed, size, sensor=None)
    np.testing.assert_array_equal(again.depth, fallback.depth)
    np.testing.assert_array_equal(again.rgb, fallback.rgb)
    # It really is another room: the seed's own first room gives a different frame.
    monkeypatch.undo()
    assert not np.array_equal(render_scene(seed, size).depth, fallback.depth)


def test_only_crowded_rooms_give_a_clear_error(monkeypatch):
    import scenes.generate

    monkeypatch.setattr(scenes.generate, "build_room", lambda rng, *args, **kwargs: _crowded_room())
    with pytest.raises(RuntimeError, match=rf"seed 3: no free camera position in {scenes.generate.ROOM_ATTEMPTS} rooms"):
        render_scene(3, (30, 40))


def test_stills_carry_camera_effects_on_colour_only_and_record_them():
    shot, clean = render_scene(4, SMALL), render_scene(4, SMALL, sensor=None)
    np.testing.assert_array_equal(shot.depth, clean.depth)  # the camera never changes the geometry
    np.testing.assert_array_equal(shot.pose, clean.pose)
    assert shot.meta["fov_deg"] == clean.meta["fov_deg"]  # its own stream: the field of view stays put
    assert "sensor" in shot.meta and "sensor" not in clean.meta
    assert not np.array_equal(shot.rgb, clean.rgb)
    json.dumps(shot.meta)  # stored in poses.json as it is
