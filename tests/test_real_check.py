"""The real-data check: depth from disparity, the bundled real scenes, rank correlation, the baselines
and the command line, on known answers."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from common import real_rgbd
from common.depth_metrics import average_ranks, spearman_rank_correlation
from common.validate import ImageTooLargeError
from mirror_model import real_check

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "examples" / "real"
HAS_SKIMAGE = importlib.util.find_spec("skimage") is not None


# ---------------------------------------------------------------- depth from disparity

def test_depth_from_disparity_known_values_and_invalid_pixels_masked():
    # f * B = 1000 px * 0.1 m = 100 px m; doffs 10 px: d = 40 -> 2 m, d = 90 -> 1 m, d = 190 -> 0.5 m.
    disparity = np.array([[40.0, 90.0, 190.0], [np.inf, np.nan, 0.0], [-5.0, 40.0, -20.0]])
    depth, valid = real_rgbd.depth_from_disparity(disparity, focal_px=1000.0, baseline_m=0.1, doffs_px=10.0)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth[0], [2.0, 1.0, 0.5], rtol=1e-6)
    assert valid.tolist() == [[True, True, True], [False, False, False], [False, True, False]]
    assert np.all(depth[~valid] == 0)
    with pytest.raises(ValueError, match="positive"):
        real_rgbd.depth_from_disparity(disparity, focal_px=0.0, baseline_m=0.1)


def _scene(depth: np.ndarray | None = None, disparity: np.ndarray | None = None, K=None, name="toy") -> real_rgbd.RealScene:
    ref = depth if depth is not None else disparity
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (*ref.shape, 3), dtype=np.uint8)
    valid = (ref > 0) & np.isfinite(ref)
    return real_rgbd.RealScene(name, rgb, depth, disparity, valid, K, "constructed", "none")


def test_bundled_layout_round_trip(tmp_path):
    """Written with write_bundled_scenes, read with load_bundled_scenes: depth to the millimetre,
    disparity to 1/256 px, the same pixels unknown, K and provenance kept."""
    depth = np.linspace(1.0, 4.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    depth[3, 4] = 0.0
    disparity = np.linspace(5.0, 60.0, 20 * 16, dtype=np.float32).reshape(20, 16)
    disparity[0, :3] = 0.0
    K = np.array([[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]])
    real_rgbd.write_bundled_scenes([_scene(depth=depth, K=K, name="room"), _scene(disparity=disparity, name="plant")], tmp_path)
    scenes = {s.name: s for s in real_rgbd.load_bundled_scenes(tmp_path)}
    room, plant = scenes["room"], scenes["plant"]
    assert room.metric and not plant.metric
    assert np.abs(room.depth_m - depth).max() <= 0.0005 + 1e-6
    assert room.valid.sum() == depth.size - 1 and not room.valid[3, 4]
    np.testing.assert_allclose(room.K, K)
    assert np.abs(plant.disparity_px - disparity).max() <= 0.5 / 256 + 1e-6
    assert not plant.valid[0, :3].any() and plant.valid[1:].all()
    assert plant.K is None and plant.source == "constructed"


def test_downscale_averages_inverse_depth_and_drops_partly_known_blocks():
    depth = np.zeros((16, 26), dtype=np.float32)
    depth[:, 0:8] = np.where(np.arange(8) % 2 == 0, 1.0, 2.0)  # depths 1 and 2 in equal shares
    depth[:, 8:16] = 3.0
    depth[[2, 12], 9] = 0.0  # one unknown pixel in each block of these columns
    depth[:, 16:] = 9.0
    K = np.array([[100.0, 0, 12.5], [0, 100.0, 7.5], [0, 0, 1]])
    small = real_rgbd.downscale_scene(_scene(depth=depth, K=K), 8)
    assert small.size == (2, 3)  # the last 2 columns are dropped
    np.testing.assert_allclose(small.depth_m[:, 0], 4.0 / 3.0, rtol=1e-6)  # 1 / mean(1/1, 1/2)
    assert not small.valid[:, 1].any() and np.all(small.depth_m[:, 1] == 0)
    np.testing.assert_allclose(small.depth_m[:, 2], 9.0, rtol=1e-6)
    np.testing.assert_allclose(small.K[0], [100.0 / 8, 0, (12.5 + 0.5) / 8 - 0.5])
    np.testing.assert_allclose(small.K[1], [0, 100.0 / 8, (7.5 + 0.5) / 8 - 0.5])
    disparity_scene = _scene(disparity=np.full((16, 16), 24.0, dtype=np.float32))
    assert np.all(real_rgbd.downscale_scene(disparity_scene, 2).disparity_px == 12.0)  # pixels of the smaller image


def test_npz_size_is_checked_from_the_header_before_reading(tmp_path):
    path = tmp_path / "disp.npz"
    np.savez(path, arr_0=np.ones((200, 300), dtype=np.float32))
    with pytest.raises(ImageTooLargeError, match="300x200"):
        real_rgbd.read_npz_array(path, "arr_0", max_pixels=1000)
    assert real_rgbd.read_npz_array(path, "arr_0", max_pixels=60_000).shape == (200, 300)
    with pytest.raises(ValueError, match="no array"):
        real_rgbd.read_npz_array(path, "depth")


def test_missing_scikit_image_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # what an absent package looks like to import
    with pytest.raises(ImportError, match="pip install scikit-image"):
        real_rgbd.load_motorcycle()
    scenes, missing = real_rgbd.load_package_scenes(opencv_samples=None)
    assert scenes == [] and "pip install scikit-image" in missing[0]


# ---------------------------------------------------------------- Spearman

def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]).tolist() == [3.0, 1.0, 2.0]


def test_spearman_known_answers():
    # A classic textbook pair without ties (IQ against hours of television): rho = 1 - 6*194/(10*99) = -29/165.
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    assert spearman_rank_correlation(iq, tv) == pytest.approx(-29 / 165, abs=1e-12)
    # With ties: ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4) -> 4.5 / sqrt(4.5 * 5).
    assert spearman_rank_correlation([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5), abs=1e-12)
    x = np.array([0.5, 1.0, 4.0, 9.0])
    assert spearman_rank_correlation(x, np.exp(x)) == pytest.approx(1.0)  # any increasing map
    assert spearman_rank_correlation(x, -x**3) == pytest.approx(-1.0)
    assert math.isnan(spearman_rank_correlation(x, np.ones(4)))  # a constant has no order
    with pytest.raises(ValueError, match="equally many"):
        spearman_rank_correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        spearman_rank_correlation([1, np.nan, 3], [1, 2, 3])


# ---------------------------------------------------------------- baselines and scores

def test_row_prior_orders_a_ground_plane_perfectly_and_the_constant_has_no_order():
    """A level camera over a floor sees depth Z = f h / (row - horizon) below the horizon: lower is
    nearer, so the row prior's Spearman is exactly 1, whatever its own shape."""
    height, width, f, camera_height, horizon = 48, 64, 60.0, 1.5, -10.0
    rows = np.arange(height, dtype=np.float64)[:, None]
    ground = np.repeat(f * camera_height / (rows - horizon), width, axis=1).astype(np.float32)
    scene = _scene(depth=ground)
    prior = real_check.score_depth(real_check.row_prior_depth((height, width)), scene)
    assert prior["spearman"] == pytest.approx(1.0)
    upside_down = real_check.score_depth(real_check.row_prior_depth((height, width))[::-1], scene)
    assert upside_down["spearman"] == pytest.approx(-1.0)
    constant = real_check.score_depth(real_check.constant_depth((height, width)), scene)
    assert math.isnan(constant["spearman"])
    median = np.median(ground)
    assert constant["abs_rel"] == pytest.approx(np.mean(np.abs(median - ground) / ground), rel=1e-6)
    assert real_check.score_depth(ground * 7.0, scene)["abs_rel"] == pytest.approx(0.0, abs=1e-6)  # median scaling


def test_rank_only_scene_scores_the_depth_order_for_any_calibration():
    disparity = np.random.default_rng(1).uniform(5.0, 80.0, (16, 20)).astype(np.float32)
    scene = _scene(disparity=disparity)
    depth_some_calibration = 0.3 * 900.0 / (disparity + 37.0)  # f B / (d + doffs), doffs unknown to the scene
    scores = real_check.score_depth(depth_some_calibration, scene)
    assert scores["spearman"] == pytest.approx(1.0)
    assert math.isnan(scores["abs_rel"]) and math.isnan(scores["d1"])


def test_verdict_in_plain_words():
    means = {"m": {"spearman": 0.5, "abs_rel": 0.1, "d1": 0.9},
             real_check.ROW_PRIOR: {"spearman": 0.6, "abs_rel": 0.2, "d1": 0.7},
             real_check.CONSTANT: {"spearman": math.nan, "abs_rel": 0.15, "d1": 0.8}}
    result = real_check.verdict("m", means)
    assert result["beats_row_prior_spearman"] is False and result["abs_rel_below_baselines"] is True
    assert "beats the row prior on Spearman: no" in result["line"]
    assert "AbsRel below constant and row prior: yes" in result["line"]


# ---------------------------------------------------------------- the bundled scenes and the command line

def test_bundled_scenes_are_present_and_sound():
    scenes = {s.name: s for s in real_rgbd.load_bundled_scenes(BUNDLED)}
    assert set(scenes) == {"motorcycle", "aloe"}
    motorcycle = scenes["motorcycle"]
    assert motorcycle.size == (250, 370) and motorcycle.metric
    depth = motorcycle.depth_m[motorcycle.valid]
    assert 2.0 < depth.min() and depth.max() < 5.1  # the scene spans about 2.1 to 5.0 m
    assert 0.8 < motorcycle.valid.mean() < 0.95
    assert motorcycle.K[0, 0] == pytest.approx(994.978 / 2)
    assert "Middlebury 2014" in motorcycle.source and "BSD-3-Clause" in motorcycle.licence
    assert not scenes["aloe"].metric and "Apache-2.0" in scenes["aloe"].licence


@pytest.mark.skipif(not HAS_SKIMAGE, reason="scikit-image is not installed (pip install scikit-image; it is in requirements-dev.txt)")
def test_bundled_motorcycle_is_what_the_reader_derives_from_scikit_image():
    full = real_rgbd.load_motorcycle()
    assert full.size == (500, 741)
    depth = full.depth_m[full.valid]
    assert depth.min() == pytest.approx(2.11, abs=0.01) and depth.max() == pytest.approx(5.017, abs=0.001)
    small = real_rgbd.downscale_scene(full, real_rgbd.BUNDLE_FACTORS["motorcycle"])
    bundled = {s.name: s for s in real_rgbd.load_bundled_scenes(BUNDLED)}["motorcycle"]
    assert np.array_equal(bundled.valid, small.valid)
    assert np.abs(bundled.depth_m - small.depth_m).max() <= 0.0005 + 1e-6  # millimetre PNG rounding
    np.testing.assert_allclose(bundled.K, small.K)


def test_cli_scores_the_bundled_real_scenes_with_the_bundled_model(tmp_path, capsys):
    out = tmp_path / "check"
    code = real_check.main(["--model", "synthetic-tiny", "--size", "small", "--out", str(out), "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    for row in ("| motorcycle | synthetic-tiny |", f"| motorcycle | {real_check.CONSTANT} |", f"| motorcycle | {real_check.ROW_PRIOR} |"):
        assert row in printed and row in (out / "real_check.md").read_text()
    assert "synthetic-tiny: beats the row prior on Spearman: " in printed
    assert (out / "real_check.png").stat().st_size > 10_000
    record = json.loads((out / "real_check.json").read_text())
    scores = record["scores"]["motorcycle"]
    assert scores[real_check.CONSTANT]["spearman"] is None  # NaN is written as null
    assert -1.0 <= scores["synthetic-tiny"]["spearman"] <= 1.0 and scores["synthetic-tiny"]["abs_rel"] > 0
    # The baselines' numbers are the scene's own: recompute them on the same small scene.
    scene = real_check.load_scenes("bundled", "small", None, None)[0][0]
    assert scene.name == "motorcycle" and list(scene.size) == record["scenes"][0]["size_hw"]
    gt = scene.depth_m[scene.valid]
    assert scores[real_check.CONSTANT]["abs_rel"] == pytest.approx(np.mean(np.abs(np.median(gt) - gt) / gt), rel=1e-5)
    assert record["scores"]["aloe"]["synthetic-tiny"]["abs_rel"] is None  # rank-only scene


@pytest.mark.parametrize("argv,match", [
    (["--data", "no/such/folder"], "no such folder"),
    (["--model", "no-such-model"], "not a preset"),
    (["--limit", "0"], None),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, match):
    if match is None:  # argparse refuses it before anything loads
        with pytest.raises(SystemExit) as exit_info:
            real_check.main(argv + ["--out", str(tmp_path)])
        assert exit_info.value.code == 2
        return
    assert real_check.main(argv + ["--out", str(tmp_path), "--size", "small", "--no-figure"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and match in err[-1] and "Traceback" not in "\n".join(err)


def _scene_folder(folder, depth_m: float, scale: float, sources: dict | None):
    """One 24x32 frame of constant depth stored at `scale` units per metre, recorded in poses.json."""
    import json

    from common.scene_folder import DEPTH_SCALE_KEY, write_poses, write_rgbd_frame

    write_rgbd_frame(folder, "street", np.full((24, 32, 3), 100, np.uint8), np.full((24, 32), depth_m, np.float32), scale)
    write_poses(folder, "scenes", [{"name": "street", "pose": np.eye(4).tolist()}], **{DEPTH_SCALE_KEY: scale})
    if sources is not None:
        (folder / "sources.json").write_text(json.dumps(sources))
    return folder


def test_a_bundled_folder_is_read_at_its_recorded_depth_scale(tmp_path):
    folder = _scene_folder(tmp_path / "far", 40.0, 256.0, {"street": {"source": "a test street", "licence": "none"}})
    scene = real_rgbd.load_bundled_scenes(folder)[0]
    assert scene.metric and float(np.median(scene.depth_m)) == pytest.approx(40.0, abs=0.01)  # not 10.24 "millimetres"


def test_folders_that_are_not_real_data_and_misplaced_flags_are_refused(tmp_path, capsys):
    procedural = _scene_folder(tmp_path / "rooms", 3.0, 1000.0, None)  # as python -m scenes writes: no sources
    (tmp_path / "notes.txt").write_text("a file")
    for argv, expected in ((["--data", str(procedural)], "--data rooms: no source in sources.json for street"),
                           (["--data", str(tmp_path / "notes.txt")], "--data notes.txt is a file"),
                           (["--opencv-samples", str(tmp_path)], "--opencv-samples is read only with --data packages")):
        assert real_check.main([*argv, "--out", str(tmp_path / "out"), "--size", "small", "--no-figure"]) == 2
        message = capsys.readouterr().err
        assert message.startswith("error: ") and expected in message and str(tmp_path) not in message, message
