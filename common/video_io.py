"""Video in and out with OpenCV: frame sampling, resizing, browser-playable mp4, side-by-side frames."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from common.depth_io import colorize_depth
from common.validate import InputError, check_pixels, default_max_pixels

MIN_FPS = 1.0  # stated rates below this are refused: a container's time scale patched to 1 says 0.001 fps, and the
# writer's encoder cannot take such a time base (ffmpeg: "encoder timebase is not set")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def _open_capture(path: str | Path) -> cv2.VideoCapture:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {path.name}")
    if not path.is_file():
        raise ValueError(f"{path.name} is not a file: pass a video file (mp4, avi, mov, ...)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"{path.name}: cannot be opened as a video (corrupt file or unsupported format)")
    return cap


def probe_video(path: str | Path, max_pixels: int | None = -1) -> VideoInfo:
    """Frame rate, frame count and size of a video; raises ValueError when no frame can be decoded,
    and an InputError in plain words for a stated rate under MIN_FPS.
    `max_pixels` caps the frame size the container states, checked before the first frame is
    decoded (-1: common.validate's default cap; None or 0: no cap)."""
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    cap = _open_capture(path)
    try:
        stated = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        check_pixels(*stated, max_pixels, f"the frames of {Path(path).name}")
        ok, frame = cap.read()
        if (not ok or frame is None) and min(stated) > 0 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 0:
            raise InputError(f"The video {Path(path).name} holds no frames (it is {stated[0]}x{stated[1]}, 0 frames long). "
                             "Upload a video with at least two frames.")  # a valid container, not a damaged one
        if not ok or frame is None:
            raise ValueError(f"{Path(path).name}: no decodable video frame (corrupt file or not a video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        height, width = frame.shape[:2]
    finally:
        cap.release()
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 30.0  # some containers carry no usable rate; 30 fps is the common default
    if fps < MIN_FPS:
        raise InputError(f"The video {Path(path).name} states {fps:.3g} frames per second; the analysis needs at least "
                         f"{MIN_FPS:g} (its times, optical flow and the depth video it writes assume a moving picture). "
                         "Re-encode it at its playback rate and upload it again.")
    return VideoInfo(str(path), fps, max(count, 0), width, height)


MIN_SIDE = 16  # smallest max_side: smaller frames leave optical flow (DIS needs 12 px) nothing to work with
FLOW_MIN_SIDE = 12  # DIS optical flow fails on frames with a side under this


def check_frame_size(width: int, height: int, max_side: int | None, name: str = "the video") -> None:
    """An InputError when frames of width x height, downscaled so that the longest side is at most
    `max_side` (as resize_max_side does), would be under FLOW_MIN_SIDE pixels on a side."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    short = max(1, round(min(width, height) * scale))
    if short < FLOW_MIN_SIDE:
        cut = f"; downscaled to {max_side} px on the longest side they would be {short} px" if scale < 1.0 else ""
        raise InputError(f"The frames of {name} are {width}x{height} pixels{cut}: too small for optical flow, which needs "
                         f"at least {FLOW_MIN_SIDE} px on each side. Use a larger frame size or a less elongated video.")


def check_max_side(max_side: int | None) -> None:
    if max_side is not None and max_side < MIN_SIDE:
        raise ValueError(f"max side must be at least {MIN_SIDE} pixels, got {max_side}")


def resize_max_side(image: np.ndarray, max_side: int | None, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Downscale so the longest side is at most max_side (never upscales)."""
    if max_side is None:
        return image
    check_max_side(max_side)
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=interpolation)


def sample_indices_keep(index: int, source_fps: float, target_fps: float | None) -> bool:
    """Whether source frame `index` is kept when resampling source_fps to target_fps.

    A frame is kept when it is the first one at or after the next target time stamp, so the output
    rate never exceeds target_fps and frames are spread evenly.
    """
    if target_fps is None or target_fps >= source_fps:
        return True
    step = source_fps / target_fps
    # Keep frame i when floor(i / step) advanced since frame i-1.
    return index == 0 or int(index / step) != int((index - 1) / step)


def read_video_frames(
    path: str | Path,
    target_fps: float | None = None,
    max_frames: int | None = None,
    max_side: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode a video lazily, yielding (source frame index, time in s, RGB uint8 HxWx3).

    target_fps subsamples evenly (never upsamples); max_frames caps the number of yielded frames;
    max_side downscales so the longest side fits. The file is checked before the first frame is
    requested, so a missing or corrupt file fails at the call, with a clear message.
    """
    if target_fps is not None and not (np.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"target fps must be a positive number, got {target_fps}")
    if max_frames is not None and max_frames <= 0:
        raise ValueError(f"max frames must be positive, got {max_frames}")
    check_max_side(max_side)
    return iter_video(probe_video(path), target_fps, max_frames, max_side)


def iter_video(info: VideoInfo, target_fps, max_frames, max_side) -> Iterator[tuple[int, float, np.ndarray]]:
    """The frames of an already probed video (see read_video_frames)."""
    cap = _open_capture(info.path)
    yielded = 0
    index = 0
    try:
        while max_frames is None or yielded < max_frames:
            if not sample_indices_keep(index, info.fps, target_fps):
                if not cap.grab():  # skip without decoding the pixels
                    break
                index += 1
                continue
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield index, index / info.fps, resize_max_side(rgb, max_side)
            yielded += 1
            index += 1
    finally:
        cap.release()


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


# x264's ultrafast preset: a third of veryfast's CPU time at the same quality (crf 20: PSNR within 0.7 dB on the
# study's depth videos, files about twice as large); the encoder runs beside the study, so its CPU time is the cost.
# Frames reach it already in the encoded YUV 4:2:0 (BT.601, limited range, as ffmpeg's own conversion): OpenCV
# converts a 640x360 frame in a tenth of the time ffmpeg's converter takes, and the pipe carries half the bytes.
H264_OPTIONS = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-crf", "20", "-movflags", "+faststart")
ENCODER_WAIT_S = 600.0  # the encoder finishes the last frames (and moves the index to the front) well within this


class VideoWriter:
    """Writes RGB frames to an mp4 one at a time: H.264 (browsers play it) streamed to the ffmpeg
    binary when it is installed, OpenCV's mp4v otherwise. The H.264 encoder runs in ffmpeg's own
    process while the caller produces the next frames, so closing waits only for the last few.

    Frames must all share the first frame's size; odd sizes are padded by one pixel (H.264 needs
    even dimensions). Raises OSError when the encoder cannot write the file or stops early.
    """

    def __init__(self, path: str | Path, fps: float, h264: bool = True):
        if fps <= 0:
            raise ValueError(f"video fps must be positive, got {fps}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = float(fps)
        self.use_h264 = h264 and ffmpeg_available()
        self.codec = "h264" if self.use_h264 else "mp4v"
        self.frame_count = 0
        self._size: tuple[int, int] | None = None
        self._writer: cv2.VideoWriter | None = None
        self._encoder: subprocess.Popen | None = None
        self._encoder_log = None  # ffmpeg's messages, read when it fails
        # Written under another name and renamed when complete, so no half-written video is left.
        self._partial = self.path.with_name(self.path.stem + ".partial.mp4")
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"video frames must be RGB uint8 HxWx3, got {rgb.dtype} with shape {rgb.shape}")
        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        size = (rgb.shape[1], rgb.shape[0])
        if self._closed or (self._encoder is not None and self._encoder.stdin.closed):
            raise ValueError(f"{self.path.name}: no frames can be added after its input ended")
        if self._size is None:
            self._size = size
            self._open()
        elif size != self._size:
            raise ValueError(f"all video frames must have the same size: first {self._size}, now {(w, h)}")
        if self._encoder is not None:
            try:
                self._encoder.stdin.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))
            except (BrokenPipeError, OSError):
                raise OSError(f"the H.264 encoder (ffmpeg) stopped while writing {self.path.name}: {self._encoder_message()}") from None
        else:
            self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frame_count += 1

    def _open(self) -> None:
        if self.use_h264:
            width, height = self._size
            cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}",
                   "-framerate", f"{self.fps:.6g}", "-i", "-", *H264_OPTIONS, "-f", "mp4", str(self._partial)]  # fmt: skip
            self._encoder_log = tempfile.TemporaryFile()
            try:
                self._encoder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._encoder_log)
                return
            except OSError:  # ffmpeg vanished since the check: OpenCV's mp4v instead
                self._encoder_log.close()
                self.use_h264, self.codec = False, "mp4v"
        self._writer = cv2.VideoWriter(str(self._partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
        if not self._writer.isOpened():
            raise OSError(f"could not open {self.path.name} for writing an mp4 video")

    def _encoder_message(self) -> str:
        if self._encoder is not None and self._encoder.poll() is None:
            self._encoder.kill()
            self._encoder.wait()
        self._encoder_log.seek(0)
        lines = self._encoder_log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {self._encoder.returncode}"

    def end_input(self) -> None:
        """No more frames: the encoder finishes the last ones in its own process while the caller
        goes on; close() then waits for it. Optional (close() ends the input too)."""
        if self._encoder is not None and not self._encoder.stdin.closed:
            try:
                self._encoder.stdin.close()
            except (BrokenPipeError, OSError):  # the encoder stopped early: close() reports it
                pass

    def close(self) -> Path:
        """Finishes the file (waits for the encoder) and returns its path."""
        if self._closed:
            return self.path
        if self._size is None:
            raise ValueError(f"no frames were written to {self.path}")
        if self._encoder is not None:
            self.end_input()
            encoder, self._encoder = self._encoder, None
            try:
                status = encoder.wait(ENCODER_WAIT_S)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                status = None
            if status != 0:
                self._encoder = encoder
                message = self._encoder_message()
                self.discard()
                raise OSError(f"the H.264 encoder (ffmpeg) failed on {self.path.name}: {message}")
            self._encoder_log.close()
        elif self._writer is not None:
            self._writer.release()
            self._writer = None
        self._partial.replace(self.path)
        self._closed = True
        return self.path

    def discard(self) -> None:
        """Stop writing and delete what was written (after an error)."""
        if self._encoder is not None:
            self._encoder.kill()
            self._encoder.wait()
            self._encoder = None
        if self._encoder_log is not None:
            self._encoder_log.close()
            self._encoder_log = None
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._partial.is_file():
            self._partial.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._encoder is not None or self._writer is not None:
            if exc_type is None:
                self.close()
            else:
                self.discard()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float, h264: bool = True) -> Path:
    """Write RGB uint8 frames to an mp4 (H.264 when ffmpeg is available, mp4v otherwise)."""
    writer = VideoWriter(path, fps, h264=h264)
    for frame in frames:
        writer.write(frame)
    return writer.close()


def side_by_side(
    rgb: np.ndarray,
    depth_m: np.ndarray | list[np.ndarray],
    vmin: float | list[float] | None = None,
    vmax: float | list[float] | None = None,
    cmap: str = "turbo",
) -> np.ndarray:
    """One frame of RGB | colourised depth (| more depths, for a comparison); each depth is resized
    to the RGB size (fixed vmin/vmax, one per depth when given as lists, keep colours comparable
    across a video)."""
    depths = depth_m if isinstance(depth_m, (list, tuple)) else [depth_m]
    lows = vmin if isinstance(vmin, (list, tuple)) else [vmin] * len(depths)
    highs = vmax if isinstance(vmax, (list, tuple)) else [vmax] * len(depths)
    h, w = rgb.shape[:2]
    panels = [np.asarray(rgb, dtype=np.uint8)]
    for depth, lo, hi in zip(depths, lows, highs):
        colour = colorize_depth(depth, vmin=lo, vmax=hi, cmap=cmap)
        if colour.shape[:2] != (h, w):
            colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_NEAREST)
        panels.append(colour)
    return np.concatenate(panels, axis=1)
