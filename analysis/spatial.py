"""Spatial continuity of depth maps: patch-grid seams, straight seams anywhere, and depth-boundary quality.

    python -m analysis.spatial --pred PRED_DIR_OR_FILE [--gt GT_DIR_OR_FILE] --out spatial.json [--patch 16]

- blockiness: mean |grad D| across patch-grid boundaries over mean |grad D| everywhere else.
  1.0 means the grid leaves no trace; a ViT decoder that paints each patch separately gives > 1.
  Gradients are one-pixel forward differences; a horizontal difference D[:, j+1] - D[:, j] crosses
  the grid when j+1 is a multiple of the patch size (likewise vertically). Means are taken per
  direction and summed: (mean|dx| on grid + mean|dy| on grid) / (mean|dx| off grid + mean|dy| off
  grid), so a plain slope along one axis scores exactly 1. The patch size may be
  fractional, for maps resized from the model's input resolution (e.g. 16 * 480 / 224).
- seam ratio (needs no ground truth and no knowledge of where any window or grid lay): the mean
  |d log D / dx| across each column boundary (the difference D[:, j+1] vs D[:, j], over all rows)
  and the mean |d log D / dy| across each row boundary. Log depth makes a step relative, so a seam
  counts the same near and far. The ratio is the strongest column boundary over the median one
  (likewise rows); `seam` is the larger of the two. A straight join between two predictions of
  different scale puts one column far above the rest; a smooth map stays at the level of its own
  texture. The outer 5 % of each side is left out: a model's zero-padded convolutions bend every
  prediction along the frame's border (for the bundled model, the strongest row or column of each
  of six real photos' 4:3 depth lies within 10 px of the border). The level of a seamless map
  depends on its content (a whole-height object edge is a strong column too), so the ratio is read
  against a reference: the same picture predicted at the model's training aspect ratio, or the
  ground truth.
- depth-boundary errors (iBims-1 style): edges of ground truth and prediction are found the same
  way (Canny on log depth normalised to the ground truth's range, so thresholds mean relative depth
  jumps); accuracy = mean distance (px) from each predicted edge pixel to the nearest ground-truth
  edge, completeness = mean distance from each ground-truth edge pixel to the nearest predicted
  edge; both truncated at max_dist (10 px, as iBims-1). 0 is perfect.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from common.depth_io import DEPTH_SUFFIXES, read_depth_file
from common.depth_metrics import compute_depth_metrics
from common.image_io import load_rgb
from common.jsonio import json_safe


def _grid_lines(length: int, patch: float, offset: float = 0.0) -> np.ndarray:
    """Indices j (0..length-2) of forward differences D[j+1]-D[j] that cross a grid line."""
    if patch <= 1:
        raise ValueError(f"patch size must be larger than 1 pixel, got {patch}")
    lines = np.round(np.arange(offset + patch, length, patch)).astype(int)
    crossing = lines - 1
    return crossing[(crossing >= 0) & (crossing <= length - 2)]


def blockiness(depth: np.ndarray, patch: float = 16, offset: float = 0.0, mask: np.ndarray | None = None) -> float:
    """Mean |grad D| on patch-grid boundaries / mean |grad D| elsewhere (1.0 = no seams).

    Returns inf when the map is flat inside patches but steps at boundaries (pure blocks), 1.0 for
    a constant map. Differences touching invalid pixels (<= 0, non-finite, or outside mask) are ignored.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2 or min(depth.shape) < 2:
        raise ValueError(f"blockiness needs an HxW depth map of at least 2x2, got shape {depth.shape}")
    valid = _valid_depth(depth, mask)
    h, w = depth.shape
    dx = np.abs(np.diff(depth, axis=1))
    dy = np.abs(np.diff(depth, axis=0))
    valid_dx = valid[:, 1:] & valid[:, :-1]
    valid_dy = valid[1:, :] & valid[:-1, :]
    on_dx = np.zeros_like(valid_dx)
    on_dx[:, _grid_lines(w, patch, offset)] = True
    on_dy = np.zeros_like(valid_dy)
    on_dy[_grid_lines(h, patch, offset), :] = True
    # Per direction, so a map sloping along one axis is not judged by how many of its grid
    # differences happen to be horizontal or vertical.
    mean_boundary = mean_inside = 0.0
    for diffs, valid_d, on_grid in ((dx, valid_dx, on_dx), (dy, valid_dy, on_dy)):
        boundary, inside = diffs[valid_d & on_grid], diffs[valid_d & ~on_grid]
        if boundary.size == 0 or inside.size == 0:
            raise ValueError(f"map {h}x{w} too small for patch size {patch}: no grid boundary or no patch interior")
        mean_boundary += float(boundary.mean())
        mean_inside += float(inside.mean())
    if mean_inside == 0.0:
        return 1.0 if mean_boundary == 0.0 else math.inf
    return mean_boundary / mean_inside


MIN_VALID_SHARE = 0.5  # a boundary is judged only where at least half its pixel pairs are valid
SEAM_MARGIN = 0.05  # share of each side, at both ends, left out of the seam ratio (border effects)


@dataclass(frozen=True)
class SeamRatio:
    """Seam ratios of one depth map (1.0 = no column or row stands out) and where the strongest lie.

    `column` j is the boundary between columns j and j+1; `row` i between rows i and i+1."""

    x: float  # strongest column boundary / median column boundary
    y: float  # strongest row boundary / median row boundary
    column: int
    row: int

    @property
    def ratio(self) -> float:
        return max(self.x, self.y)

    def as_record(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}seam": self.ratio, f"{prefix}seam_x": self.x, f"{prefix}seam_y": self.y}


def _valid_depth(depth: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    valid = np.isfinite(depth) & (depth > 0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != depth.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the depth map's {depth.shape}")
        valid &= mask
    return valid


def seam_profiles(depth: np.ndarray, mask: np.ndarray | None = None,
                  min_valid_share: float = MIN_VALID_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """Mean |forward difference of log depth| across every column boundary, shape (W-1,), and every
    row boundary, shape (H-1,). A difference counts where both pixels are valid (finite, > 0, inside
    `mask`); a boundary with fewer than `min_valid_share` of its pairs valid is NaN (not judged)."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2 or min(depth.shape) < 2:
        raise ValueError(f"seam profiles need an HxW depth map of at least 2x2, got shape {depth.shape}")
    valid = _valid_depth(depth, mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        logd = np.where(valid, np.log(np.where(valid, depth, 1.0)), 0.0)
    profiles = []
    for axis in (1, 0):
        diffs = np.abs(np.diff(logd, axis=axis))
        pairs = np.logical_and(*_pair_masks(valid, axis))
        count = pairs.sum(axis=1 - axis)
        total = np.where(pairs, diffs, 0.0).sum(axis=1 - axis)
        line_length = depth.shape[1 - axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            profile = np.where(count >= max(1.0, min_valid_share * line_length), total / count, np.nan)
        profiles.append(profile)
    return profiles[0], profiles[1]


def _pair_masks(valid: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    if axis == 1:
        return valid[:, 1:], valid[:, :-1]
    return valid[1:, :], valid[:-1, :]


def _strongest_over_median(profile: np.ndarray, margin: float) -> tuple[float, int]:
    skip = int(round(margin * (profile.size + 1)))
    judged = np.flatnonzero(np.isfinite(profile))
    judged = judged[(judged >= skip) & (judged < profile.size - skip)]
    if judged.size == 0:
        return math.nan, -1
    values = profile[judged]
    strongest = int(np.argmax(values))
    median = float(np.median(values))
    if median == 0.0:
        return (1.0 if values[strongest] == 0.0 else math.inf), int(judged[strongest])
    return float(values[strongest]) / median, int(judged[strongest])


def seam_ratio(depth: np.ndarray, mask: np.ndarray | None = None, min_valid_share: float = MIN_VALID_SHARE,
               margin: float = SEAM_MARGIN) -> SeamRatio:
    """Strongest over median mean |d log D| per column boundary (x) and per row boundary (y).

    Boundaries within `margin` (a share of the side) of the map's edges are not judged: zero-padded
    convolutions bend every prediction there, seams or not. No ground truth needed. NaN in a
    direction where no boundary has enough valid pixels; 1.0 for a constant map; inf where the
    median boundary is flat and one is not. Raises ValueError for a map that is not 2-D or smaller
    than 2x2, a mask of another shape, or a margin outside [0, 0.5)."""
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be a share of the side in [0, 0.5), got {margin}")
    cols, rows = seam_profiles(depth, mask, min_valid_share)
    x, column = _strongest_over_median(cols, margin)
    y, row = _strongest_over_median(rows, margin)
    return SeamRatio(x=x, y=y, column=column, row=row)


@dataclass(frozen=True)
class EdgeConfig:
    low: float = 0.04  # Canny hysteresis thresholds on the gradient of normalised log depth
    high: float = 0.08  # (a step of 2*high of the range across one pixel is a sure edge)
    max_dist: float = 10.0  # truncation of the chamfer distances, pixels (iBims-1 uses 10)


def _log_norm(depth: np.ndarray, lo: float, hi: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        logd = np.log(np.clip(depth, 1e-6, None))
    return np.clip((logd - lo) / max(hi - lo, 1e-9), 0.0, 1.0)


def depth_edges(depth: np.ndarray, config: EdgeConfig = EdgeConfig(), log_range: tuple[float, float] | None = None) -> np.ndarray:
    """Boolean edge map of a depth map: Canny (L2 gradient) on log depth normalised to log_range
    (default: the map's own valid range). Invalid pixels are filled from their nearest valid
    neighbour first so holes do not create edges, and edges at the holes are dropped."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return np.zeros(depth.shape, dtype=bool)
    if not valid.all():
        _, nearest = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        labels_of_valid = nearest[valid]
        lookup = np.zeros(nearest.max() + 1, dtype=np.float32)
        lookup[labels_of_valid] = depth[valid]
        depth = np.where(valid, depth, lookup[nearest])
    if log_range is None:
        logs = np.log(depth[valid])
        log_range = (float(logs.min()), float(logs.max()))
    norm = _log_norm(depth, *log_range)
    # Sobel on [0,1] data; /8 turns the 3x3 kernel's response into a per-pixel gradient.
    scale = 4096.0
    dx = np.round(cv2.Sobel(norm, cv2.CV_32F, 1, 0, ksize=3) / 8.0 * scale).astype(np.int16)
    dy = np.round(cv2.Sobel(norm, cv2.CV_32F, 0, 1, ksize=3) / 8.0 * scale).astype(np.int16)
    edges = cv2.Canny(dx, dy, config.low * scale, config.high * scale, L2gradient=True) > 0
    hole_border = cv2.dilate((~valid).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return edges & ~hole_border


def boundary_errors(pred: np.ndarray, gt: np.ndarray, config: EdgeConfig = EdgeConfig()) -> dict[str, float]:
    """Depth-boundary accuracy and completeness in pixels (lower is better), with edge counts."""
    pred = np.asarray(pred, dtype=np.float32)
    gt = np.asarray(gt, dtype=np.float32)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth {gt.shape}: resize it first")
    gt_valid = np.isfinite(gt) & (gt > 0)
    if not gt_valid.any():
        raise ValueError("ground truth has no valid depth")
    logs = np.log(gt[gt_valid])
    log_range = (float(logs.min()), float(logs.max()))
    gt_edges = depth_edges(gt, config, log_range)
    pred_edges = depth_edges(np.where(gt_valid, pred, 0.0), config, log_range)
    result = {"dbe_acc": math.nan, "dbe_comp": math.nan, "pred_edge_px": int(pred_edges.sum()), "gt_edge_px": int(gt_edges.sum())}
    if not gt_edges.any():
        return result  # nothing to find: both undefined
    if not pred_edges.any():
        result["dbe_comp"] = config.max_dist  # no predicted edge: every true edge is missed
        return result
    dist_to_gt = cv2.distanceTransform((~gt_edges).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_to_pred = cv2.distanceTransform((~pred_edges).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    result["dbe_acc"] = float(np.minimum(dist_to_gt[pred_edges], config.max_dist).mean())
    result["dbe_comp"] = float(np.minimum(dist_to_pred[gt_edges], config.max_dist).mean())
    return result


def _depth_files(path: Path) -> dict[str, Path]:
    """Depth maps by name. A folder written by python -m mirror_model.predict holds NAME.npy (metres),
    NAME_depth.png (the same in millimetres) and NAME_color.png (a picture): the .npy is read, the
    coloured picture never."""
    if path.is_file():
        return {path.stem: path}
    if not path.is_dir():
        raise FileNotFoundError(f"not found: {path.name}")
    candidates = [p for p in sorted(path.iterdir()) if p.suffix.lower() in DEPTH_SUFFIXES and not p.stem.endswith("_color")]
    npy_names = {p.stem for p in candidates if p.suffix.lower() == ".npy"}
    files = {}
    for p in candidates:
        name = p.stem[: -len("_depth")] if p.stem.endswith("_depth") and p.suffix.lower() == ".png" else p.stem
        if p.suffix.lower() == ".png" and name in npy_names:
            continue  # predict's millimetre copy of a map whose .npy is here
        files[name] = p
    if not files:
        raise ValueError(f"{path}: no .npy or .png depth maps inside")
    return files


def pair_depth_files(pred: str | Path, gt: str | Path | None) -> list[tuple[str, Path, Path | None]]:
    """(name, prediction file, ground-truth file) matched by file stem; a single file pairs with a single file."""
    preds = _depth_files(Path(pred))
    if gt is None:
        return [(name, p, None) for name, p in preds.items()]
    gts = _depth_files(Path(gt))
    if len(preds) == 1 and len(gts) == 1:
        (name, p), (g,) = next(iter(preds.items())), gts.values()
        return [(name, p, g)]
    common = sorted(set(preds) & set(gts))
    if not common:
        raise ValueError(f"no prediction in {pred} has a ground-truth file with the same name in {gt}")
    return [(name, preds[name], gts[name]) for name in common]


def analyze_pair(pred: np.ndarray, gt: np.ndarray | None, patch: float = 16, edge_config: EdgeConfig = EdgeConfig()) -> dict[str, float]:
    """Blockiness and seam ratio of the prediction (and of the ground truth, as reference levels),
    plus boundary errors and standard depth metrics when ground truth is given."""
    record: dict[str, float] = {"blockiness": blockiness(pred, patch), **seam_ratio(pred).as_record()}
    if gt is not None:
        record["gt_blockiness"] = blockiness(gt, patch * gt.shape[1] / np.shape(pred)[1])
        record.update(seam_ratio(gt).as_record("gt_"))
        if gt.shape != pred.shape:  # compare at the ground truth's resolution
            pred = cv2.resize(np.asarray(pred, dtype=np.float32), (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        record.update(boundary_errors(pred, gt, edge_config))
        metrics = compute_depth_metrics(pred, gt)
        record.update(abs_rel=metrics["abs_rel"], rmse=metrics["rmse"], d1=metrics["d1"])
    return record


def summarize(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows.values() for k in row})
    summary = {}
    for key in keys:
        values = [row[key] for row in rows.values() if key in row and math.isfinite(row[key])]
        summary[key] = float(np.mean(values)) if values else None
    return summary


def predict_folder(model: str, input_dir: str | Path, out_dir: Path, batch: int = 4) -> Path:
    """Predict every image in input_dir with a depth model, saving .npy maps named like the images."""
    from mirror_model.predict import load_predictor

    input_dir = Path(input_dir)
    images = sorted(p for p in input_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if input_dir.is_dir() else []
    if not images:
        raise ValueError(f"{input_dir}: no .png/.jpg images to predict")
    predictor = load_predictor(spec=model)
    out_dir.mkdir(parents=True, exist_ok=True)
    for start in tqdm(range(0, len(images), batch), desc="predicting", unit="batch"):
        chunk = images[start : start + batch]
        rgbs = []
        for path in chunk:
            rgbs.append(load_rgb(path))
        for path, depth in zip(chunk, predictor.predict(rgbs)):
            np.save(out_dir / f"{path.stem}.npy", np.asarray(depth, dtype=np.float32))
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.spatial",
        description="Spatial continuity of depth maps: patch-grid blockiness, seam ratio (straight "
        "seams anywhere; no ground truth needed), and depth-boundary accuracy/completeness against ground truth.",
    )
    parser.add_argument("--pred", help="predicted depth: a .npy (metres) / 16-bit .png (mm) file or a folder of them")
    parser.add_argument("--gt", help="ground-truth depth file or folder (matched to predictions by file name)")
    parser.add_argument("--out", required=True, help="JSON file for per-map results and their mean")
    parser.add_argument("--patch", type=float, default=16, help="patch-grid size in pixels of the depth map (default 16)")
    parser.add_argument("--model", help="predict first with this depth model (preset or checkpoint) ...")
    parser.add_argument("--input", help="... from the images in this folder (predictions are saved next to --out)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = Path(args.out)
        if out.suffix.lower() != ".json":
            raise ValueError(f"--out must be a .json file, got {out}")
        if any(parent.exists() and not parent.is_dir() for parent in out.parents):
            raise ValueError(f"--out {out.name}: a folder on its path is a file")
        if args.model or args.input:
            if not (args.model and args.input):
                raise ValueError("--model and --input go together: a depth model and a folder of images to predict")
            if args.pred:
                raise ValueError("give either --pred or --model/--input, not both")
            pred_source: Path = predict_folder(args.model, args.input, out.with_name(out.stem + "_pred"))
        elif args.pred:
            pred_source = Path(args.pred)
        else:
            raise ValueError("nothing to analyse: pass --pred FILE|DIR, or --model M --input DIR")
        rows = {}
        for name, pred_path, gt_path in tqdm(pair_depth_files(pred_source, args.gt), desc="spatial analysis", unit="map"):
            gt = read_depth_file(gt_path) if gt_path is not None else None
            rows[name] = analyze_pair(read_depth_file(pred_path), gt, args.patch)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = {"patch": args.patch, "mean": summarize(rows), "maps": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_safe(report), indent=2) + "\n")
    print(json.dumps(json_safe(report["mean"]), indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
