"""Evaluate a depth model on NYU, KITTI or the procedural scenes.

    python -m mirror_model.evaluate --model synthetic-tiny --data synthetic --data-root data/scenes --out metrics.json
    python -m mirror_model.evaluate --model runs/nyu/best --data nyu --data-root nyu/official_splits/test \
        --split-file splits/nyu_test.txt --flip-tta --out nyu.json

Metrics (analysis.depth_metrics, one implementation for training, evaluation and the app): AbsRel,
SqRel, RMSE, RMSE log, log10, SILog, δ1/δ2/δ3, averaged per image as BTS does. NYU uses the Eigen
crop and a 10 m cap, KITTI the Garg crop and an 80 m cap; min depth 1e-3. `--untrained` evaluates
the same architecture with freshly initialised mirror and decoder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from .data import MAX_DEPTH, build_dataset


def _to_uint8(image) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def predict_with_tta(predictor, frames: list[np.ndarray], flip_tta: bool, source: str | None = None) -> list[np.ndarray]:
    """Depth per frame; with flip TTA, the mean of the frame's and its mirror image's prediction."""
    depths = predictor.predict(frames, source=source)
    if not flip_tta:
        return depths
    flipped = predictor.predict([np.ascontiguousarray(frame[:, ::-1]) for frame in frames], source=source)
    return [0.5 * (depth + other[:, ::-1]) for depth, other in zip(depths, flipped)]


def evaluate_predictor(
    predictor,
    dataset,
    data_kind: str,
    median_scaling: bool = False,
    flip_tta: bool = False,
    limit: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    source: str | None = None,
) -> dict:
    """Mean metrics over the dataset's images that have ground truth, plus the count."""
    from tqdm import tqdm

    from common.depth_metrics import MetricAccumulator

    crop = data_kind if data_kind in ("nyu", "kitti") else None
    max_depth = MAX_DEPTH.get(data_kind, predictor.max_depth)
    accumulator = MetricAccumulator()
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in tqdm(range(0, count, batch_size), desc="evaluating", unit="batch", disable=not progress):
        samples = [dataset[index] for index in range(start, min(start + batch_size, count))]
        depths = predict_with_tta(predictor, [_to_uint8(sample["image"]) for sample in samples], flip_tta, source)
        for sample, depth in zip(samples, depths):
            gt = sample["depth"][0].numpy()
            if (gt > 1e-3).any():
                accumulator.update(depth, gt, dataset=crop, max_depth=max_depth, median_scaling=median_scaling)
    return {"metrics": accumulator.mean(), "images": accumulator.count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mirror_model.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="synthetic-tiny", help="preset, checkpoint directory or Hub repo id")
    parser.add_argument("--untrained", action="store_true", help="same architecture, freshly initialised mirror and decoder")
    parser.add_argument("--mirror-source", default="learned",
                        help="text side: learned, zeros, random, prompt, prompt+mirror")
    parser.add_argument("--data", choices=["synthetic", "nyu", "kitti"], required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--split", default="test", help="synthetic: subfolder of --data-root to use when present")
    parser.add_argument("--split-file", help="BTS test split file (nyu, kitti)")
    parser.add_argument("--gt-root", help="KITTI annotated depth root")
    parser.add_argument("--clip-weights", default=os.environ.get("MIRROR_CLIP_WEIGHTS"), help="local CLIP weights file")
    parser.add_argument("--median-scaling", action="store_true", help="scale each prediction by median(gt)/median(pred)")
    parser.add_argument("--flip-tta", action="store_true", help="average with the horizontally flipped prediction")
    parser.add_argument("--limit", type=int, help="evaluate at most this many images")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", help="write the metrics JSON here")
    args = parser.parse_args(argv)

    from common.depth_metrics import format_metrics_table
    from mirror_model.clip_backbone import WeightsUnavailableError
    from mirror_model.predict import load_predictor

    try:
        predictor = load_predictor(args.model, device=args.device, mirror_source=args.mirror_source,
                                   untrained=args.untrained, clip_weights=args.clip_weights)
        dataset = build_dataset(args.data, args.data_root, args.split, args.split_file, args.gt_root)
        result = evaluate_predictor(predictor, dataset, args.data, args.median_scaling, args.flip_tta, args.limit)
    except (ValueError, FileNotFoundError, WeightsUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    label = f"{args.model}{' (untrained)' if args.untrained else ''} [{args.mirror_source}]"
    report = {
        "model": args.model, "untrained": args.untrained, "mirror_source": args.mirror_source,
        "weights": predictor.info.message, "data": args.data, "data_root": str(args.data_root),
        "median_scaling": args.median_scaling, "flip_tta": args.flip_tta, **result,
    }
    print(predictor.info.message)
    print(format_metrics_table({label: result["metrics"]}))
    print(f"{result['images']} images")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
