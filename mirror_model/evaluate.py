"""Evaluate a depth model on NYU, KITTI or the procedural scenes; the one evaluation path, used by
training validation (model selection) too.

    python -m mirror_model.evaluate --model synthetic-tiny --data synthetic --data-root data/scenes --out metrics.json
    python -m mirror_model.evaluate --model runs/nyu/best --data nyu --data-root nyu/official_splits/test \
        --split-file splits/nyu_test.txt --flip-tta --out nyu.json

Protocol (docs/mirror-depth.md, "Evaluation protocol"): metrics from common.depth_metrics (AbsRel, SqRel, RMSE,
RMSE log, log10, SILog, δ1/δ2/δ3), averaged per image as BTS does; NYU: Eigen crop and 10 m cap;
KITTI: Garg crop and 80 m cap, applied to the 352x1216 benchmark crop (the AdaBins convention) or,
with `--garg-frame full`, to the full frame with the prediction pasted back (the BTS convention);
min depth 1e-3. Geometry: the predictor's (mirror_model.predict: by default one pass at the frame's
own patch grid; `--geometry` picks another), with `--scale native` for NYU/KITTI, whose training
crops are taken at native resolution (whole frames then go through at their own size, as BTS and
AdaBins evaluate), and `fit` otherwise. DepthCLIP zero-shot models on NYU: a
416x544 crop is predicted and pasted back, evaluated where it lies inside the Eigen crop, with
flip averaging always on, as published. `--untrained` evaluates the same architecture with freshly
initialised mirror and decoder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from common.depth_metrics import MetricAccumulator, format_metrics_table

from .data import MAX_DEPTH, build_dataset
from .predict import DEFAULT_GEOMETRY, GEOMETRIES

# DepthCLIP's NYU input: a 416x544 crop of the 480x640 frame (centred here), pasted back after.
DEPTHCLIP_NYU_CROP = (32, 48, 416, 544)  # top, left, height, width
GARG_FRAMES = ("kb-crop", "full")


def _to_uint8(image) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def predict_with_tta(predictor, frames: list[np.ndarray], flip_tta: bool, source: str | None = None,
                     scale: str = "fit") -> list[np.ndarray]:
    """Depth per frame; with flip TTA, the mean of the frame's and its mirror image's prediction."""
    depths = predictor.predict(frames, source=source, scale=scale)
    if not flip_tta:
        return depths
    flipped = predictor.predict([np.ascontiguousarray(frame[:, ::-1]) for frame in frames], source=source, scale=scale)
    return [0.5 * (depth + other[:, ::-1]) for depth, other in zip(depths, flipped)]


def default_scale(data_kind: str) -> str:
    """NYU and KITTI models train on native-resolution crops; procedural scenes fit the window."""
    return "native" if data_kind in ("nyu", "kitti") else "fit"


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
    scale: str | None = None,
    garg_frame: str = "kb-crop",
) -> dict:
    """Mean metrics over the dataset's images that have ground truth, plus the count and the protocol.

    `dataset` yields full frames (KITTI: the 352x1216 benchmark crop, or the full frame for
    garg_frame="full", where the benchmark crop is predicted and pasted back)."""
    from tqdm import tqdm

    if garg_frame not in GARG_FRAMES:
        raise ValueError(f"garg frame must be one of {GARG_FRAMES}, got {garg_frame!r}")
    scale = scale or default_scale(data_kind)
    crop = data_kind if data_kind in ("nyu", "kitti") else None
    max_depth = MAX_DEPTH.get(data_kind, predictor.max_depth)
    depthclip_nyu = predictor.kind == "zeroshot" and data_kind == "nyu"
    flip_tta = flip_tta or depthclip_nyu  # DepthCLIP always averages with the flipped image
    accumulator = MetricAccumulator()
    count = len(dataset) if limit is None else min(limit, len(dataset))
    for start in tqdm(range(0, count, batch_size), desc="evaluating", unit="batch", disable=not progress):
        samples = [dataset[index] for index in range(start, min(start + batch_size, count))]
        frames = [_to_uint8(sample["image"]) for sample in samples]
        boxes = [_input_box(frame.shape[:2], data_kind, depthclip_nyu, garg_frame) for frame in frames]
        inputs = [frame[t : t + h, left : left + w] for frame, (t, left, h, w) in zip(frames, boxes)]
        depths = predict_with_tta(predictor, inputs, flip_tta, source, scale)
        for sample, depth, (t, left, h, w) in zip(samples, depths, boxes):
            gt = sample["depth"][0].numpy()
            if (t, left, h, w) != (0, 0, *gt.shape):  # paste back; pixels outside are not evaluated
                pasted = np.zeros_like(gt)
                pasted[t : t + h, left : left + w] = depth
                inside = np.zeros(gt.shape, bool)
                inside[t : t + h, left : left + w] = True
                depth, gt = pasted, np.where(inside, gt, 0.0)
            if (gt > 1e-3).any():
                accumulator.update(depth, gt, dataset=crop, max_depth=max_depth, median_scaling=median_scaling)
    protocol = {"data": data_kind, "scale": scale, "geometry": predictor.geometry, "input_size": list(predictor.input_size),
                "flip_tta": flip_tta,
                "median_scaling": median_scaling, "crop": {"nyu": "Eigen", "kitti": f"Garg on {garg_frame}"}.get(data_kind, "none"),
                "cap_m": max_depth, "input_crop": list(DEPTHCLIP_NYU_CROP) if depthclip_nyu else None}  # fmt: skip
    return {"metrics": accumulator.mean(), "images": accumulator.count, "protocol": protocol}


def _input_box(shape: tuple[int, int], data_kind: str, depthclip_nyu: bool, garg_frame: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the part of a frame the model sees."""
    height, width = shape
    if depthclip_nyu and (height, width) == (480, 640):
        return DEPTHCLIP_NYU_CROP
    if data_kind == "kitti" and garg_frame == "full" and height >= 352 and width >= 1216:
        return (height - 352, (width - 1216) // 2, 352, 1216)  # the benchmark crop, bottom-centred
    return (0, 0, height, width)


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
    parser.add_argument("--scale", choices=("native", "fit"), help="geometry (default: native for nyu/kitti, fit otherwise)")
    parser.add_argument("--geometry", default=DEFAULT_GEOMETRY, choices=GEOMETRIES,
                        help="how frames meet the model (mirror_model.predict): grid = one pass at the frame's own patch grid")
    parser.add_argument("--garg-frame", choices=GARG_FRAMES, default="kb-crop",
                        help="KITTI: apply the Garg crop to the 352x1216 benchmark crop (AdaBins) or the full frame (BTS)")
    parser.add_argument("--limit", type=int, help="evaluate at most this many images")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", help="write the metrics JSON here")
    args = parser.parse_args(argv)

    from mirror_model.clip_backbone import WeightsUnavailableError
    from mirror_model.predict import load_predictor

    try:
        predictor = load_predictor(args.model, device=args.device, mirror_source=args.mirror_source,
                                   untrained=args.untrained, clip_weights=args.clip_weights, geometry=args.geometry)
        dataset = build_dataset(args.data, args.data_root, args.split, args.split_file, args.gt_root,
                                benchmark_crop=args.garg_frame == "kb-crop")
        result = evaluate_predictor(predictor, dataset, args.data, args.median_scaling, args.flip_tta, args.limit,
                                    scale=args.scale, garg_frame=args.garg_frame)
    except (ValueError, FileNotFoundError, WeightsUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    label = f"{args.model}{' (untrained)' if args.untrained else ''} [{args.mirror_source}]"
    report = {
        "model": args.model, "untrained": args.untrained, "mirror_source": args.mirror_source,
        "weights": predictor.info.message, "data": args.data, "data_root": str(args.data_root),
        **result,
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
