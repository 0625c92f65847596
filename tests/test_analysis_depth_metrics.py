"""Known-answer tests of the one depth-metric implementation."""
import math

import numpy as np
import pytest

from common.depth_metrics import (
    METRIC_KEYS,
    MetricAccumulator,
    compute_depth_metrics,
    crop_mask,
    eval_mask,
    format_metrics_table,
)


def ramp_depth(shape=(24, 32), lo=1.0, hi=8.0):
    h, w = shape
    return np.linspace(lo, hi, h * w, dtype=np.float64).reshape(h, w)


def test_perfect_prediction_scores_perfectly():
    gt = ramp_depth()
    m = compute_depth_metrics(gt.copy(), gt)
    for key in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"):
        assert m[key] == pytest.approx(0.0, abs=1e-12)
    assert m["d1"] == m["d2"] == m["d3"] == 1.0
    assert set(m) == set(METRIC_KEYS)


def test_constant_scale_error_known_values():
    gt = ramp_depth()
    m = compute_depth_metrics(1.1 * gt, gt)
    assert m["abs_rel"] == pytest.approx(0.1, abs=1e-9)
    assert m["sq_rel"] == pytest.approx(np.mean(0.01 * gt), abs=1e-9)
    assert m["rmse"] == pytest.approx(0.1 * math.sqrt(np.mean(gt**2)), abs=1e-9)
    assert m["rmse_log"] == pytest.approx(math.log(1.1), abs=1e-9)
    assert m["log10"] == pytest.approx(math.log10(1.1), abs=1e-9)
    assert m["silog"] == pytest.approx(0.0, abs=1e-5)  # a pure scale is invisible to SILog
    assert m["d1"] == m["d2"] == m["d3"] == 1.0


def test_hand_computed_case_matches_formulas():
    pred = np.array([[1.0, 2.0], [4.0, 1.5]])
    gt = np.array([[2.0, 2.0], [2.0, 1.0]])
    m = compute_depth_metrics(pred, gt)
    ln2, ln15 = math.log(2.0), math.log(1.5)
    # Per pixel: |p-g|/g = .5, 0, 1, .5 ; (p-g)^2/g = .5, 0, 2, .25 ; log ratio = -ln2, 0, ln2, ln1.5
    expected = {
        "abs_rel": (0.5 + 0 + 1 + 0.5) / 4,
        "sq_rel": (0.5 + 0 + 2 + 0.25) / 4,
        "rmse": math.sqrt((1 + 0 + 4 + 0.25) / 4),
        "rmse_log": math.sqrt((2 * ln2**2 + ln15**2) / 4),
        "log10": (2 * math.log10(2) + math.log10(1.5)) / 4,
        "silog": 100 * math.sqrt((2 * ln2**2 + ln15**2) / 4 - (ln15 / 4) ** 2),
        "d1": 1 / 4,  # ratios 2, 1, 2, 1.5: only 1 < 1.25
        "d2": 2 / 4,  # 1.5 < 1.5625
        "d3": 2 / 4,  # 2 > 1.953125
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key


def test_invalid_ground_truth_is_ignored_and_predictions_clipped():
    gt = np.array([[2.0, 0.0], [np.nan, 2.0]])
    pred = np.array([[2.0, 99.0], [99.0, 0.0]])  # zero prediction is clipped to min_depth, not nan
    m = compute_depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx((0 + (2 - 1e-3) / 2) / 2, abs=1e-9)
    assert all(math.isfinite(v) for v in m.values())


def box_mask(shape, rows, cols) -> np.ndarray:
    """True on rows[0]..rows[1] and cols[0]..cols[1], inclusive bounds as the papers give them."""
    mask = np.zeros(shape, dtype=bool)
    mask[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = True
    return mask


# Published crops: Eigen et al. on NYU's 480x640 frames, Garg et al. on KITTI's 375x1242 frames.
EIGEN_NYU_480x640 = box_mask((480, 640), rows=(45, 470), cols=(41, 600))
GARG_KITTI_375x1242 = box_mask((375, 1242), rows=(153, 370), cols=(44, 1196))


def test_nyu_eigen_crop_has_the_published_bounds():
    np.testing.assert_array_equal(crop_mask((480, 640), "nyu"), EIGEN_NYU_480x640)
    assert EIGEN_NYU_480x640.sum() == 426 * 560


def test_nyu_eigen_crop_and_cap():
    gt = np.full((480, 640), 3.0)
    pred = gt.copy()
    pred[~EIGEN_NYU_480x640] = 50.0  # garbage outside the Eigen crop must not matter
    gt[100, 100] = 12.0  # beyond the 10 m cap: ignored
    pred[100, 100] = 1.0
    m = compute_depth_metrics(pred, gt, dataset="nyu")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert eval_mask(gt, "nyu").sum() == 426 * 560 - 1
    # Proportional scaling at half size.
    half = crop_mask((240, 320), "nyu")
    rows, cols = np.nonzero(half)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (23, 235, 21, 300)  # 45/2, 471/2, 41/2, 601/2 rounded half up
    # Without the dataset, the garbage counts.
    assert compute_depth_metrics(pred, gt)["abs_rel"] > 1.0


def test_kitti_garg_crop_has_the_published_bounds():
    np.testing.assert_array_equal(crop_mask((375, 1242), "kitti"), GARG_KITTI_375x1242)
    assert GARG_KITTI_375x1242.sum() == 218 * 1153


def test_kitti_garg_crop_and_cap():
    h, w = 375, 1242
    gt = np.full((h, w), 20.0)
    pred = gt * 1.5
    pred[GARG_KITTI_375x1242] = gt[GARG_KITTI_375x1242]  # only pixels outside the published crop are wrong
    gt[200, 600] = 85.0  # inside the crop, beyond the 80 m cap
    m = compute_depth_metrics(pred, gt, dataset="kitti")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert eval_mask(gt, "kitti").sum() == 218 * 1153 - 1
    # Predictions above the cap are clipped to it.
    far = compute_depth_metrics(np.full((h, w), 500.0), np.full((h, w), 40.0), dataset="kitti")
    assert far["abs_rel"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("dataset, cap", [("nyu", 10.0), ("kitti", 80.0), ("synthetic", 10.0)])
def test_ground_truth_at_the_cap_or_at_min_depth_is_not_valid(dataset, cap):
    """Valid pixels are min_depth < gt < max_depth: both bounds are excluded."""
    h, w = (480, 640) if dataset == "nyu" else (375, 1242)
    gt = np.full((h, w), cap / 2)
    at_cap, below_cap, at_min, above_min = (h // 2, w // 2), (h // 2, w // 2 + 1), (h // 2 + 1, w // 2), (h // 2 + 1, w // 2 + 1)
    gt[at_cap], gt[below_cap] = cap, np.nextafter(cap, 0.0)
    gt[at_min], gt[above_min] = 1e-3, np.nextafter(1e-3, 1.0)
    valid = eval_mask(gt, dataset)
    assert not valid[at_cap] and not valid[at_min]
    assert valid[below_cap] and valid[above_min]
    pred = gt.copy()
    pred[at_cap] = 1.0  # wrong, but not counted
    pred[at_min] = 5.0
    assert compute_depth_metrics(pred, gt, dataset=dataset)["abs_rel"] == 0.0
    # An explicit max_depth is the cap too: a pixel at it is left out.
    assert not eval_mask(np.array([[2.0, 4.0]]), max_depth=4.0)[0, 1]


def test_delta_thresholds_count_ratios_strictly_below_powers_of_1_25():
    """d_k counts max(pred/gt, gt/pred) < 1.25**k: a ratio of exactly 1.25**k does not count."""
    # gt = 4 and these predictions give ratios exactly 1.25, 1.5625, 1.953125 (all exact in binary)
    # and, one ulp lower, ratios just below each threshold.
    exact = [5.0, 6.25, 7.8125]
    below = [float(np.nextafter(p, 0.0)) for p in exact]
    pred = np.array([exact + below])
    gt = np.full_like(pred, 4.0)
    ratios = pred / gt
    assert list(ratios[0, :3]) == [1.25, 1.25**2, 1.25**3]
    assert np.all(ratios[0, 3:] < [1.25, 1.25**2, 1.25**3])
    m = compute_depth_metrics(pred, gt)
    # ratios: 1.25, 1.5625, 1.953125, 1.25-, 1.5625-, 1.953125-
    assert m["d1"] == pytest.approx(1 / 6)  # 1.25- only
    assert m["d2"] == pytest.approx(3 / 6)  # 1.25, 1.25-, 1.5625-
    assert m["d3"] == pytest.approx(5 / 6)  # all but 1.953125
    # The ratio is symmetric: a prediction too near by exactly 1.25 (gt 5, pred 4) does not count for d1 either.
    near = compute_depth_metrics(np.array([[4.0, 4.0]]), np.array([[5.0, np.nextafter(5.0, 0.0)]]))
    assert near["d1"] == pytest.approx(1 / 2)


def test_median_scaling_fixes_a_constant_scale():
    gt = ramp_depth()
    pred = 0.3 * gt
    assert compute_depth_metrics(pred, gt)["abs_rel"] == pytest.approx(0.7)
    m = compute_depth_metrics(pred, gt, median_scaling=True)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-9)
    assert m["d1"] == 1.0


def test_explicit_max_depth_overrides_dataset_cap():
    gt = np.array([[5.0, 15.0]])
    pred = np.array([[5.0, 1.0]])
    assert compute_depth_metrics(pred, gt, max_depth=10.0)["abs_rel"] == 0.0
    assert compute_depth_metrics(pred, gt, max_depth=20.0)["abs_rel"] > 0.0


def test_bad_inputs_raise_clear_errors():
    gt = ramp_depth()
    with pytest.raises(ValueError, match="resize the prediction"):
        compute_depth_metrics(gt[:, :5], gt)
    with pytest.raises(ValueError, match="no valid ground-truth pixels"):
        compute_depth_metrics(gt, np.zeros_like(gt))
    with pytest.raises(ValueError, match="unknown dataset"):
        compute_depth_metrics(gt, gt, dataset="sunrgbd")


def test_accumulator_averages_per_image():
    acc = MetricAccumulator()
    small_gt = np.full((2, 2), 2.0)
    large_gt = np.full((20, 20), 2.0)
    acc.update(1.1 * small_gt, small_gt)
    acc.update(1.3 * large_gt, large_gt)
    mean = acc.mean()
    assert acc.count == 2
    assert mean["abs_rel"] == pytest.approx(0.2)  # per-image mean, not per-pixel (which would be ~0.298)
    with pytest.raises(ValueError):
        MetricAccumulator().mean()


def test_markdown_table_lists_rows_and_directions():
    gt = ramp_depth()
    table = format_metrics_table({"perfect": compute_depth_metrics(gt, gt), "scaled": compute_depth_metrics(1.1 * gt, gt)})
    lines = table.splitlines()
    assert lines[0].startswith("| |") and "abs_rel ↓" in lines[0] and "d1 ↑" in lines[0]
    assert lines[2].startswith("| perfect | 0.0000")
    assert "| scaled | 0.1000" in lines[3]
    assert len(lines) == 4


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    gt = ramp_depth()
    m = compute_depth_metrics(torch.tensor(1.1 * gt, requires_grad=True), torch.tensor(gt))
    assert m["abs_rel"] == pytest.approx(0.1, abs=1e-9)
