"""Temporal consistency study of video depth: streaming analysis and the command line.

    python -m analysis.temporal VIDEO_OR_SCENE_DIR --model synthetic-tiny --out runs/temporal

Frames are decoded, predicted batch by batch and measured one pair at a time; only the previous
frame (and the first depth, for drift) stay in memory. Measures are defined in
analysis/temporal_metrics.py. A scene folder with depth/ and poses.json also gets TAE and per-frame
AbsRel against ground truth.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from analysis.flow import FLOW_METHODS, optical_flow
from analysis.plots import per_frame_figure, per_frame_figure_mpl, save_matplotlib, save_plotly_html
from analysis.temporal_metrics import fit_scale_shift, flicker, opw_pair, static_mask, tae_pair
from common.depth_metrics import compute_depth_metrics
from common.frames import FrameSample, FrameSource, open_frames
from common.jsonio import json_safe
from common.video_io import VideoWriter, side_by_side

RECORD_FIELDS = ("index", "time_s", "mean_depth", "flicker", "opw", "median_ratio", "drift_scale", "drift_shift",
                 "scale_to_gt", "tae", "abs_rel", "d1")  # fmt: skip
CURVE_FIELDS = ("flicker", "opw", "median_ratio", "scale_to_gt", "tae", "abs_rel")


@dataclass
class TemporalConfig:
    flow_method: str = "dis"  # "dis" (fast) or "farneback"
    static_only: bool = False  # flicker on pixels whose flow is below static_motion_px only
    static_motion_px: float = 0.5
    opw_alpha: float = 50.0  # NVDS's colour weight: exp(-alpha * ||I_t - warp(I_t+1)||^2)
    tae_align: str = "none"  # "none" (metric predictions as they are) or "frame" (median scale to gt per frame)
    occlusion_tol: float = 0.05  # relative depth tolerance of the ground-truth visibility test for TAE
    min_depth: float = 1e-3
    max_depth: float | None = None  # cap for AbsRel (None: no cap)

    def __post_init__(self) -> None:
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {self.flow_method!r}: use one of {', '.join(FLOW_METHODS)}")
        if self.tae_align not in ("none", "frame"):
            raise ValueError(f"unknown TAE alignment {self.tae_align!r}: use 'none' or 'frame'")


@dataclass
class TemporalResult:
    records: list[dict[str, float]]
    summary: dict[str, Any]


def _nan() -> float:
    return float("nan")


@dataclass
class TemporalAnalyzer:
    """Consumes (frame, predicted depth) one at a time and keeps only what the next pair needs."""

    config: TemporalConfig = field(default_factory=TemporalConfig)
    records: list[dict[str, float]] = field(default_factory=list)
    # State carried to the next frame (not constructor arguments).
    _prev: FrameSample | None = field(default=None, init=False, repr=False)
    _prev_depth: np.ndarray | None = field(default=None, init=False, repr=False)
    _prev_aligned: np.ndarray | None = field(default=None, init=False, repr=False)
    _first_depth: np.ndarray | None = field(default=None, init=False, repr=False)
    _first_median: float = field(default=math.nan, init=False, repr=False)

    def add(self, sample: FrameSample, depth: np.ndarray) -> dict[str, float]:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != sample.rgb.shape[:2]:
            raise ValueError(f"frame {sample.index}: depth {depth.shape} is not at the RGB size {sample.rgb.shape[:2]}")
        valid = np.isfinite(depth) & (depth > 0)
        record = {key: _nan() for key in RECORD_FIELDS}
        record.update(index=sample.index, time_s=sample.time_s, mean_depth=float(depth[valid].mean()) if valid.any() else _nan())
        aligned = self._ground_truth_measures(sample, depth, valid, record)
        self._drift_measures(depth, valid, record)
        if self._prev is not None and self._prev.rgb.shape == sample.rgb.shape:
            self._pair_measures(sample, depth, aligned, record)
        self._prev, self._prev_depth, self._prev_aligned = sample, depth, aligned
        self.records.append(record)
        return record

    def _ground_truth_measures(self, sample: FrameSample, depth: np.ndarray, valid: np.ndarray, record: dict) -> np.ndarray:
        """AbsRel, delta1 and scale against ground truth; returns the depth to use for TAE."""
        cfg = self.config
        if sample.depth_gt is None:
            return depth
        gt_valid = np.isfinite(sample.depth_gt) & (sample.depth_gt > cfg.min_depth)
        if not gt_valid.any():
            return depth
        metrics = compute_depth_metrics(depth, sample.depth_gt, min_depth=cfg.min_depth, max_depth=cfg.max_depth)
        record.update(abs_rel=metrics["abs_rel"], d1=metrics["d1"])
        if not valid.any():
            return depth
        record["scale_to_gt"] = float(np.median(depth[valid]) / np.median(sample.depth_gt[gt_valid]))
        return depth / record["scale_to_gt"] if cfg.tae_align == "frame" else depth

    def _drift_measures(self, depth: np.ndarray, valid: np.ndarray, record: dict) -> None:
        """Scale (and shift) of this frame relative to the first one."""
        if self._first_depth is None:
            self._first_depth = depth
            self._first_median = float(np.median(depth[valid])) if valid.any() else _nan()
            record["median_ratio"] = 1.0
            return
        if valid.any():
            record["median_ratio"] = float(np.median(depth[valid])) / self._first_median
        both = valid & np.isfinite(self._first_depth) & (self._first_depth > 0)
        if both.sum() >= 2:
            record["drift_scale"], record["drift_shift"] = fit_scale_shift(depth, self._first_depth, both)

    def _pair_measures(self, sample: FrameSample, depth: np.ndarray, aligned: np.ndarray, record: dict) -> None:
        """Flicker, OPW and (with geometry) TAE of the previous frame and this one."""
        cfg, prev = self.config, self._prev
        flow = optical_flow(prev.rgb, sample.rgb, cfg.flow_method)
        flow_back = optical_flow(sample.rgb, prev.rgb, cfg.flow_method)
        mask = static_mask(flow, cfg.static_motion_px) if cfg.static_only else None
        try:
            record["flicker"] = flicker(self._prev_depth, depth, mask)
        except ValueError:  # e.g. no static pixels in this pair: undefined, left as nan
            pass
        record["opw"] = opw_pair(self._prev_depth, depth, prev.rgb, sample.rgb, flow, flow_back, cfg.opw_alpha)
        if _has_geometry(prev) and _has_geometry(sample):
            record["tae"] = tae_pair(self._prev_aligned, aligned, sample.intrinsics, prev.pose, sample.pose,
                                     prev.depth_gt, sample.depth_gt, cfg.occlusion_tol)  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return summarize_records(self.records, self.config)


def _has_geometry(sample: FrameSample) -> bool:
    return sample.pose is not None and sample.intrinsics is not None and sample.depth_gt is not None


def _finite_mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def summarize_records(records: list[dict[str, float]], config: TemporalConfig | None = None) -> dict[str, Any]:
    """One number per clip for each measure (means over frames; None where not measurable)."""
    column = {key: [r[key] for r in records] for key in RECORD_FIELDS}
    def max_abs_log(values: list[float], reference: float = 1.0) -> float | None:
        logs = [abs(math.log(v / reference)) for v in values if math.isfinite(v) and v > 0]
        return max(logs) if logs else None

    to_gt = [v for v in column["scale_to_gt"] if math.isfinite(v) and v > 0]
    ratios = [v for v in column["median_ratio"] if math.isfinite(v)]
    fitted = [v for v in column["drift_scale"] if math.isfinite(v)]
    summary: dict[str, Any] = {
        "frames": len(records),
        "flicker_mean": _finite_mean(column["flicker"]),
        "flicker_max": max((v for v in column["flicker"] if math.isfinite(v)), default=None),
        "opw_mean": _finite_mean(column["opw"]),
        "median_ratio_max_abs_log": max_abs_log(column["median_ratio"]),
        "median_ratio_range": (max(ratios) - min(ratios)) if ratios else None,
        "drift_scale_last": fitted[-1] if fitted else None,
        "drift_scale_max_abs_log": max_abs_log(column["drift_scale"]),
        # Metric-scale drift: how far the prediction/truth scale wanders from the first frame's.
        "scale_to_gt_drift_max_abs_log": max_abs_log(to_gt, to_gt[0]) if to_gt else None,
        "tae_mean": _finite_mean(column["tae"]),
        "abs_rel_mean": _finite_mean(column["abs_rel"]),
        "d1_mean": _finite_mean(column["d1"]),
    }
    if config is not None:
        summary["config"] = asdict(config)
    return summary


def _batched(items: Iterable[FrameSample], size: int) -> Iterator[list[FrameSample]]:
    batch: list[FrameSample] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _fit_to(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != shape:
        depth = cv2.resize(depth, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return depth


GROUND_TRUTH_MODEL = "ground-truth"


def _ground_truth_of(batch: list[FrameSample]) -> list[np.ndarray]:
    missing = [sample.index for sample in batch if sample.depth_gt is None]
    if missing:
        raise ValueError(f"frame {missing[0]} has no ground-truth depth: '{GROUND_TRUTH_MODEL}' needs a scene folder with depth/")
    return [sample.depth_gt for sample in batch]


def analyze_stream(
    frames: Iterable[FrameSample],
    predictor: Any,
    *,
    config: TemporalConfig | None = None,
    batch_size: int = 8,
    on_depth: Callable[[FrameSample, np.ndarray], None] | None = None,
    progress: bool = True,
    total: int | None = None,
) -> TemporalResult:
    """Predict depth batch by batch with `predictor.predict(list of RGB) -> list of HxW metres` and
    measure every frame as it arrives. predictor=None uses each frame's ground-truth depth as the
    prediction: the reference level of every measure for that clip (flicker and OPW are not 0
    when the camera moves, because the true depth changes). `on_depth(frame, depth)` sees each prediction (for writing a
    video or showing progress) before it is dropped; memory does not grow with the video length
    beyond one small record per frame."""
    if batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    analyzer = TemporalAnalyzer(config or TemporalConfig())
    bar = tqdm(total=total, desc="temporal analysis", unit="frame", disable=not progress)
    try:
        for batch in _batched(frames, batch_size):
            depths = _ground_truth_of(batch) if predictor is None else predictor.predict([sample.rgb for sample in batch])
            if len(depths) != len(batch):
                raise ValueError(f"predictor returned {len(depths)} depth maps for {len(batch)} frames")
            for sample, depth in zip(batch, depths):
                depth = _fit_to(depth, sample.rgb.shape[:2])
                analyzer.add(sample, depth)
                if on_depth is not None:
                    on_depth(sample, depth)
                bar.update(1)
    finally:
        bar.close()
    if not analyzer.records:
        raise ValueError("no frames to analyse (empty video or scene, or max frames 0)")
    return TemporalResult(analyzer.records, analyzer.summary())


def write_per_frame_csv(records: list[dict[str, float]], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RECORD_FIELDS))
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()})
    return path


def records_to_curves(
    records: list[dict[str, float]], fields: tuple[str, ...] = CURVE_FIELDS
) -> tuple[list[float], dict[str, list[float]]]:
    """(times in s, {measure: per-frame values}) ready for analysis.plots.per_frame_figure."""
    return [r["time_s"] for r in records], {key: [r[key] for r in records] for key in fields}


def run_temporal_study(
    source: str | Path | FrameSource,
    predictor: Any,
    out_dir: str | Path,
    *,
    config: TemporalConfig | None = None,
    target_fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
    batch_size: int = 8,
    write_depth_video: bool = True,
    progress: bool = True,
    on_frame: Callable[[FrameSample, np.ndarray], None] | None = None,
) -> TemporalResult:
    """The whole study for a video file or scene folder: summary.json, per_frame.csv,
    temporal_curves.html (plotly), temporal_curves.png (matplotlib) and depth_video.mp4.
    `on_frame(frame, depth)` sees every prediction (e.g. to keep some frames for display).
    `source` may be an already opened FrameSource (then the sampling arguments are its own)."""
    frames = source if isinstance(source, FrameSource) else open_frames(source, target_fps, max_frames, max_side)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer: VideoWriter | None = None
    colour_range: list[float] = []

    def on_depth(sample: FrameSample, depth: np.ndarray) -> None:
        nonlocal writer
        if on_frame is not None:
            on_frame(sample, depth)
        if not write_depth_video:
            return
        if not colour_range:  # fixed colours for the whole video, from the first frame
            valid = depth[np.isfinite(depth) & (depth > 0)]
            lo, hi = (np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0))
            colour_range.extend([float(lo), float(max(hi, lo + 1e-3))])
        if writer is None:
            writer = VideoWriter(out_dir / "depth_video.mp4", frames.fps)
        writer.write(side_by_side(sample.rgb, depth, colour_range[0], colour_range[1]))

    try:
        result = analyze_stream(frames, predictor, config=config, batch_size=batch_size, on_depth=on_depth,
                                progress=progress, total=frames.expected_count)  # fmt: skip
    except BaseException:
        if writer is not None:  # no half-written video left behind
            writer.discard()
        raise
    outputs = {"summary": "summary.json", "per_frame": "per_frame.csv", "plot_html": "temporal_curves.html",
               "plot_png": "temporal_curves.png"}  # fmt: skip
    if writer is not None:
        writer.close()
        outputs["depth_video"] = "depth_video.mp4"
        result.summary["depth_video_codec"] = writer.codec
        result.summary["depth_video_range_m"] = [round(v, 3) for v in colour_range]  # turbo, near is warm
    result.summary["source"] = frames.name
    message = getattr(getattr(predictor, "info", None), "message", None)
    if predictor is None:
        result.summary["model"] = "ground truth used as the prediction (reference level)"
    elif message:
        result.summary["model"] = message
    result.summary["outputs"] = outputs
    write_per_frame_csv(result.records, out_dir / "per_frame.csv")
    (out_dir / "summary.json").write_text(json.dumps(json_safe(result.summary), indent=2) + "\n")
    times, curves = records_to_curves(result.records)
    title = f"Temporal consistency: {frames.name}"
    save_plotly_html(per_frame_figure(times, curves, title=title, x_label="time (s)"), out_dir / "temporal_curves.html")
    save_matplotlib(per_frame_figure_mpl(times, curves, title=title, x_label="time (s)"), out_dir / "temporal_curves.png")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.temporal",
        description="Temporal consistency of video depth: flicker, OPW, scale drift, and TAE/AbsRel for scene folders with ground truth.",
    )
    parser.add_argument("source", help="a video file, or a scene folder (rgb/, depth/, intrinsics.json, poses.json)")
    parser.add_argument("--model", default="synthetic-tiny",
                        help="depth model preset, checkpoint folder or Hub repo id (default: synthetic-tiny); "
                        f"'{GROUND_TRUTH_MODEL}' uses a scene folder's true depth as the reference level")
    parser.add_argument("--out", required=True, help="output folder for summary.json, per_frame.csv, plots and depth_video.mp4")
    parser.add_argument("--fps", type=float, default=None, help="sample frames at this rate (default: every frame)")
    parser.add_argument("--max-frames", type=int, default=None, help="analyse at most this many frames")
    parser.add_argument("--max-side", type=int, default=None, help="downscale frames so the longest side is at most this")
    parser.add_argument("--batch", type=int, default=8, help="frames per prediction batch (default 8)")
    parser.add_argument("--flow", choices=FLOW_METHODS, default="dis", help="optical flow for OPW and static pixels")
    parser.add_argument("--static-only", action="store_true", help="flicker on static pixels only (small optical flow)")
    parser.add_argument("--tae-align", choices=("none", "frame"), default="none",
                        help="scale predictions to ground truth before TAE: none (metric models) or per frame (median)")  # fmt: skip
    parser.add_argument("--no-video", action="store_true", help="skip writing depth_video.mp4")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = TemporalConfig(flow_method=args.flow, static_only=args.static_only, tae_align=args.tae_align)
        if args.batch <= 0:
            raise ValueError(f"--batch must be positive, got {args.batch}")
        frames = open_frames(args.source, args.fps, args.max_frames, args.max_side)  # bad input fails before a model loads
        if args.model == GROUND_TRUTH_MODEL:
            predictor = None
        else:
            from mirror_model.predict import load_predictor

            predictor = load_predictor(spec=args.model)
        result = run_temporal_study(frames, predictor, args.out, config=config, batch_size=args.batch,
                                    write_depth_video=not args.no_video, progress=not args.quiet)  # fmt: skip
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = {k: v for k, v in result.summary.items() if k not in ("config", "outputs")}
    print(json.dumps(json_safe(shown), indent=2))
    print(f"wrote {', '.join(result.summary['outputs'].values())} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
