"""One frame source for every consumer: a video file or a scene folder, opened once.

    source = open_frames("clip.mp4", target_fps=10, max_frames=200, max_side=480)
    source.fps, source.expected_count, source.has_ground_truth   # known before the first frame
    for frame in source: ...                                     # FrameSample, decoded lazily

The path is checked (and a video probed, a scene folder's JSON read) once, at `open_frames`, so bad
input fails before a model loads; frames are then decoded one at a time, so long clips never sit
in memory. Scene folders (see common.scene_folder) also give ground-truth depth, poses and
intrinsics; a video gets them from `ground_truth=` (a scene folder or .npz, see
common.depth_sequence.open_ground_truth), matched to its frames by index.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from common import scene_folder
from common.camera import scale_intrinsics
from common.depth_io import read_depth_png
from common.depth_sequence import DepthSequence, GroundTruth, check_matches, open_ground_truth
from common.image_io import load_rgb
from common.video_io import VideoInfo, check_frame_size, check_max_side, iter_video, probe_video, resize_max_side, sample_indices_keep

log = logging.getLogger(__name__)


@dataclass
class FrameSample:
    """One frame to analyse; ground truth fields are None for plain videos."""

    index: int  # index in the source (before sampling)
    time_s: float
    rgb: np.ndarray
    depth_gt: np.ndarray | None = None
    pose: np.ndarray | None = None  # 4x4 camera-to-world
    intrinsics: np.ndarray | None = None  # 3x3 K at this frame's (possibly resized) resolution


def sampled_count(count: int, source_fps: float, target_fps: float | None) -> int:
    """How many of `count` frames sample_indices_keep keeps."""
    if count <= 0:
        return 0
    if target_fps is None or target_fps >= source_fps:
        return count
    return int((count - 1) / (source_fps / target_fps)) + 1


@dataclass
class FrameSource:
    """An opened video or scene folder; iterate it (any number of times) for FrameSamples."""

    path: Path
    kind: str  # "video" or "scene"
    source_fps: float
    source_count: int  # frames in the source; 0 when a container does not say
    target_fps: float | None = None
    max_frames: int | None = None
    max_side: int | None = None
    has_ground_truth: bool = False  # depth/ frames (and poses for TAE)
    has_poses: bool = False
    video: VideoInfo | None = None
    ground_truth: GroundTruth | None = None  # a video's separately given ground truth
    _frame_paths: tuple[Path, ...] = ()
    _intrinsics: np.ndarray | None = None
    _poses: tuple[np.ndarray, ...] | None = None
    # Hears of every scene frame skipped as unreadable (a sentence); None: logged as a warning.
    on_skip: Callable[[str], None] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fps(self) -> float:
        """The rate of the frames this source yields."""
        return min(self.target_fps, self.source_fps) if self.target_fps else self.source_fps

    @property
    def available_count(self) -> int | None:
        """How many frames the source holds at the yielded rate, before max_frames; from the
        container's frame count, else estimated from its duration; None when neither is known."""
        if self.source_count > 0:
            return sampled_count(self.source_count, self.source_fps, self.target_fps)
        if self.video is not None and self.video.duration_s > 0:
            return int(self.video.duration_s * self.fps)
        return None

    @property
    def expected_count(self) -> int | None:
        """How many frames iteration yields; None when the container does not say."""
        if self.source_count <= 0:
            return self.max_frames
        count = sampled_count(self.source_count, self.source_fps, self.target_fps)
        return min(count, self.max_frames) if self.max_frames else count

    def __iter__(self) -> Iterator[FrameSample]:
        if self.kind == "scene":
            return self._iter_scene()
        frames = (FrameSample(index, time_s, rgb) for index, time_s, rgb in
                  iter_video(self.video, self.target_fps, self.max_frames, self.max_side))  # fmt: skip
        return frames if self.ground_truth is None else self._with_ground_truth(frames)

    def _with_ground_truth(self, frames: Iterator[FrameSample]) -> Iterator[FrameSample]:
        truth = self.ground_truth
        depths = SequenceCursor(truth.sequence)
        for sample in frames:
            depth = depths.get(sample.index)
            size = sample.rgb.shape[:2]
            if depth.shape != size:  # nearest keeps depth edges sharp (no mixed depths)
                depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            K = scale_intrinsics(truth.intrinsics, truth.sequence.shape, size)
            pose = None if truth.poses is None else truth.poses[sample.index]
            yield FrameSample(sample.index, sample.time_s, sample.rgb, depth, pose, K)

    def _iter_scene(self) -> Iterator[FrameSample]:
        yielded = 0
        depth_scale = scene_folder.folder_depth_scale(self.path)  # read poses.json once, not per frame
        for index, rgb_path in enumerate(self._frame_paths):
            if self.max_frames is not None and yielded >= self.max_frames:
                return
            if not sample_indices_keep(index, self.source_fps, self.target_fps):
                continue
            try:
                rgb = load_rgb(rgb_path)
            except (ValueError, OSError) as error:  # the frame is left out; the pairs around it still count
                self._skipped(f"skipped frame {index} of {self.name} ({error})")
                continue
            full_hw = rgb.shape[:2]
            rgb = resize_max_side(rgb, self.max_side)
            depth_path = self.path / "depth" / f"{rgb_path.stem}.png"
            depth = None
            if depth_path.is_file():
                try:
                    depth = read_depth_png(depth_path, depth_scale)
                except (ValueError, OSError) as error:
                    self._skipped(f"skipped the ground-truth depth of frame {index} of {self.name} ({error}); "
                                  "the frame is measured without it")
                if depth is not None and depth.shape != rgb.shape[:2]:  # nearest keeps depth edges sharp
                    depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
            K = None if self._intrinsics is None else scale_intrinsics(self._intrinsics, full_hw, rgb.shape[:2])
            pose = None if self._poses is None else self._poses[index]
            yield FrameSample(index, index / self.source_fps, rgb, depth, pose, K)
            yielded += 1


    def _skipped(self, message: str) -> None:
        if self.on_skip is not None:
            self.on_skip(message)
        else:
            log.warning(message)


def _check_limits(target_fps: float | None, max_frames: int | None, max_side: int | None) -> None:
    if target_fps is not None and not (np.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"target fps must be a positive number, got {target_fps}")
    if max_frames is not None and max_frames <= 0:
        raise ValueError(f"max frames must be positive, got {max_frames}")
    check_max_side(max_side)


class SequenceCursor:
    """Frames of a DepthSequence fetched by increasing index (frames in between are read and
    dropped, so a video sequence is decoded once); a clear error when the sequence ends too soon."""

    def __init__(self, sequence: DepthSequence):
        self.sequence = sequence
        self._frames = iter(sequence)
        self._index = -1

    def get(self, index: int) -> np.ndarray:
        if index <= self._index:
            raise ValueError(f"{self.sequence.name}: frame {index} was asked for after frame {self._index}")
        for position, frame in self._frames:
            self._index = position
            if position == index:
                return frame
        raise ValueError(f"{self.sequence.name} has {self.sequence.count} depth frames but the video has more "
                         f"(frame {index} has none); give one depth frame per video frame (matched by index)")


def open_frames(
    source: str | Path,
    target_fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
    ground_truth: str | Path | GroundTruth | None = None,
    max_pixels: int | None = -1,
) -> FrameSource:
    """A FrameSource for a video file or a scene folder (decided by what the path is). A video's
    `ground_truth` (a scene folder or .npz, or an opened GroundTruth) gives its frames depth, K and
    poses by index; a scene folder has its own. A video's stated frame size is checked against
    `max_pixels` (-1: the default cap) before a frame is decoded, and its frames, once downscaled
    to `max_side`, must keep common.video_io.MIN_SIDE pixels on each side (an InputError otherwise)."""
    _check_limits(target_fps, max_frames, max_side)
    path = Path(source)
    if scene_folder.is_scene_dir(path):
        if ground_truth is not None:
            raise ValueError(f"{path.name}: a scene folder brings its own ground truth; give separate ground truth with a video file")
        return _open_scene(path, target_fps, max_frames, max_side)
    if path.is_dir():
        raise ValueError(f"{path.name}: a folder but not a scene folder (expected rgb/, depth/, poses.json); "
                         "pass a video file or a scene folder")
    info = probe_video(path, max_pixels)
    check_frame_size(info.width, info.height, max_side, path.name)
    truth = None
    if ground_truth is not None:
        truth = ground_truth if isinstance(ground_truth, GroundTruth) else open_ground_truth(ground_truth)
        check_matches(truth.sequence, info.frame_count, (info.height, info.width))
    return FrameSource(path, "video", info.fps, info.frame_count, target_fps, max_frames, max_side, video=info,
                       has_ground_truth=truth is not None, has_poses=truth is not None and truth.poses is not None,
                       ground_truth=truth)  # fmt: skip


def _open_scene(path: Path, target_fps, max_frames, max_side) -> FrameSource:
    frame_paths = scene_folder.frame_paths(path)
    if not frame_paths:
        raise ValueError(f"{path.name}/rgb holds no .png or .jpg frames")
    names = [p.stem for p in frame_paths]
    intrinsics = scene_folder.read_intrinsics(path)
    poses = None
    pose_record = scene_folder.read_pose_record(path)
    if pose_record is not None:
        if isinstance(pose_record, dict) and pose_record.get("kind") == "scenes":
            raise ValueError(f"{path.name}: holds independent scenes, not a video; write a camera walk with python -m scenes --video")
        poses = scene_folder.parse_poses(pose_record, names)
        if len(poses) != len(frame_paths):
            raise ValueError(f"{path.name}: poses.json has {len(poses)} poses for {len(frame_paths)} frames")
    has_depth = (path / "depth").is_dir() and any((path / "depth" / f"{n}.png").is_file() for n in names)
    return FrameSource(path, "scene", scene_folder.folder_fps(path), len(frame_paths), target_fps, max_frames, max_side,
                       has_ground_truth=has_depth, has_poses=poses is not None, _frame_paths=tuple(frame_paths),
                       _intrinsics=intrinsics, _poses=None if poses is None else tuple(poses))  # fmt: skip
