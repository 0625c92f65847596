"""The one depth-metric implementation, shared by training, evaluation, the studies and the app.

Definitions follow the Eigen et al. / BTS / AdaBins evaluation code. With d = log(pred) - log(gt)
over the valid pixels:

    abs_rel  = mean(|pred - gt| / gt)
    sq_rel   = mean((pred - gt)^2 / gt)
    rmse     = sqrt(mean((pred - gt)^2))
    rmse_log = sqrt(mean(d^2))
    log10    = mean(|log10(pred) - log10(gt)|)
    silog    = 100 * sqrt(mean(d^2) - mean(d)^2)      (BTS/AdaBins convention: lambda = 1, x100)
    d_k      = fraction of pixels with max(pred/gt, gt/pred) < 1.25^k,  k = 1, 2, 3

Valid pixels: finite gt with min_depth < gt < max_depth, inside the dataset crop (NYU: Eigen crop;
KITTI: Garg crop). Predictions are clipped to [min_depth, max_depth] first, as BTS does, so a
zero or infinite prediction costs a bounded error instead of producing nan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METRIC_KEYS: tuple[str, ...] = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "d1", "d2", "d3")
# For tables: which direction is better.
HIGHER_IS_BETTER: frozenset[str] = frozenset({"d1", "d2", "d3"})

# Depth caps (metres) of each dataset: training targets and evaluation use the same ones.
DATASET_MAX_DEPTH: dict[str, float] = {"nyu": 10.0, "kitti": 80.0, "synthetic": 10.0}
CROPPED_DATASETS = ("nyu", "kitti")  # synthetic scenes are evaluated on the whole frame

# Eigen crop, defined on NYU's 480x640 frames (rows 45..470, cols 41..600 inclusive).
_EIGEN_CROP_480x640 = (45, 471, 41, 601)
# Garg crop, given as fractions of the KITTI frame height/width.
_GARG_CROP_FRACTIONS = (0.40810811, 0.99189189, 0.03594771, 0.96405229)


def _check_dataset(dataset: str | None) -> str | None:
    if dataset is None:
        return None
    name = dataset.lower()
    if name not in DATASET_MAX_DEPTH:
        raise ValueError(f"unknown dataset {dataset!r} for depth evaluation: use {', '.join(DATASET_MAX_DEPTH)} or None")
    return name


def crop_mask(shape: tuple[int, int], dataset: str | None) -> np.ndarray:
    """Boolean mask of the dataset's evaluation crop for an image of `shape` (all True for None).

    NYU's Eigen crop is defined at 480x640 and scaled proportionally for other sizes.
    """
    name = _check_dataset(dataset)
    h, w = shape
    mask = np.zeros((h, w), dtype=bool)
    if name is None:
        mask[:] = True
    elif name not in CROPPED_DATASETS:
        mask[:] = True
    elif name == "nyu":
        top, bottom, left, right = _EIGEN_CROP_480x640
        def scaled(value: int, size: int, ref: int) -> int:  # half-up rounding, stable across platforms
            return int(value * size / ref + 0.5)

        mask[scaled(top, h, 480) : scaled(bottom, h, 480), scaled(left, w, 640) : scaled(right, w, 640)] = True
    else:
        ft, fb, fl, fr = _GARG_CROP_FRACTIONS
        mask[int(ft * h) : int(fb * h), int(fl * w) : int(fr * w)] = True
    return mask


def resolve_max_depth(dataset: str | None, max_depth: float | None) -> float | None:
    """An explicit max_depth wins; otherwise the dataset's cap (NYU 10 m, KITTI 80 m); else no cap."""
    name = _check_dataset(dataset)
    if max_depth is not None:
        return float(max_depth)
    return DATASET_MAX_DEPTH[name] if name else None


def eval_mask(
    gt: np.ndarray,
    dataset: str | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
) -> np.ndarray:
    """Pixels that count: finite gt strictly inside (min_depth, max_depth) and inside the dataset crop."""
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f"ground-truth depth must be a 2-D HxW array, got shape {gt.shape}")
    cap = resolve_max_depth(dataset, max_depth)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > min_depth)
        if cap is not None:
            valid &= gt < cap
    return valid & crop_mask(gt.shape, dataset)


def metrics_from_valid(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The nine metrics on 1-D arrays of matched, already-valid, positive depths."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    ratio = np.maximum(pred / gt, gt / pred)
    diff = pred - gt
    log_diff = np.log(pred) - np.log(gt)
    return {
        "abs_rel": float(np.mean(np.abs(diff) / gt)),
        "sq_rel": float(np.mean(diff**2 / gt)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean(log_diff**2))),
        "log10": float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        # max(.., 0) guards against a tiny negative from rounding when all log errors are equal.
        "silog": float(100.0 * np.sqrt(max(np.mean(log_diff**2) - np.mean(log_diff) ** 2, 0.0))),
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25**2)),
        "d3": float(np.mean(ratio < 1.25**3)),
    }


def _as_numpy(array) -> np.ndarray:
    """numpy arrays as they are; torch tensors (any device) are detached and copied to the CPU."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().double().numpy()
    return np.asarray(array, dtype=np.float64)


def compute_depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    dataset: str | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    median_scaling: bool = False,
    mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Standard depth metrics of one predicted map against its ground truth (both HxW, metres;
    numpy arrays or torch tensors).

    dataset: "nyu" (Eigen crop, 10 m cap), "kitti" (Garg crop, 80 m cap) or None (no crop, no cap
    unless max_depth is given). median_scaling multiplies the prediction by median(gt)/median(pred)
    over the valid pixels before clipping (for scale-ambiguous models). `mask` further restricts
    the valid pixels. Raises ValueError on mismatched shapes or when no pixel is valid.
    """
    pred = _as_numpy(pred)
    gt = _as_numpy(gt)
    if pred.shape != gt.shape:
        raise ValueError(
            f"prediction shape {pred.shape} differs from ground truth {gt.shape}: resize the prediction to the ground-truth size first"
        )
    cap = resolve_max_depth(dataset, max_depth)
    valid = eval_mask(gt, dataset, min_depth, cap)
    if mask is not None:
        if np.shape(mask) != gt.shape:
            raise ValueError(f"mask shape {np.shape(mask)} differs from depth shape {gt.shape}")
        valid &= _as_numpy(mask).astype(bool)
    if not valid.any():
        raise ValueError("no valid ground-truth pixels to evaluate (check min/max depth, crop and that gt is in metres)")
    p = pred[valid]
    g = gt[valid]
    p = np.where(np.isnan(p), min_depth, p)  # nan predictions count as "too near", never silently dropped
    if median_scaling:
        p_median = float(np.median(p))
        if p_median <= 0:
            raise ValueError("median scaling needs a positive median prediction over the valid pixels")
        p = p * (float(np.median(g)) / p_median)
    p = np.clip(p, min_depth, cap if cap is not None else np.inf)
    p = np.where(np.isinf(p), cap if cap is not None else np.finfo(np.float64).max, p)
    return metrics_from_valid(p, g)


@dataclass
class MetricAccumulator:
    """Averages per-image metrics over a data set (per-image mean, as BTS and AdaBins report)."""

    sums: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in METRIC_KEYS})
    count: int = 0

    def add(self, metrics: dict[str, float]) -> None:
        for key in METRIC_KEYS:
            self.sums[key] += float(metrics[key])
        self.count += 1

    def update(self, pred: np.ndarray, gt: np.ndarray, **kwargs) -> dict[str, float]:
        """Compute one image's metrics (same keyword arguments as compute_depth_metrics), add and return them."""
        metrics = compute_depth_metrics(pred, gt, **kwargs)
        self.add(metrics)
        return metrics

    def mean(self) -> dict[str, float]:
        if self.count == 0:
            raise ValueError("no images were added to the metric accumulator")
        return {key: self.sums[key] / self.count for key in METRIC_KEYS}


def format_metrics_table(rows: dict[str, dict[str, float]], keys: tuple[str, ...] = METRIC_KEYS, digits: int = 4) -> str:
    """A markdown table: one row per named result, one column per metric (arrow = better direction)."""
    header = "| | " + " | ".join(f"{k} {'↑' if k in HIGHER_IS_BETTER else '↓'}" for k in keys) + " |"
    rule = "|---|" + "---:|" * len(keys)
    lines = [header, rule]
    for name, metrics in rows.items():
        cells = []
        for key in keys:
            value = metrics.get(key)
            cells.append("–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, ties sharing the mean of the ranks they span (the "fractional"
    ranking Spearman's coefficient uses). Raises ValueError for non-finite values."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("ranks need finite values (mask out nan and inf first)")
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the last 1-based rank of each group of equal values
    return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]


def spearman_rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long sets of values: Pearson's correlation of their
    average ranks (so ties are handled), in [-1, 1]. NaN when it is undefined: fewer than two values,
    or either set constant (a constant has no order). Raises ValueError on mismatched sizes or
    non-finite values."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"rank correlation needs equally many values, got {a.size} and {b.size}")
    if a.size < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = float(np.sqrt(np.dot(ra, ra) * np.dot(rb, rb)))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip(np.dot(ra, rb) / denominator, -1.0, 1.0))
