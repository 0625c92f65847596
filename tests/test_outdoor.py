"""Outdoor scenes: catalogue sizes in the meshes, sky where rays miss, sun shadows, street-level
cameras and paths, analytic ground depth, determinism."""
from __future__ import annotations

import math

import numpy as np
import pytest

from common.camera import intrinsics_for
from scenes.camera import look_at, pose_from_angles
from scenes.catalog import kind
from scenes.generate import render_scene, scene_seed
from scenes.geometry import SceneObject, box, quad
from scenes.outdoor import (
    OUTDOOR_MAX_DEPTH,
    OutdoorViewConfig,
    build_outdoor,
    outdoor_path,
    sample_outdoor_camera,
)
from scenes.render import depth_with_sky_at, render_view, sky_mask
from scenes.scene import Light, Scene, Sky
from scenes.textures import Material

SMALL = (48, 64)
CATALOGUED = {"car": "car", "van": "van", "person": "person", "tree": "tree", "building": "building",
              "street light": "street_light", "bench": "bench", "bin": "bin", "window": "window", "door": "door"}


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [build_outdoor(np.random.default_rng(seed)) for seed in range(3)]


def _srgb8(linear) -> np.ndarray:
    return (np.clip(np.asarray(linear, dtype=float), 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(int)


def _surface_below(scene: Scene, obj: SceneObject) -> float:
    """Height of the highest flat surface under the object's base that it stands on (0: ground)."""
    vertices = obj.mesh.vertices
    bottom = vertices[:, 2].min()
    cx, cy = vertices[vertices[:, 2] < bottom + 1e-6, :2].mean(axis=0)
    tops = [s.mesh.top for s in scene.objects if s.name in ("road", "pavement", "grass")
            and s.mesh.footprint()[0] <= cx <= s.mesh.footprint()[2] and s.mesh.footprint()[1] <= cy <= s.mesh.footprint()[3]
            and s.mesh.top <= bottom + 1e-6]
    return max(tops, default=0.0)


def _own_extents(vertices: np.ndarray) -> tuple[float, float]:
    """Sorted horizontal extents in the frame where the footprint is smallest (a box's own axes)."""
    def extents(degrees: np.ndarray) -> np.ndarray:
        angles = np.radians(degrees)[:, None]
        u = vertices[:, 0] * np.cos(angles) + vertices[:, 1] * np.sin(angles)
        v = -vertices[:, 0] * np.sin(angles) + vertices[:, 1] * np.cos(angles)
        return np.stack([np.ptp(u, axis=1), np.ptp(v, axis=1)], axis=1)

    coarse = np.arange(0.0, 90.0, 0.25)
    best = coarse[np.argmin(extents(coarse).prod(axis=1))]
    fine = best + np.arange(-0.25, 0.25, 0.002)  # refine: long objects need the angle closely
    found = extents(fine)
    return tuple(sorted(found[np.argmin(found.prod(axis=1))]))


def test_drawn_sizes_are_in_the_catalogue_ranges_and_are_the_mesh_sizes(scenes):
    seen = set()
    for scene in scenes:
        for obj in scene.objects:
            if obj.name not in CATALOGUED or obj.size is None:
                continue
            seen.add(obj.name)
            entry = kind(CATALOGUED[obj.name])
            width, depth, height = obj.size
            for value, dim in ((width, entry.width), (depth, entry.depth), (height, entry.height)):
                assert dim.low <= value <= dim.high, (obj.name, obj.size)
            if obj.name in ("window", "door"):
                continue  # panes repeat over a facade; their size is one pane's
            # the mesh rises exactly the drawn height above the surface the object stands on
            assert obj.mesh.top - _surface_below(scene, obj) == pytest.approx(height, abs=1e-6), obj.name
            if obj.name == "tree":  # crowns are not turned: depth along x, width along y
                x0, y0, x1, y1 = obj.mesh.footprint()
                assert (x1 - x0, y1 - y0) == pytest.approx((depth, width), abs=1e-6)
            elif obj.name == "street light":  # the arm reaches out; the column is the catalogued width
                ring = obj.mesh.vertices[obj.mesh.vertices[:, 2] < obj.mesh.vertices[:, 2].min() + 1e-6]
                radius = np.linalg.norm(ring[:, :2] - ring[:, :2].mean(axis=0), axis=1)
                assert radius.max() == pytest.approx(width / 2, abs=1e-6)
            else:
                assert _own_extents(obj.mesh.vertices) == pytest.approx(tuple(sorted((width, depth))), abs=2e-3), obj.name
    assert {"car", "person", "tree", "building", "street light", "window", "door"} <= seen


def test_buildings_are_whole_storeys_and_objects_do_not_overlap_on_the_ground(scenes):
    storey = kind("storey").height
    for scene in scenes:
        buildings = [o for o in scene.objects if o.name == "building"]
        assert len(buildings) >= 6
        for obj in buildings:
            height = obj.size[2]
            counts = [n for n in range(1, 9) if storey.low * n - 1e-9 <= height <= storey.high * n + 1e-9]
            assert counts, height
        # What stands on the ground up to 2 m (a street light's arm reaches over the road above it).
        standing = []
        for obj in (o for o in scene.objects if o.obstacle):
            low = obj.mesh.vertices[obj.mesh.vertices[:, 2] < obj.mesh.vertices[:, 2].min() + 2.0]
            standing.append((*low[:, :2].min(axis=0), *low[:, :2].max(axis=0)))
        for i, a in enumerate(standing):
            for b in standing[i + 1:]:
                overlap_x = min(a[2], b[2]) - max(a[0], b[0])
                overlap_y = min(a[3], b[3]) - max(a[1], b[1])
                assert overlap_x <= 1e-6 or overlap_y <= 1e-6, (a, b)


def _ground_and_box_scene(shadows: bool, sky: Sky | None = None) -> tuple[Scene, Light]:
    ground = quad(np.array([[-10, -10, 0], [10, -10, 0], [10, 10, 0], [-10, 10, 0]], dtype=float))
    elevation, azimuth = math.radians(40.0), math.radians(30.0)
    sun = Light("directional", (0.9, 0.9, 0.9), direction=(-math.cos(elevation) * math.cos(azimuth),
                                                         -math.cos(elevation) * math.sin(azimuth), -math.sin(elevation)), shadows=shadows)
    grey = Material("plain", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    objects = [SceneObject("ground", ground, grey, obstacle=False), SceneObject("box", box((0, 0, 1.0), (1.0, 1.0, 2.0)), grey)]
    return Scene(objects, [sun], ambient=0.2, sky=sky, kind="outdoor"), sun


def _in_shadow(points: np.ndarray, to_sun: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Slab test: does the ray from each point towards the sun pass through the box [lo, hi]?"""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - points) / to_sun, (hi - points) / to_sun
    near = np.minimum(t1, t2).max(axis=1)
    far = np.maximum(t1, t2).min(axis=1)
    return (far >= np.maximum(near, 0.0)) & (far > 0)


def test_the_sun_casts_a_shadow_only_when_its_shadows_are_on():
    size = (90, 120)
    K = intrinsics_for(size, fov_deg=80)
    pose = look_at(np.array([-1.5, -5.0, 4.0]), np.array([-1.2, -0.8, 0.0]))  # the shadow side of the box
    frames, sun = {}, None
    for shadows in (True, False):
        scene, sun = _ground_and_box_scene(shadows)
        frames[shadows] = render_view(scene, K, pose, size)
    frame = frames[True]
    ground = frame.object_ids == 0
    v, u = np.nonzero(ground)
    rays = np.stack([u, v, np.ones_like(u)], axis=1).astype(float) @ np.linalg.inv(K).T
    points = rays * frame.depth[v, u, None] @ pose[:3, :3].T + pose[:3, 3]
    to_sun = -np.asarray(sun.direction) / np.linalg.norm(sun.direction)
    shadowed = _in_shadow(points, to_sun, np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 2.0]))
    assert 0.03 < shadowed.mean() < 0.6  # the shadow is in view, and so is lit ground
    # Known answers: lit ground gets ambient + sun x sin(elevation), shadowed ground ambient only.
    lit_value = _srgb8(0.5 * (0.2 + 0.9 * to_sun[2]))
    shadow_value = _srgb8(0.5 * 0.2)
    grey = frame.rgb[v, u, 1].astype(int)
    assert np.mean(np.abs(grey[shadowed] - shadow_value) <= 1) > 0.97
    assert np.mean(np.abs(grey[~shadowed] - lit_value) <= 1) > 0.97
    no_shadows = frames[False].rgb[v, u, 1].astype(int)
    assert np.all(np.abs(no_shadows - lit_value) <= 1)  # without shadows the same ground is all lit
    assert np.array_equal(frames[True].depth, frames[False].depth)


def test_sky_pixels_are_exactly_the_misses_and_have_the_sky_colours():
    zenith, horizon = (0.1, 0.25, 0.7), (0.6, 0.7, 0.85)
    sky = Sky(zenith, horizon, sun_glow=0.0, cloud_cover=0.0)
    scene, _ = _ground_and_box_scene(True, sky)
    size = (60, 80)
    K = intrinsics_for(size, fov_deg=70)
    level = render_view(scene, K, pose_from_angles((0.0, -6.0, 1.5), math.pi / 2, 0.0), size)
    misses = level.depth == 0
    assert 0.2 < misses.mean() < 0.7
    assert np.array_equal(misses, level.object_ids == -1) and np.array_equal(sky_mask(level), misses)
    # Rays below the horizon that pass the ground's far edge see the horizon colour (haze); a ray
    # almost straight up sees the zenith colour.
    rows = np.arange(size[0])[:, None] > K[1, 2]
    beyond = misses & rows
    assert beyond.sum() >= size[1]
    assert np.all(np.abs(level.rgb[beyond].astype(int) - _srgb8(horizon)) <= 1)
    up = render_view(scene, K, pose_from_angles((0.0, -6.0, 1.5), 0.0, math.radians(89.0)), size)
    centre = up.rgb[size[0] // 2, size[1] // 2].astype(int)
    assert np.all(np.abs(centre - _srgb8(zenith)) <= 6)
    assert np.all(up.depth == 0)
    sky_rgb = level.rgb[misses].astype(int)
    assert np.all(sky_rgb[:, 2] > sky_rgb[:, 0]) and sky_rgb.min() > 60  # blue and bright, not black
    # Without a sky (rooms) misses stay black, as before.
    scene.sky, scene.raycaster = None, None
    assert np.all(render_view(scene, K, pose_from_angles((0.0, -6.0, 1.5), math.pi / 2, 0.0), size).rgb[misses] == 0)


def render_outdoor(seed: int):
    """A clean outdoor still at the tests' small size."""
    return render_scene(seed, SMALL, sensor=None, world="outdoor")


def test_depth_with_sky_at_the_cap_and_the_mask_of_frames_read_back():
    frame = render_outdoor(3)
    sky = sky_mask(frame)
    assert sky.any() and np.array_equal(sky, frame.depth == 0)
    capped = depth_with_sky_at(frame, OUTDOOR_MAX_DEPTH)
    assert np.all(capped[sky] == OUTDOOR_MAX_DEPTH) and np.array_equal(capped[~sky], frame.depth[~sky])
    frame.object_ids = None  # as read from a scene folder: depth 0 marks the same pixels
    assert np.array_equal(sky_mask(frame), sky)
    with pytest.raises(ValueError, match="positive"):
        depth_with_sky_at(frame, 0.0)


def test_generated_views_show_a_bright_sky_and_street_depths():
    for seed in (0, 1, 2):
        frame = render_outdoor(seed)
        sky = frame.depth == 0
        assert np.array_equal(sky, frame.object_ids == -1)
        assert 0.0 < sky.mean() <= 0.6
        assert frame.rgb[sky].mean() > 90  # daylight, not black
        depth = frame.depth[~sky]
        assert depth.min() > 0.2 and np.median(depth) > 3.0
        assert np.mean(depth <= OUTDOOR_MAX_DEPTH) > 0.8


def test_ground_plane_depth_matches_the_analytic_value():
    # A camera h metres above an infinite plane, pitched down by a: the ray through image row v has
    # camera-frame direction (x_n, y_n, 1) with y_n = (v - cy) / fy; its world height changes by
    # -(sin a + y_n cos a) per unit of z-depth, so it meets the plane at z-depth h / (sin a + y_n cos a).
    h, pitch_down = 1.63, math.radians(9.0)
    plane = quad(np.array([[-1e4, -1e4, 0], [1e4, -1e4, 0], [1e4, 1e4, 0], [-1e4, 1e4, 0]], dtype=float))
    scene = Scene([SceneObject("ground", plane, Material(), obstacle=False)], [], sky=Sky(), kind="outdoor")
    size = (60, 80)
    K = intrinsics_for(size, fov_deg=75)
    frame = render_view(scene, K, pose_from_angles((3.0, -2.0, h), 0.7, -pitch_down), size)
    y_n = (np.arange(size[0]) - K[1, 2]) / K[1, 1]
    slope = math.sin(pitch_down) + y_n * math.cos(pitch_down)
    hits = slope > 1e-3
    expected = np.where(hits, h / np.where(hits, slope, 1.0), 0.0)
    assert hits.any() and not hits.all()  # both ground and sky rows
    near = hits & (expected < 200.0)  # float32 ray casting loses precision at grazing angles
    assert np.allclose(frame.depth[near], expected[near, None], rtol=1e-4)
    assert np.all(frame.depth[~hits] == 0)


@pytest.mark.parametrize("mode", ["handheld", "car", "robot"])
def test_outdoor_cameras_stand_above_their_surface_clear_of_obstacles(scenes, mode):
    config = OutdoorViewConfig()
    heights = {"handheld": config.handheld_height, "car": config.car_height, "robot": config.robot_height}[mode]
    surfaces = {"handheld": ("pavement", "grass"), "car": ("road",), "robot": ("pavement", "road", "grass")}[mode]
    rng = np.random.default_rng(5)
    for scene in scenes:
        for _ in range(3):
            pose = sample_outdoor_camera(scene, rng, mode=mode)
            x, y, z = pose[:3, 3]
            under = [s.mesh.top for s in scene.objects if s.name in surfaces
                     and s.mesh.footprint()[0] <= x <= s.mesh.footprint()[2] and s.mesh.footprint()[1] <= y <= s.mesh.footprint()[3]]
            assert under and any(heights[0] - 1e-9 <= z - top <= heights[1] + 1e-9 for top in under)
            assert scene.clearance(x, y) >= config.clearance
            forward, right = pose[:3, 2], pose[:3, 0]
            assert -15.0 - 1e-6 <= math.degrees(math.asin(forward[2])) <= 5.0 + 1e-6
            assert abs(math.degrees(math.asin(right[2]))) <= 3.0 + 1e-6


def test_outdoor_paths_are_smooth_clear_and_follow_the_street(scenes):
    for drive in (False, True):
        poses = outdoor_path(scenes[0], np.random.default_rng(2), 24, drive=drive)
        assert len(poses) == 24
        eyes = np.array([p[:3, 3] for p in poses])
        steps = np.linalg.norm(np.diff(eyes[:, :2], axis=0), axis=1)
        assert np.allclose(steps, steps[0], rtol=1e-6) and (0.6 <= steps[0] <= 1.1 if drive else steps[0] == pytest.approx(0.14))
        assert np.ptp(eyes[:, 1]) < 1e-6  # along the road (x), not across it
        assert all(scenes[0].clearance(x, y) >= (1.2 if drive else 0.5) for x, y, _ in eyes)
        turn = [math.degrees(math.acos(np.clip(a[:3, 2] @ b[:3, 2], -1, 1))) for a, b in zip(poses, poses[1:])]
        assert max(turn) < 2.0


def test_same_seed_same_scene_and_frame_other_seed_differs():
    first, again, other = render_outdoor(11), render_outdoor(11), render_outdoor(12)
    assert np.array_equal(first.rgb, again.rgb) and np.array_equal(first.depth, again.depth)
    assert np.array_equal(first.pose, again.pose)
    assert not np.array_equal(first.depth, other.depth)
    a, b = build_outdoor(np.random.default_rng(4)), build_outdoor(np.random.default_rng(4))
    assert [o.name for o in a.objects] == [o.name for o in b.objects]
    assert all(np.array_equal(x.mesh.vertices, y.mesh.vertices) for x, y in zip(a.objects, b.objects))
    assert a.sky == b.sky and a.lights == b.lights


def test_the_outdoor_split_keeps_depth_beyond_65_m_and_states_its_units_and_cap(tmp_path):
    import subprocess
    import sys

    from common.scene_folder import folder_depth_cap, folder_depth_scale, read_rgbd_folder, write_poses, write_rgbd_frame
    from scenes.__main__ import main as scenes_cli

    out = tmp_path / "streets"
    assert scenes_cli(["--out", str(out), "--world", "outdoor", "--count", "2", "--size", "48x64", "--seed", "3"]) == 0
    assert folder_depth_scale(out) == 256.0 and folder_depth_cap(out) == OUTDOOR_MAX_DEPTH
    for index, (_name, _rgb, depth, _K) in enumerate(read_rgbd_folder(out)):
        truth = render_scene(scene_seed(3, index), (48, 64), world="outdoor").depth
        assert np.abs(depth - np.minimum(truth, 65535 / 256)).max() <= 0.5 / 256 + 1e-6  # 3.9 mm steps, 256 m limit
        assert np.array_equal(depth == 0, truth == 0)  # the sky stays "no depth"
    # Every other reader of a scene folder applies the folder's scale too.
    from analysis.ablation import read_inputs
    from mirror_model.cached_training import load_frames
    from mirror_model.probes import read_depth_folder

    expected = np.stack([depth for _, _, depth, _ in read_rgbd_folder(out)])
    np.testing.assert_array_equal(load_frames(out, (48, 64))[1], expected)
    np.testing.assert_array_equal(read_depth_folder(out, 2)[1], expected)
    np.testing.assert_array_equal(np.stack(read_inputs(out)[2]), expected)
    # A car 75 m away survives the round trip (millimetre PNGs would clip it at 65.5 m).
    far = tmp_path / "far"
    write_rgbd_frame(far, "f", np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 75.0, np.float32), depth_scale=256.0)
    write_poses(far, "scenes", [{"name": "f", "pose": np.eye(4).tolist()}], depth_png_scale=256.0)
    assert read_rgbd_folder(far)[0][2] == pytest.approx(np.full((8, 8), 75.0), abs=0.002)
    result = subprocess.run([sys.executable, "-m", "scenes", "--out", str(tmp_path / "x"), "--world", "moon"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "world" in result.stderr
