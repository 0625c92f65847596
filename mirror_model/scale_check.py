"""How well a depth model learned absolute scale: the ratio of its median depth to the true median,
per image, against a guess that never looks at the image.

    python -m mirror_model.scale_check --model synthetic-tiny --data data/fresh-4500 \\
        --train-dir data/factorial/train --out docs/results/scale

Per image, scale ratio r = median(prediction) / median(truth) over valid pixels below the cap
(the folder's own, from its poses.json: 80 m for outdoor splits; else 10 m, the rooms' cap).
Reported over the images: the geometric mean of r (1 = no bias),
the mean |log2 r| (0 = exact; 1 = off by a factor of two on average) and the share of images with
max(r, 1/r) < 1.25 (δ1's threshold, applied to the medians). Rows:
- each model given (median-scaled AbsRel removes exactly this error, so the gap between a model's
  AbsRel and its median-scaled AbsRel is what scale costs it);
- "one depth for every image": the median depth of the training rooms (`--train-dir`; never the
  test rooms), the best an image-blind guess can do. A model has learned absolute scale to the
  extent its mean |log2 r| is below this row's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common.validate import number_argument

CAP_M = 10.0  # the rooms' evaluation cap (mirror_model.data.MAX_DEPTH["synthetic"])
DELTA = 1.25
BLIND = "one depth for every image (training rooms' median)"


def scale_ratio(pred: np.ndarray, gt: np.ndarray, cap_m: float = CAP_M) -> float:
    """median(pred) / median(gt) over pixels with 1e-3 < gt < cap_m; NaN when none or the
    prediction's median there is not positive. pred, gt: (H, W) metres."""
    valid = (gt > 1e-3) & (gt < cap_m) & np.isfinite(gt)
    if not valid.any():
        return float("nan")
    predicted = float(np.median(pred[valid]))
    return predicted / float(np.median(gt[valid])) if predicted > 0 else float("nan")


def summarise(ratios: list[float]) -> dict[str, float]:
    """Geometric mean of r, mean |log2 r| and the share within ×1.25, over the finite ratios."""
    values = np.asarray([r for r in ratios if np.isfinite(r) and r > 0], dtype=np.float64)
    if values.size == 0:
        return {"images": 0, "geometric_mean_ratio": float("nan"), "mean_abs_log2_ratio": float("nan"),
                "within_1.25": float("nan")}
    logs = np.log2(values)
    return {"images": int(values.size), "geometric_mean_ratio": float(2 ** logs.mean()),
            "mean_abs_log2_ratio": float(np.abs(logs).mean()),
            "within_1.25": float((np.maximum(values, 1 / values) < DELTA).mean())}


def scene_dataset(folder: Path, flag: str):
    """The folder's RGB-D pairs (mirror_model.data, depth units and cap from its poses.json); a
    ValueError naming `flag` when it is not a scene folder or holds no pair."""
    from common.scene_folder import rgbd_names

    from .data import build_dataset

    if not ((folder / "rgb").is_dir() and (folder / "depth").is_dir()):
        raise ValueError(f"{flag} {folder.name}: not a scene folder (needs rgb/ and depth/, as python -m scenes writes)")
    if not rgbd_names(folder):
        raise ValueError(f"{flag} {folder.name}: no frame with both rgb/ and depth/ pictures in it")
    return build_dataset("synthetic", folder)


def folder_median_depth(folder: Path, limit: int = 400, cap_m: float | None = None) -> float:
    """Median over images of each image's median depth (valid, below the cap: the folder's own
    unless given) in a scene folder; at most `limit` images, evenly spaced. Raises ValueError when
    the folder has none."""
    dataset = scene_dataset(folder, "--train-dir")
    cap_m = dataset.max_depth if cap_m is None else cap_m
    picks = np.unique(np.linspace(0, len(dataset) - 1, min(limit, len(dataset))).round().astype(int))
    medians = []
    for index in picks:
        gt = dataset[int(index)]["depth"][0].numpy()
        valid = (gt > 1e-3) & (gt < cap_m)
        if valid.any():
            medians.append(float(np.median(gt[valid])))
    if not medians:
        raise ValueError(f"{folder.name}: no valid depth in it")
    return float(np.median(medians))


def model_ratios(predictor, folder: Path, batch: int = 8, limit: int | None = None) -> list[float]:
    """Per-image scale ratio of a predictor on a scene folder (the evaluation's geometry, the
    folder's cap); the first `limit` images when given."""
    from tqdm import tqdm

    from common.image_io import load_rgb

    dataset = scene_dataset(folder, "--data")
    count = min(len(dataset), limit or len(dataset))
    ratios = []
    for start in tqdm(range(0, count, batch), desc="scale", unit="batch", leave=False):
        indices = range(start, min(start + batch, count))
        for index, depth in zip(indices, predictor.predict([load_rgb(dataset.pairs[i][0]) for i in indices])):
            ratios.append(scale_ratio(depth, dataset[index]["depth"][0].numpy(), dataset.max_depth))
    return ratios


def blind_ratios(folder: Path, depth_m: float, limit: int | None = None) -> list[float]:
    """Per-image ratio of a constant `depth_m` to each image's true median (the folder's cap);
    the first `limit` images when given."""
    dataset = scene_dataset(folder, "--data")
    count = min(len(dataset), limit or len(dataset))
    return [scale_ratio(np.full_like(gt, depth_m), gt, dataset.max_depth)
            for gt in (dataset[i]["depth"][0].numpy() for i in range(count))]


def format_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| model | images | geometric mean of r | mean abs log2 r ↓ | share within x1.25 ↑ |", "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['images']} | {row['geometric_mean_ratio']:.3f} | {row['mean_abs_log2_ratio']:.3f} "
                     f"| {row['within_1.25']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .predict import load_predictor

    parser = argparse.ArgumentParser(
        prog="python -m mirror_model.scale_check",
        description="How well models learned absolute scale on a folder of procedural scenes: per-image ratio of "
                    "predicted to true median depth, beside an image-blind constant from the training rooms.")
    parser.add_argument("--model", action="append", required=True, help="preset or checkpoint folder; repeat for several")
    parser.add_argument("--data", required=True, help="scene folder to score (rgb/, depth/, poses.json)")
    parser.add_argument("--train-dir", required=True, help="the training rooms, for the image-blind constant")
    parser.add_argument("--untrained", action="store_true", help="also score each model's untrained twin")
    parser.add_argument("--limit", type=number_argument(minimum=1, integer=True), default=None,
                        help="score only the first N images of --data (default: all)")
    parser.add_argument("--train-limit", type=number_argument(minimum=1, integer=True), default=400,
                        help="training images used for the constant, evenly spaced (default: 400)")
    parser.add_argument("--device", default="cpu", help="where the models run: cpu or cuda (default: cpu)")
    parser.add_argument("--out", default=None, help="folder for scale.md and scale.json (default: print only)")
    args = parser.parse_args(argv)
    try:
        data, train = Path(args.data), Path(args.train_dir)
        out = Path(args.out) if args.out else None
        if out is not None and any(part.exists() and not part.is_dir() for part in (out, *out.parents)):
            raise ValueError(f"--out {out.name}: a file stands where the output folder would be")
        data_cap, train_cap = scene_dataset(data, "--data").max_depth, scene_dataset(train, "--train-dir").max_depth
        if data_cap != train_cap:
            raise ValueError(f"--data {data.name} (cap {data_cap:g} m) and --train-dir {train.name} (cap {train_cap:g} m) "
                             f"are different worlds; give training rooms of the world scored")
        blind_depth = folder_median_depth(train, args.train_limit)
        predictors = {spec: load_predictor(spec, args.device) for spec in dict.fromkeys(args.model)}
        if args.untrained:
            predictors.update({f"{spec}, untrained twin": load_predictor(spec, args.device, untrained=True)
                               for spec in dict.fromkeys(args.model)})
        rows = {name: summarise(model_ratios(predictor, data, limit=args.limit)) for name, predictor in predictors.items()}
        rows[f"{BLIND}: {blind_depth:.2f} m"] = summarise(blind_ratios(data, blind_depth, args.limit))
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = format_table(rows)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        command = "python -m mirror_model.scale_check " + " ".join(argv if argv is not None else sys.argv[1:])
        title = f"# Absolute scale on {data.name} (depth capped at {data_cap:g} m)"
        (out / "scale.md").write_text(f"{title}\n\n{table}\n\nCommand: `{command}`\n")
        record = {"command": command, "blind_depth_m": blind_depth, "cap_m": data_cap, "rows": rows}
        (out / "scale.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
