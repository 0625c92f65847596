"""Where the temporal study's depth comes from: a model, the clip's ground truth, or a depth
sequence made elsewhere (common.depth_sequence), turned into metres when it is relative.

Every source answers `depths(batch of FrameSample) -> list of HxW arrays`, frames matched by index.

Relative depth and disparity are aligned to ground truth with an affine fit (least squares):
relative depth in depth space, disparity in inverse-depth space (then inverted), as video depth
benchmarks do. `align="clip"` fits one scale and shift for the whole clip (a first pass over the
clip; what temporal measures need, since per-frame fits hide scale flicker), `"frame"` one per frame
(hides it: flicker and drift then look better than the model is). Without ground truth relative
values are analysed as they are (unitless; flicker is scale- and shift-invariant, OPW and drift are
relative to mean depth) and disparity is inverted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from common.depth_sequence import DepthSequence, check_matches
from common.frames import FrameSample, FrameSource, SequenceCursor

ALIGNMENTS = ("clip", "frame")
ALIGNMENT_LABELS = {"clip": "per-clip alignment", "frame": "per-frame alignment"}
DEPTH_CAP_FACTOR = 10.0  # aligned depth is capped at this many times the largest true depth (tiny disparities)


def _resized(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != size:
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return depth


class ModelSource:
    """A depth model with `predict(list of RGB) -> list of HxW metres`."""

    is_reference = False

    def __init__(self, predictor: Any, name: str | None = None):
        self.predictor = predictor
        info = getattr(predictor, "info", None)
        self.name = name or getattr(info, "name", None) or "model"
        self.note = getattr(info, "message", None) or ""

    def prepare(self, frames: FrameSource) -> None:
        pass

    def depths(self, batch: list[FrameSample]) -> list[np.ndarray]:
        depths = self.predictor.predict([sample.rgb for sample in batch])
        if len(depths) != len(batch):
            raise ValueError(f"predictor returned {len(depths)} depth maps for {len(batch)} frames")
        return depths


GROUND_TRUTH_NAME = "ground truth"


class GroundTruthSource:
    """The clip's true depth as the prediction: the reference level of every measure for that
    camera motion (flicker and OPW are not 0 when the camera moves: the true depth changes)."""

    is_reference = True
    name = GROUND_TRUTH_NAME
    note = "ground truth used as the prediction (reference level)"

    def prepare(self, frames: FrameSource) -> None:
        if not frames.has_ground_truth:
            raise ValueError("no ground-truth depth: the reference level needs a scene folder with depth/ or separate ground truth")

    def depths(self, batch: list[FrameSample]) -> list[np.ndarray]:
        missing = [sample.index for sample in batch if sample.depth_gt is None]
        if missing:
            raise ValueError(f"frame {missing[0]} has no ground-truth depth: the reference needs a scene folder with depth/ "
                             "or separate ground truth")
        return [sample.depth_gt for sample in batch]


@dataclass
class _Sums:
    """Running least-squares sums for one affine fit y ~ s x + b (memory flat in clip length)."""

    n: float = 0.0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    sxy: float = 0.0
    y_max: float = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        x, y = x.astype(np.float64), y.astype(np.float64)
        self.n += x.size
        self.sx += x.sum()
        self.sy += y.sum()
        self.sxx += np.dot(x, x)
        self.sxy += np.dot(x, y)

    def fit(self) -> tuple[float, float]:
        if self.n < 2:
            raise ValueError("no pixels where both the depth sequence and ground truth are valid: cannot align")
        mx, my = self.sx / self.n, self.sy / self.n
        var = self.sxx / self.n - mx * mx
        if var <= 1e-12 * max(mx * mx, 1e-12):
            return 1.0, my - mx
        scale = (self.sxy / self.n - mx * my) / var
        return float(scale), float(my - scale * mx)


@dataclass
class SequenceSource:
    """A depth sequence for the same clip, matched by frame index. `align` ("clip" or "frame")
    applies to relative and disparity values when the clip has ground truth."""

    sequence: DepthSequence
    align: str = "clip"
    name: str = ""
    min_depth: float = 1e-3
    is_reference: bool = field(default=False, init=False)
    alignment: str = field(default="", init=False)  # what was done, in words (set by prepare)
    _cursor: SequenceCursor | None = field(default=None, init=False, repr=False)
    _clip_fit: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _cap: float = field(default=np.inf, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.align not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {self.align!r}: use one of {', '.join(ALIGNMENTS)}")
        self.name = self.name or self.sequence.name

    @property
    def relative(self) -> bool:
        return self.sequence.values != "metric"

    @property
    def note(self) -> str:
        return f"depth sequence {self.sequence.name} ({self.sequence.count} frames, {self.sequence.values}); {self.alignment}"

    def prepare(self, frames: FrameSource) -> None:
        """Checks the sequence against the clip; fits the per-clip alignment (one pass) when needed."""
        info = frames.video
        if info is not None:
            check_matches(self.sequence, info.frame_count, (info.height, info.width))
        elif frames.source_count:
            first = next(iter(frames))
            check_matches(self.sequence, frames.source_count, first.rgb.shape[:2])
        self._cursor = None
        if not self.relative:
            self.alignment = "metric depth, used as it is"
        elif not frames.has_ground_truth:
            self.alignment = ("relative depth without ground truth: analysed as it is (unitless)" if self.sequence.values == "relative"
                              else "disparity without ground truth: inverted, analysed as relative depth (unitless)")
        elif self.align == "frame":
            self.alignment = f"{self.sequence.values} aligned to ground truth per frame (scale and shift)"
        else:
            sums, cursor = _Sums(), SequenceCursor(self.sequence)
            for sample in frames:
                raw = _resized(cursor.get(sample.index), sample.rgb.shape[:2])
                if sample.depth_gt is not None:
                    x, y = self._fit_pairs(raw, sample.depth_gt)
                    sums.add(x, y)
                    sums.y_max = max(sums.y_max, float(sample.depth_gt.max()))
            self._clip_fit = sums.fit()
            self._cap = DEPTH_CAP_FACTOR * sums.y_max
            self.alignment = f"{self.sequence.values} aligned to ground truth once for the clip (scale and shift)"

    def _fit_pairs(self, raw: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = (raw > 0) & np.isfinite(gt) & (gt > self.min_depth)
        target = gt[valid] if self.sequence.values == "relative" else 1.0 / gt[valid]
        return raw[valid], target

    def depths(self, batch: list[FrameSample]) -> list[np.ndarray]:
        if self._cursor is None:
            self._cursor = SequenceCursor(self.sequence)
        return [self._to_depth(_resized(self._cursor.get(sample.index), sample.rgb.shape[:2]), sample) for sample in batch]

    def _to_depth(self, raw: np.ndarray, sample: FrameSample) -> np.ndarray:
        values = self.sequence.values
        if values == "metric":
            return raw
        valid = raw > 0
        if sample.depth_gt is None or not self.alignment.startswith(values + " aligned"):
            if values == "relative":
                return raw
            return np.where(valid, 1.0 / np.maximum(raw, 1e-12), 0.0).astype(np.float32)
        if self.align == "clip":
            scale, shift = self._clip_fit
            cap = self._cap
        else:
            sums = _Sums()
            sums.add(*self._fit_pairs(raw, sample.depth_gt))
            scale, shift = sums.fit()
            cap = DEPTH_CAP_FACTOR * float(sample.depth_gt.max())
        aligned = scale * raw.astype(np.float64) + shift
        if values == "relative":
            depth = np.where(valid & (aligned > 0), aligned, 0.0)
        else:
            depth = np.where(valid & (aligned > 0), 1.0 / np.maximum(aligned, 1e-12), 0.0)
        return np.minimum(depth, cap).astype(np.float32)


def sequence_sources(sequence: DepthSequence, align: str, has_ground_truth: bool, name: str | None = None) -> list[SequenceSource]:
    """The source(s) for one sequence: relative values with ground truth and align="both" give two
    (per-clip and per-frame alignment), because the choice changes the temporal measures."""
    name = name or sequence.name
    if align == "both":
        if sequence.values != "metric" and has_ground_truth:
            return [SequenceSource(sequence, a, f"{name} · {ALIGNMENT_LABELS[a]}") for a in ALIGNMENTS]
        align = "clip"
    return [SequenceSource(sequence, align, name)]
