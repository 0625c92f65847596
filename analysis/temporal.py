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
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from analysis.flow import FLOW_METHODS, flow_between, flow_image, flow_pair
from analysis.plots import comparison_figure, comparison_figure_mpl, save_plotly_html
from analysis.temporal_metrics import Pixels, fit_pixels, fit_scale_shift, flicker, flicker_pixels, opw_pair, static_mask, tae_pair
from analysis.temporal_sources import GroundTruthSource, ModelSource, sequence_sources
from common.depth_metrics import compute_depth_metrics
from common.depth_sequence import POLARITIES, VALUE_KINDS, open_depth_sequence
from common.frames import FrameSample, FrameSource, open_frames
from common.jsonio import json_safe
from common.validate import number_argument
from common.video_io import VideoWriter, side_by_side

# Default limits, shared by the command line and the app's video tab (the CLI's flags lift them).
VIDEO_MAX_FRAMES = 240
VIDEO_MAX_SIDE = 640
VIDEO_MAX_DURATION_S = 120.0
FLOW_MAX_SIDE = 160  # docs/analysis.md: OPW within a stated tolerance of full-size flow, at a fraction of the time
RECORD_FIELDS = ("index", "time_s", "mean_depth", "flicker", "opw", "median_ratio", "drift_scale", "drift_shift",
                 "scale_to_gt", "tae", "abs_rel", "d1")  # fmt: skip
CURVE_FIELDS = ("flicker", "opw", "median_ratio", "scale_to_gt", "tae", "abs_rel")


@dataclass
class TemporalConfig:
    flow_method: str = "dis"  # "dis" (fast) or "farneback"
    flow_max_side: int | None = FLOW_MAX_SIDE  # optical flow on frames downscaled to this (None: full size)
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
        if self.flow_max_side is not None and self.flow_max_side < 16:
            raise ValueError(f"flow size must be at least 16 px (or None for full size), got {self.flow_max_side}")
        if self.tae_align not in ("none", "frame"):
            raise ValueError(f"unknown TAE alignment {self.tae_align!r}: use 'none' or 'frame'")


@dataclass
class TemporalResult:
    records: list[dict[str, float]]
    summary: dict[str, Any]
    by_source: dict[str, TemporalResult] = field(default_factory=dict)  # a comparison: every source's result


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
    # A frame's pixels prepared for the flicker and drift fits, kept while every pixel holds depth.
    _prev_pixels: Pixels | None = field(default=None, init=False, repr=False)
    _first_pixels: Pixels | None = field(default=None, init=False, repr=False)

    def add(self, sample: FrameSample, depth: np.ndarray, flows: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
        """Measures of this frame (and the pair it closes). `flows`: forward and backward optical
        flow between the previous frame and this one, when already computed (shared by sources)."""
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != sample.rgb.shape[:2]:
            raise ValueError(f"frame {sample.index}: depth {depth.shape} is not at the RGB size {sample.rgb.shape[:2]}")
        valid = np.isfinite(depth) & (depth > 0)
        record = {key: _nan() for key in RECORD_FIELDS}
        record.update(index=sample.index, time_s=sample.time_s, mean_depth=float(depth[valid].mean()) if valid.any() else _nan())
        median = np.median(depth[valid]) if valid.any() else None  # used by the ground-truth scale and the drift
        # A model gives depth at every pixel: then the flicker and drift fits of this frame (with the
        # previous, the next and the first frame) all select every pixel, and share one preparation.
        pixels = Pixels.of_every_pixel(depth) if valid.all() else None
        aligned = self._ground_truth_measures(sample, depth, valid, record, median)
        self._drift_measures(depth, valid, record, median, pixels)
        if self._prev is not None and self._prev.rgb.shape == sample.rgb.shape:
            self._pair_measures(sample, depth, aligned, record, flows, pixels)
        self._prev, self._prev_depth, self._prev_aligned, self._prev_pixels = sample, depth, aligned, pixels
        self.records.append(record)
        return record

    def _ground_truth_measures(self, sample: FrameSample, depth: np.ndarray, valid: np.ndarray, record: dict,
                               median: np.floating | None) -> np.ndarray:  # fmt: skip
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
        record["scale_to_gt"] = float(median / np.median(sample.depth_gt[gt_valid]))
        return depth / record["scale_to_gt"] if cfg.tae_align == "frame" else depth

    def _drift_measures(self, depth: np.ndarray, valid: np.ndarray, record: dict, median: np.floating | None,
                        pixels: Pixels | None) -> None:  # fmt: skip
        """Scale (and shift) of this frame relative to the first one."""
        if self._first_depth is None:
            self._first_depth, self._first_pixels = depth, pixels
            self._first_median = float(median) if median is not None else _nan()
            record["median_ratio"] = 1.0
            return
        if median is not None:
            record["median_ratio"] = float(median) / self._first_median
        if pixels is not None and self._first_pixels is not None:  # both frames hold depth everywhere
            if pixels.values.size >= 2:
                record["drift_scale"], record["drift_shift"] = fit_pixels(pixels, self._first_pixels)
            return
        both = valid & np.isfinite(self._first_depth) & (self._first_depth > 0)
        if both.sum() >= 2:
            record["drift_scale"], record["drift_shift"] = fit_scale_shift(depth, self._first_depth, both)

    def _pair_measures(self, sample: FrameSample, depth: np.ndarray, aligned: np.ndarray, record: dict, flows=None,
                       pixels: Pixels | None = None) -> None:  # fmt: skip
        """Flicker, OPW and (with geometry) TAE of the previous frame and this one."""
        cfg, prev = self.config, self._prev
        flow, flow_back = flows if flows is not None else pair_flows(prev, sample, cfg)
        mask = static_mask(flow, cfg.static_motion_px) if cfg.static_only else None
        try:
            if mask is None and pixels is not None and self._prev_pixels is not None:  # every pixel of both frames
                record["flicker"] = flicker_pixels(self._prev_pixels, pixels)
            else:
                record["flicker"] = flicker(self._prev_depth, depth, mask)
        except ValueError:  # e.g. no static pixels in this pair: undefined, left as nan
            pass
        record["opw"] = opw_pair(self._prev_depth, depth, prev.rgb, sample.rgb, flow, flow_back, cfg.opw_alpha)
        if _has_geometry(prev) and _has_geometry(sample):
            record["tae"] = tae_pair(self._prev_aligned, aligned, sample.intrinsics, prev.pose, sample.pose,
                                     prev.depth_gt, sample.depth_gt, cfg.occlusion_tol)  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return summarize_records(self.records, self.config)


def pair_flows(prev: FrameSample, sample: FrameSample, config: TemporalConfig) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward flow of a pair, at the configured flow size."""
    return flow_pair(prev.rgb, sample.rgb, config.flow_method, config.flow_max_side)


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


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
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
MAX_SOURCES = 4  # sources compared on one clip (the ground-truth reference row comes on top)


# ---------------------------------------------------------------- the pipeline
#
# Decoding, optical flow, inference and measuring overlap: a reader thread decodes frames, a flow
# thread computes each pair's flow once (shared by every source), the calling thread runs the
# models batch by batch, and a measuring thread feeds the analysers and the depth video. OpenCV,
# numpy and torch release the interpreter lock in their heavy parts, so the stages run at once.
# Every queue is bounded, so memory stays flat in clip length.

_END = object()
STAGE_JOIN_S = 60.0  # a stage finishes its current frame (decode, flow) well within this once stopped


def read_ahead_bound(batch_size: int) -> int:
    """How many frames the pipeline may decode beyond the batch being predicted: two queues of
    one batch each, plus one frame in the hands of each of the two producer threads and the
    flow thread's previous frame."""
    return 2 * batch_size + 3


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _in_background(items: Iterable, maxsize: int, stop: threading.Event, threads: list[threading.Thread]) -> Iterator:
    """Iterates `items` in a worker thread (appended to `threads`, for the caller to join), at
    most `maxsize` ahead of the consumer; an error in the worker is raised here; `stop` ends the
    worker early, and this iterator with it."""
    results: queue.Queue = queue.Queue(maxsize)

    def work() -> None:
        try:
            for item in items:
                if not _put(results, (True, item), stop):
                    return
            _put(results, (True, _END), stop)
        except BaseException as error:  # handed to the consumer, raised there
            _put(results, (False, error), stop)

    thread = threading.Thread(target=work, daemon=True, name="temporal-stage")
    threads.append(thread)
    thread.start()
    while True:
        try:
            ok, item = results.get(timeout=0.05)
        except queue.Empty:
            if stop.is_set():  # the run was abandoned: no more items will come
                return
            continue
        if not ok:
            raise item
        if item is _END:
            return
        yield item


class _Consumer:
    """Runs `fn` on every put item in a worker thread (bounded queue); close() waits and raises
    the worker's error, if any."""

    def __init__(self, fn: Callable[[Any], None], maxsize: int):
        self._fn, self._queue, self._error = fn, queue.Queue(maxsize), None
        self._thread = threading.Thread(target=self._work, daemon=True, name="temporal-measure")
        self._thread.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._fn(item)
                except BaseException as error:  # raised by put() or close() in the caller
                    self._error = error

    def put(self, item) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self, abort: bool = False) -> None:
        if abort and self._error is None:
            self._error = RuntimeError("aborted")
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None and not abort:
            raise self._error


def analyze_sources(
    frames: Iterable[FrameSample],
    sources: list,
    *,
    config: TemporalConfig | None = None,
    batch_size: int = 8,
    on_depths: Callable[[FrameSample, list[np.ndarray]], None] | None = None,
    progress: bool = True,
    total: int | None = None,
    pipeline: bool = True,
) -> list[TemporalResult]:
    """Every source's depth for every frame, measured as it arrives: one TemporalResult per
    source, in order. Optical flow is computed once per frame pair and shared. `on_depths(frame,
    depths)` sees each frame's depths (one per source, at the frame's size) before they are
    dropped. pipeline=False runs every stage in the calling thread (same numbers, slower)."""
    if batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if not sources:
        raise ValueError("no depth source to analyse: give a model, a depth sequence or ground truth")
    config = config or TemporalConfig()
    analyzers = [TemporalAnalyzer(config) for _ in sources]
    bar = tqdm(total=total, desc="temporal analysis", unit="frame", disable=not progress)

    def with_flows(samples: Iterable[FrameSample]) -> Iterator[tuple[FrameSample, Any]]:
        prev = prev_gray = None
        for sample in samples:
            gray = flow_image(sample.rgb, config.flow_max_side)  # shared by this frame's two pairs
            same_size = prev is not None and prev.rgb.shape == sample.rgb.shape
            yield sample, (flow_between(prev_gray, gray, sample.rgb.shape[:2], config.flow_method) if same_size else None)
            prev, prev_gray = sample, gray

    def measure(batch: list[tuple[FrameSample, Any, list[np.ndarray]]]) -> None:
        for sample, flows, depths in batch:
            for analyzer, depth in zip(analyzers, depths):
                analyzer.add(sample, depth, flows)
            if on_depths is not None:
                on_depths(sample, depths)
            bar.update(1)

    stop = threading.Event()
    stages: list[threading.Thread] = []
    if pipeline:
        items = _in_background(with_flows(_in_background(frames, batch_size, stop, stages)), batch_size, stop, stages)
        consumer = _Consumer(measure, 2)
    else:
        items, consumer = with_flows(frames), None
    try:
        for batch in _batched(items, batch_size):
            samples = [sample for sample, _ in batch]
            per_source = [source.depths(samples) for source in sources]
            done = [(sample, flows, [_fit_to(depths[i], sample.rgb.shape[:2]) for depths in per_source])
                    for i, (sample, flows) in enumerate(batch)]  # fmt: skip
            if consumer is None:
                measure(done)
            else:
                consumer.put(done)
        if consumer is not None:
            consumer.close()
            consumer = None
    finally:
        stop.set()
        if consumer is not None:
            consumer.close(abort=True)
        # No stage may outlive the run: a thread still inside OpenCV at interpreter exit aborts
        # the whole process (SIGABRT) instead of letting the error reach the caller.
        for thread in stages:
            thread.join(STAGE_JOIN_S)
        bar.close()
    if not analyzers[0].records:
        raise ValueError("no frames to analyse (empty video or scene, or max frames 0)")
    return [TemporalResult(analyzer.records, analyzer.summary()) for analyzer in analyzers]


def analyze_stream(
    frames: Iterable[FrameSample],
    predictor: Any,
    *,
    config: TemporalConfig | None = None,
    batch_size: int = 8,
    on_depth: Callable[[FrameSample, np.ndarray], None] | None = None,
    progress: bool = True,
    total: int | None = None,
    pipeline: bool = True,
) -> TemporalResult:
    """One model's study: predict depth batch by batch with `predictor.predict(list of RGB) ->
    list of HxW metres` and measure every frame as it arrives. predictor=None uses each frame's
    ground-truth depth as the prediction: the reference level of every measure for that clip
    (flicker and OPW are not 0 when the camera moves, because the true depth changes).
    `on_depth(frame, depth)` sees each prediction (for writing a video or showing progress) before
    it is dropped; memory does not grow with the video length beyond one small record per frame."""
    source = GroundTruthSource() if predictor is None else ModelSource(predictor)
    on_depths = None if on_depth is None else (lambda sample, depths: on_depth(sample, depths[0]))
    return analyze_sources(frames, [source], config=config, batch_size=batch_size, on_depths=on_depths,
                           progress=progress, total=total, pipeline=pipeline)[0]  # fmt: skip


def write_per_frame_csv(records: list[dict[str, float]], path: str | Path, source: str | None = None) -> Path:
    """Per-frame measures; with `source`, appends to the file with a leading source column."""
    path = Path(path)
    fields = (["source"] if source is not None else []) + list(RECORD_FIELDS)
    new = source is None or not path.exists()
    with path.open("w" if source is None else "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        for record in records:
            row = {k: ("" if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
            writer.writerow(row if source is None else {"source": source, **row})
    return path


def records_to_curves(
    records: list[dict[str, float]], fields: tuple[str, ...] = CURVE_FIELDS
) -> tuple[list[float], dict[str, list[float]]]:
    """(times in s, {measure: per-frame values}) ready for analysis.plots.per_frame_figure."""
    return [r["time_s"] for r in records], {key: [r[key] for r in records] for key in fields}


def comparison_curves(result: TemporalResult) -> tuple[list[float], dict[str, dict[str, list[float]]]]:
    """(times in s, {source: {measure: per-frame values}}) for analysis.plots.comparison_figure."""
    by_source = result.by_source or {"depth": result}
    times = [r["time_s"] for r in result.records]
    return times, {name: records_to_curves(r.records)[1] for name, r in by_source.items()}


def as_sources(predictor: Any) -> list:
    """A predictor (or None: ground truth), a source, or a list of them, as a list of sources."""
    items = predictor if isinstance(predictor, (list, tuple)) else [predictor]
    sources = []
    for item in items:
        if item is None:
            sources.append(GroundTruthSource())
        elif hasattr(item, "depths"):
            sources.append(item)
        else:
            sources.append(ModelSource(item))
    return sources


def _unique_names(sources: list) -> None:
    seen: dict[str, int] = {}
    for source in sources:
        count = seen.get(source.name, 0)
        seen[source.name] = count + 1
        if count:
            source.name = f"{source.name} #{count + 1}"


def run_temporal_study(
    source: str | Path | FrameSource,
    predictor: Any,
    out_dir: str | Path,
    *,
    config: TemporalConfig | None = None,
    target_fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
    ground_truth: str | Path | None = None,
    reference: bool = True,
    batch_size: int = 8,
    write_depth_video: bool = True,
    progress: bool = True,
    pipeline: bool = True,
    on_frame: Callable[[FrameSample, np.ndarray], None] | None = None,
    plot_html: bool = True,
    baseline: Any = None,
) -> TemporalResult:
    """The whole study of a video file or scene folder. `predictor`: a depth model, None (the
    ground truth as the prediction), a source from analysis.temporal_sources, or a list of up to
    four of them to compare. With ground truth (a scene folder's, or `ground_truth=` for a video),
    the ground truth's own scores are added as the reference row unless reference=False.

    Writes summary.json (the first source's measures under the usual keys, every source under
    "sources", the reference under "reference", the table under "measures"), per_frame.csv (first
    source; per_frame_all.csv with a source column when there are several), measures.csv and
    measures.json (the table), temporal_curves.html (plotly) and .png, report.html (one offline
    file: table and curves) and depth_video.mp4 (input | one depth per source).
    `on_frame(frame, depth)` sees the first source's depth (e.g. to keep frames for display).
    `source` may be an already opened FrameSource (then the sampling arguments are its own).
    `plot_html=False` writes the plotly figure as temporal_curves.json (a few kB) instead of a
    self-contained HTML page (about 5 MB, as it carries plotly.js). `baseline`: a source measured
    beside the others as the table's reference level without ground truth (e.g.
    analysis.temporal_baseline.BrightnessSource): in the curves, not in the depth video."""
    from analysis.temporal_report import figure_png, measure_rows, write_html_report, write_measures_csv, write_measures_json

    _warm_plotting()  # the plotting libraries load while the frames are analysed
    frames = source if isinstance(source, FrameSource) else open_frames(source, target_fps, max_frames, max_side, ground_truth)
    sources = as_sources(predictor)
    compared = [s for s in sources if not s.is_reference]
    if len(compared) > MAX_SOURCES:
        raise ValueError(f"{len(compared)} depth sources given; compare at most {MAX_SOURCES} on one clip")
    if reference and frames.has_ground_truth and not any(s.is_reference for s in sources):
        sources.append(GroundTruthSource())
    if baseline is not None:
        sources.append(baseline)
    _unique_names(sources)
    for item in sources:
        item.prepare(frames)
    shown = compared or sources  # what the depth video shows
    primary = sources.index(shown[0])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer: VideoWriter | None = None
    colour_ranges: list[tuple[float, float]] = []

    def on_depths(sample: FrameSample, depths: list[np.ndarray]) -> None:
        nonlocal writer
        if on_frame is not None:
            on_frame(sample, depths[primary])
        if not write_depth_video:
            return
        visible = [depths[sources.index(s)] for s in shown]
        if not colour_ranges:  # fixed colours for the whole video, from each source's first frame
            for depth in visible:
                valid = depth[np.isfinite(depth) & (depth > 0)]
                lo, hi = (np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0))
                colour_ranges.append((float(lo), float(max(hi, lo + 1e-3))))
        if writer is None:
            writer = VideoWriter(out_dir / "depth_video.mp4", frames.fps)
        writer.write(side_by_side(sample.rgb, visible, [r[0] for r in colour_ranges], [r[1] for r in colour_ranges]))

    try:
        results = analyze_sources(frames, sources, config=config, batch_size=batch_size, on_depths=on_depths,
                                  progress=progress, total=frames.expected_count, pipeline=pipeline)  # fmt: skip
    except BaseException:
        if writer is not None:  # no half-written video left behind
            writer.discard()
        raise
    by_name = {s.name: r for s, r in zip(sources, results)}
    result = TemporalResult(results[primary].records, dict(results[primary].summary), by_source=by_name)
    try:
        if writer is not None:
            writer.end_input()  # the encoder finishes its last frames while the figures are drawn
        times, curves = comparison_curves(result)
        if baseline is not None:
            from analysis.temporal_baseline import trim_baseline_curves

            curves = trim_baseline_curves(curves, baseline.name)
        title = f"Temporal consistency: {frames.name}"
        figure = comparison_figure(times, curves, title=title, x_label="time (s)")
        png = figure_png(comparison_figure_mpl(times, curves, title=title, x_label="time (s)"))  # drawn once, used twice
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    ref = next((r for s, r in zip(sources, results) if s.is_reference), None)
    ref_summary = None if ref is None or shown[0].is_reference else _plain(ref.summary)
    base = next((_plain(r.summary) for s, r in zip(sources, results) if s is baseline), None)
    rows = measure_rows({s.name: _plain(r.summary) for s, r in zip(sources, results)
                         if (not s.is_reference or s is shown[0]) and s is not baseline}, ref_summary, base)  # fmt: skip
    described = [{"name": s.name, "note": s.note, "reference": s.is_reference, "summary": _plain(r.summary)}
                 for s, r in zip(sources, results)]  # fmt: skip
    outputs = {"summary": "summary.json", "per_frame": "per_frame.csv", "measures_csv": "measures.csv",
               "measures_json": "measures.json", "report": "report.html", "plot_png": "temporal_curves.png"}  # fmt: skip
    outputs["plot_html" if plot_html else "plot_json"] = "temporal_curves.html" if plot_html else "temporal_curves.json"
    if writer is not None:
        outputs["depth_video"] = "depth_video.mp4"
        result.summary["depth_video_codec"] = writer.codec
        # turbo, near is warm; each panel keeps its source's range from the first frame
        result.summary["depth_video_ranges_m"] = {s.name: [round(v, 3) for v in r] for s, r in zip(shown, colour_ranges)}
        result.summary["depth_video_range_m"] = result.summary["depth_video_ranges_m"][shown[0].name]
    result.summary["source"] = frames.name
    result.summary["model"] = shown[0].note or shown[0].name
    result.summary["sources"] = described
    result.summary["reference"] = ref_summary
    result.summary["measures"] = rows
    write_per_frame_csv(result.records, out_dir / "per_frame.csv")
    if len(sources) > 1:
        (out_dir / "per_frame_all.csv").unlink(missing_ok=True)
        for s, r in zip(sources, results):
            write_per_frame_csv(r.records, out_dir / "per_frame_all.csv", source=s.name)
        outputs["per_frame_all"] = "per_frame_all.csv"
    result.summary["outputs"] = outputs
    (out_dir / "summary.json").write_text(json.dumps(json_safe(result.summary), indent=2, ensure_ascii=False) + "\n")
    write_measures_csv(rows, out_dir / "measures.csv")
    write_measures_json(rows, described, out_dir / "measures.json")
    if plot_html:
        save_plotly_html(figure, out_dir / "temporal_curves.html")
    else:
        figure.write_json(str(out_dir / "temporal_curves.json"))
    (out_dir / "temporal_curves.png").write_bytes(png)
    cfg = config or TemporalConfig()
    flow_note = "at full size" if cfg.flow_max_side is None else f"on frames downscaled to {cfg.flow_max_side} px (longest side)"
    notes = [f"{result.summary['frames']} frames at {frames.fps:g} fps; optical flow ({cfg.flow_method}) {flow_note}.",
             "Measures are defined in the project's docs/analysis.md (temporal consistency of video depth)."]  # fmt: skip
    write_html_report(out_dir / "report.html", title, rows, described, png, notes)
    return result


def _warm_plotting() -> None:
    """Imports matplotlib and plotly in a background thread (about a second the first time), so
    that the figures at the end of a study do not wait for them."""
    def load() -> None:
        import matplotlib.figure  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        import plotly.subplots  # noqa: F401

    threading.Thread(target=load, daemon=True, name="temporal-imports").start()


def _plain(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "config"}


def limit_notes(frames: FrameSource, max_frames: int | None, max_side: int | None) -> list[str]:
    """Plain sentences for the limits that cut a video short or downscale it (empty when none apply)."""
    info = frames.video
    if info is None:
        return []
    notes = []
    wanted = frames.available_count
    if max_frames and wanted is not None and wanted > max_frames:
        notes.append(f"the video has {wanted} frames at {frames.fps:g} fps ({info.duration_s:.0f} s); "
                     f"only the first {max_frames} are analysed (--max-frames lifts the limit, 0 = none)")
    if max_side and max(info.width, info.height) > max_side:
        notes.append(f"frames are {info.width}x{info.height}; they are downscaled to {max_side} px on the longest "
                     "side (--max-side 0 keeps the full size)")
    return notes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.temporal",
        description="Temporal consistency of video depth: flicker, OPW, scale drift, and TAE/AbsRel with ground truth. "
        "Analyses a model, depth made elsewhere (--depth), or up to four of them side by side.",
    )
    parser.add_argument("source", help="a video file, or a scene folder (rgb/, depth/, intrinsics.json, poses.json)")
    parser.add_argument("--model", action="append", default=None,
                        help="depth model preset, checkpoint folder or Hub repo id (repeat to compare; default: synthetic-tiny "
                        f"unless --depth is given); '{GROUND_TRUTH_MODEL}' uses the true depth as the reference level")  # fmt: skip
    parser.add_argument("--depth", action="append", default=None,
                        help="a depth sequence for the same clip, matched by frame index (repeat to compare): a folder of "
                        "16-bit PNGs (mm) or .npy/.npz (m), an .npz/.npy stack (N, H, W), or a grey depth video")  # fmt: skip
    parser.add_argument("--depth-values", choices=VALUE_KINDS, default=None,
                        help="what --depth holds: metric (metres; default for files and stacks), relative depth, or "
                        "disparity / inverse depth (default for videos); relative values are aligned to ground truth")  # fmt: skip
    parser.add_argument("--depth-polarity", choices=POLARITIES, default=None,
                        help="grey depth videos: whether near is dark or bright (default: bright for disparity, dark for depth)")
    parser.add_argument("--align", choices=("clip", "frame", "both"), default="both",
                        help="affine alignment of relative depth to ground truth: one fit per clip, per frame, or both "
                        "as separate rows (default)")  # fmt: skip
    parser.add_argument("--gt", default=None,
                        help="ground truth for a video file: a scene folder (depth/ 16-bit mm PNGs, intrinsics.json, "
                        "poses.json) or an .npz with depth (N,H,W m), K (3x3), poses (N,4,4); frames matched by index")  # fmt: skip
    parser.add_argument("--no-reference", action="store_true", help="skip the ground-truth reference row")
    parser.add_argument("--out", required=True, help="output folder for summary.json, per_frame.csv, report.html, plots and video")
    parser.add_argument("--fps", type=number_argument(minimum=0.001, maximum=1000), default=None,
                        help="sample frames at this rate (default: every frame)")
    parser.add_argument("--max-frames", type=number_argument(minimum=0, integer=True), default=VIDEO_MAX_FRAMES,
                        help=f"analyse at most this many frames (default {VIDEO_MAX_FRAMES}; 0 = no limit)")
    parser.add_argument("--max-side", type=number_argument(minimum=0, integer=True), default=VIDEO_MAX_SIDE,
                        help=f"downscale frames so the longest side is at most this (default {VIDEO_MAX_SIDE}; 0 = full size)")
    parser.add_argument("--batch", type=number_argument(minimum=1, maximum=1024, integer=True), default=8,
                        help="frames per prediction batch (default 8)")
    parser.add_argument("--flow", choices=FLOW_METHODS, default="dis", help="optical flow for OPW and static pixels")
    parser.add_argument("--flow-size", type=int, default=FLOW_MAX_SIDE,
                        help=f"compute optical flow on frames downscaled to this longest side (default {FLOW_MAX_SIDE}; 0: full size)")
    parser.add_argument("--static-only", action="store_true", help="flicker on static pixels only (small optical flow)")
    parser.add_argument("--tae-align", choices=("none", "frame"), default="none",
                        help="scale predictions to ground truth before TAE: none (metric models) or per frame (median)")  # fmt: skip
    parser.add_argument("--sequential", action="store_true", help="no worker threads (same numbers, slower)")
    parser.add_argument("--no-video", action="store_true", help="skip writing depth_video.mp4")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def warn_skipped(message: str) -> None:
    """One `warning:` line on stderr for a skipped frame (above the progress bar)."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = TemporalConfig(flow_method=args.flow, static_only=args.static_only, tae_align=args.tae_align,
                                flow_max_side=args.flow_size or None)  # fmt: skip
        # Bad input fails before a model loads.
        frames = open_frames(args.source, args.fps, args.max_frames or None, args.max_side or None, args.gt)
        for note in limit_notes(frames, args.max_frames, args.max_side):
            print(f"note: {note}", file=sys.stderr)
        frames.on_skip = warn_skipped  # an unreadable frame is skipped with a warning, never the end of the run
        if frames.ground_truth is not None:
            truth = frames.ground_truth
            frames.ground_truth = replace(truth, sequence=replace(truth.sequence, on_skip=warn_skipped))
        sequences = [replace(open_depth_sequence(path, args.depth_values, args.depth_polarity), on_skip=warn_skipped)
                     for path in args.depth or []]  # fmt: skip
        models = args.model or ([] if sequences else ["synthetic-tiny"])
        sources: list = []
        for spec in models:
            if spec == GROUND_TRUTH_MODEL:
                sources.append(GroundTruthSource())
            else:
                from mirror_model.predict import load_predictor

                sources.append(ModelSource(load_predictor(spec=spec), name=spec))
        for sequence in sequences:
            sources += sequence_sources(sequence, args.align, frames.has_ground_truth)
        result = run_temporal_study(frames, sources, args.out, config=config, batch_size=args.batch,
                                    reference=not args.no_reference, write_depth_video=not args.no_video,
                                    progress=not args.quiet, pipeline=not args.sequential)  # fmt: skip
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from analysis.temporal_report import markdown_table

    shown = {k: v for k, v in result.summary.items() if k not in ("config", "outputs", "sources", "measures", "reference")}
    print(json.dumps(json_safe(shown), indent=2, ensure_ascii=False))
    print(markdown_table(result.summary["measures"]))
    print(f"wrote {', '.join(result.summary['outputs'].values())} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
