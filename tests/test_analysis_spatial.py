"""Known answers for blockiness, the seam ratio and depth-boundary errors, and the spatial CLI."""
import json
import math

import cv2
import numpy as np
import pytest

from analysis.spatial import EdgeConfig, blockiness, boundary_errors, depth_edges, main, seam_profiles, seam_ratio
from common.depth_io import write_depth_png


def smooth_field(shape=(96, 128), seed=0):
    """A smooth random depth surface (heavily blurred noise) between about 2 and 4 m."""
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 12)
    return 3.0 + blurred / np.abs(blurred).max()


def patch_grid_depth(shape=(96, 128), patch=16, seed=0):
    """One depth per 16x16 patch, upsampled with nearest neighbour, plus a gentle slope inside."""
    coarse = np.random.default_rng(seed).uniform(2, 4, size=(shape[0] // patch, shape[1] // patch)).astype(np.float32)
    blocks = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return blocks + 0.5 * smooth_field(shape, seed + 1)


def test_linear_ramp_has_no_seams():
    ramp = np.tile(np.linspace(1, 5, 128), (96, 1))
    assert blockiness(ramp, 16) == pytest.approx(1.0, abs=1e-9)


def test_smooth_depth_is_about_one_and_blocky_depth_is_far_above():
    assert blockiness(smooth_field(), 16) == pytest.approx(1.0, abs=0.1)
    assert blockiness(patch_grid_depth(), 16) > 5.0
    # The seams are at the 16-px grid: measured on a 12-px grid the same map looks far less blocky.
    assert blockiness(patch_grid_depth(), 12) < blockiness(patch_grid_depth(), 16) / 2


def test_blockiness_edge_cases():
    assert blockiness(np.full((32, 32), 2.0), 16) == 1.0
    pure_blocks = cv2.resize(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), (32, 32), interpolation=cv2.INTER_NEAREST)
    assert math.isinf(blockiness(pure_blocks, 16))
    with pytest.raises(ValueError, match="too small"):
        blockiness(np.ones((8, 8)), 16)
    with pytest.raises(ValueError, match="patch size"):
        blockiness(np.ones((8, 8)), 1)


def test_fractional_patch_size_follows_a_resized_grid():
    # A 16-px grid at 224 px resized to 336 px is a 24-px grid: patch 16 * 336 / 224.
    blocky = patch_grid_depth((224, 224), 16)
    resized = cv2.resize(blocky, (336, 336), interpolation=cv2.INTER_NEAREST)
    assert blockiness(resized, 16 * 336 / 224) > 5.0


def two_windows(shape=(180, 320), join=160, factor=1.1, seed=0):
    """Two predictions of one smooth scene that disagree in scale, joined at a column: the left
    part from one window, the rest from another that reads everything `factor` times as far."""
    depth = smooth_field(shape, seed)
    depth[:, join:] *= factor
    return depth


def test_seam_ratio_flags_a_join_between_two_windows_of_different_scale():
    smooth = seam_ratio(smooth_field((180, 320)))
    joined = seam_ratio(two_windows(join=160, factor=1.1))
    assert joined.column == 159  # the difference D[:, 160] - D[:, 159] crosses the join
    # A step of log(1.1) across every row, against about 0.01 per pixel of smooth relief.
    assert joined.x > 8 * smooth.x and joined.ratio == joined.x
    assert joined.y == pytest.approx(smooth.y, rel=1e-6)  # the rows do not see a column join
    assert seam_ratio(two_windows(factor=1.02)).x > 2 * smooth.x  # even a 2 % disagreement stands out


def test_smooth_maps_stay_near_a_smooth_reference_and_log_depth_makes_near_and_far_alike():
    references = [seam_ratio(smooth_field((180, 320), seed)).ratio for seed in range(4)]
    assert all(1.0 < r < 2.5 for r in references)
    near, far = smooth_field((180, 320), 1), 10.0 * smooth_field((180, 320), 1)
    assert seam_ratio(far).x == pytest.approx(seam_ratio(near).x, rel=1e-5)  # a scale change is not a seam
    assert seam_ratio(np.full((32, 32), 2.0)).ratio == 1.0
    # the log: the same relative step at 1 m and at 8 m weighs the same
    depth = np.ones((64, 96))
    depth[:, 48:] = 8.0
    depth[:, 20:] *= 1.05
    depth[:, 70:] *= 1.05
    cols, _ = seam_profiles(depth)
    assert cols[19] == pytest.approx(cols[69]) == pytest.approx(np.log(1.05))


def test_seam_ratio_is_symmetric_for_rows():
    depth = two_windows((180, 320), join=160, factor=1.1, seed=2)
    by_columns, by_rows = seam_ratio(depth), seam_ratio(depth.T.copy())
    assert (by_rows.y, by_rows.row) == pytest.approx((by_columns.x, by_columns.column))
    assert by_rows.x == pytest.approx(by_columns.y)


def test_seam_ratio_ignores_invalid_pixels_masks_and_the_border():
    depth = two_windows(factor=1.1)
    holes = depth.copy()
    holes[:, 200:230] = 0.0  # no depth here: its edges are not seams
    holes[50:60, :] = np.nan
    assert seam_ratio(holes).column == 159 and seam_ratio(holes).x > 5
    cols, rows = seam_profiles(holes)
    assert np.isnan(cols[199:230]).all() and np.isfinite(cols[:199]).all()  # both pixels must be valid
    assert np.isnan(rows[49:60]).all()  # boundaries touching the empty rows
    assert np.isfinite(np.delete(rows, np.s_[49:60])).all()  # the others lack 30 of 320 pairs: still judged
    outside = np.ones(depth.shape, bool)
    outside[:, 150:170] = False  # a mask that hides the join hides the seam
    assert seam_ratio(depth, mask=outside).x == pytest.approx(seam_ratio(smooth_field((180, 320))).x, rel=0.3)
    border = smooth_field((180, 320))
    border[:, :4] *= 0.8  # a zero-padding artefact at the frame's edge is not a seam
    assert seam_ratio(border).column > 4 and seam_ratio(border, margin=0.0).column == 3
    with pytest.raises(ValueError, match="mask shape"):
        seam_ratio(depth, mask=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="margin"):
        seam_ratio(depth, margin=0.5)
    with pytest.raises(ValueError, match="2x2"):
        seam_ratio(np.ones(5))
    assert math.isnan(seam_ratio(np.zeros((20, 20))).ratio)  # nothing valid: nothing to judge


def step_depth(shape=(64, 80), column=40, near=2.0, far=4.0):
    depth = np.full(shape, far, np.float32)
    depth[:, :column] = near
    return depth


def test_boundary_errors_zero_for_perfect_prediction():
    gt = step_depth()
    errors = boundary_errors(gt.copy(), gt)
    assert errors["dbe_acc"] == 0.0 and errors["dbe_comp"] == 0.0
    assert errors["gt_edge_px"] > 0


def test_boundary_errors_measure_a_shifted_edge_in_pixels():
    gt = step_depth(column=40)
    errors = boundary_errors(step_depth(column=44), gt)
    assert errors["dbe_acc"] == pytest.approx(4.0, abs=0.6)
    assert errors["dbe_comp"] == pytest.approx(4.0, abs=0.6)


def test_missing_edges_hurt_completeness_not_accuracy():
    gt = step_depth()
    gt[:, 60:] = 8.0  # a second edge the prediction misses
    errors = boundary_errors(step_depth(), gt)
    assert errors["dbe_acc"] == pytest.approx(0.0, abs=0.5)
    assert errors["dbe_comp"] > 3.0
    flat = boundary_errors(np.full_like(gt, 3.0), gt)
    assert math.isnan(flat["dbe_acc"]) and flat["dbe_comp"] == EdgeConfig().max_dist


def test_holes_in_ground_truth_make_no_edges():
    gt = np.full((64, 80), 3.0, np.float32)
    gt[20:40, 20:40] = 0.0  # missing measurements, not a depth edge
    assert not depth_edges(gt).any()


def test_spatial_cli_on_npy_and_png(tmp_path, capsys):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    np.save(pred_dir / "a.npy", patch_grid_depth())
    np.save(pred_dir / "b.npy", smooth_field())
    write_depth_png(gt_dir / "a.png", patch_grid_depth())
    write_depth_png(gt_dir / "b.png", smooth_field())
    out = tmp_path / "spatial.json"
    assert main(["--pred", str(pred_dir), "--gt", str(gt_dir), "--out", str(out), "--patch", "16"]) == 0
    report = json.loads(out.read_text())
    assert set(report["maps"]) == {"a", "b"}
    assert report["maps"]["a"]["blockiness"] > 5.0
    assert report["maps"]["b"]["blockiness"] == pytest.approx(1.0, abs=0.1)
    assert report["maps"]["b"]["abs_rel"] < 1e-3  # mm-rounded ground truth
    assert report["maps"]["b"]["seam"] == pytest.approx(seam_ratio(smooth_field()).ratio, rel=1e-5)
    assert report["maps"]["b"]["gt_seam"] == pytest.approx(report["maps"]["b"]["seam"], rel=0.05)  # mm rounding
    assert {"seam_x", "seam_y", "gt_seam_x", "gt_seam_y"} <= set(report["maps"]["a"])
    assert report["mean"]["blockiness"] == pytest.approx(np.mean([report["maps"][k]["blockiness"] for k in "ab"]))


def test_spatial_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    assert main(["--pred", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o.json")]) == 2
    assert "error:" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("no depth")
    assert main(["--pred", str(tmp_path / "x.txt"), "--out", str(tmp_path / "o.json")]) == 2
    assert main(["--out", str(tmp_path / "o.json")]) == 2


def test_spatial_cli_predicts_with_the_model_first(tmp_path):
    from scenes.io import write_scenes

    scenes = write_scenes(tmp_path / "scenes", 2, (48, 64), seed=3, progress=False)
    out = tmp_path / "report" / "spatial.json"
    code = main(["--model", "synthetic-tiny", "--input", str(scenes / "rgb"), "--gt", str(scenes / "depth"), "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["maps"]) == {"scene_00000", "scene_00001"}
    assert all(row["blockiness"] > 0 and row["abs_rel"] >= 0 for row in report["maps"].values())
    assert sorted(p.name for p in (tmp_path / "report" / "spatial_pred").iterdir()) == ["scene_00000.npy", "scene_00001.npy"]
    assert main(["--model", "synthetic-tiny", "--out", str(out)]) == 2  # --input missing


def test_a_predict_output_folder_is_read_by_its_npy_maps_not_its_coloured_pictures(tmp_path):
    import cv2

    from analysis.spatial import pair_depth_files
    from common.depth_io import write_depth_png

    depth = np.linspace(1.0, 3.0, 64 * 80, dtype=np.float32).reshape(64, 80)
    np.save(tmp_path / "room.npy", depth)  # what python -m mirror_model.predict writes for one image
    write_depth_png(tmp_path / "room_depth.png", depth)
    cv2.imwrite(str(tmp_path / "room_color.png"), np.zeros((64, 80, 3), np.uint8))
    write_depth_png(tmp_path / "other_depth.png", depth)  # a millimetre map without its .npy still counts
    assert [(name, path.name) for name, path, _ in pair_depth_files(tmp_path, None)] == [
        ("other", "other_depth.png"), ("room", "room.npy")]
