"""Depth sequences made elsewhere (one reader per format), matched to a clip's frames by index.

    sequence = open_depth_sequence("vda_out/")            # a folder of 16-bit PNGs (mm) or .npy/.npz (m)
    sequence = open_depth_sequence("depth.npz")           # an (N, H, W) stack (also .npy, memory-mapped)
    sequence = open_depth_sequence("depth.mp4", values="disparity", polarity="near-bright")  # grey video
    sequence.count, sequence.shape, sequence.values        # known before the first frame
    for index, raw in sequence: ...                        # float32 HxW, 0 = no value

A sequence may hold only some of a clip's frames (the app's depth downloads hold the analysed
ones): an .npz stack then carries `frame_index` (N,) and `clip_frames`, a folder or .zip of frames
a `frames.json` ({"clip_frames": 24, "fps": 5, "frames": {"frame_000002.png": 2, ...}}), and its
frames come with the clip's frame indices (DepthSequenceWriter writes both).

What the numbers mean is `values`: "metric" (metres), "relative" (depth up to an unknown scale
and shift) or "disparity" (inverse depth up to an unknown scale and shift). Files and stacks are
metric unless told otherwise; videos are relative or disparity, read as intensity in [0, 1]
(8-bit / 255, 16-bit / 65535; a video painted with a known colormap, such as Video Depth
Anything's inferno, is read as the position along that colormap, and a colour video that fits no
known colormap is refused: common.colormap_inverse), turned round by `polarity` so that a larger
value means farther for "relative" and nearer for "disparity". Turning relative values into metres (alignment to
ground truth) is the analysis's job.

Ground truth for a clip (`open_ground_truth`): a scene folder (depth/ 16-bit mm PNGs, intrinsics.json,
poses.json; see common.scene_folder) or one .npz with `depth` (N, H, W metres), `K` (3x3) and
`poses` (N, 4, 4 camera-to-world, OpenCV axes).
"""
from __future__ import annotations

import io
import json
import logging
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from common import scene_folder
from common.colormap_inverse import detect_colormap, invert_colormap
from common.depth_io import (
    DEPTH_SUFFIXES,
    check_map_shape,
    check_stack_header,
    depth_header,
    depth_to_png16,
    iter_stack_frames,
    png_depth_shape,
    read_array_headers,
    read_depth_file,
)
from common.image_io import image_header_size
from common.validate import check_pixels, default_max_pixels
from common.zip_directory import check_zip_directory

log = logging.getLogger(__name__)

VALUE_KINDS = ("metric", "relative", "disparity")
POLARITIES = ("near-dark", "near-bright")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
STACK_SUFFIXES = (".npz", ".npy")
MAX_ZIP_MEMBERS = 5000  # members of an uploaded .zip, counted from its central directory before extracting
MAX_ZIP_BYTES = 2 * 2**30  # their total uncompressed size, from the same directory
MAX_UPLOAD_JSON_BYTES = 2**20  # an uploaded intrinsics.json or poses.json (a 240-frame poses.json is ~70 kB)
FLOAT16_MAX_M = 65504.0  # the largest float16: farther depth is written as this


def natural_key(name: str) -> list:
    """frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class DepthSequence:
    """An opened depth sequence; iterate it (any number of times) for (index, float32 HxW).

    A frame that cannot be read (a damaged file, another size, a stack or video cut short) is
    skipped: it comes as zeros (no depth, so it is left out of every measure) and `on_skip` gets
    a sentence saying which frame and why (without it, the sentence is logged as a warning)."""

    name: str  # the file or folder name, for messages and tables (never a full path)
    kind: str  # "files", "stack" or "video"
    count: int
    shape: tuple[int, int]  # (height, width) of every frame
    values: str  # see VALUE_KINDS
    polarity: str | None = None  # grey videos only
    bit_depth: int | None = None  # grey videos only: 8 or 16
    colormap: str | None = None  # videos painted with a known colormap (common.colormap_inverse); None = grey
    _files: tuple[Path, ...] = ()
    _path: Path | None = None
    max_pixels: int | None = -1  # per frame, from each file's header (-1: common.validate's default cap)
    on_skip: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    # A sequence sampled from a clip: the clip frame of each held frame (increasing) and the
    # clip's frame count; None: the sequence holds every frame, 0, 1, 2, ...
    frame_indices: tuple[int, ...] | None = None
    clip_frames: int | None = None
    fps: float | None = None  # the rate the held frames were sampled at, when the file says

    @property
    def clip_count(self) -> int:
        """Frames of the clip this sequence belongs to (`count` unless it holds only some of them)."""
        return self.clip_frames if self.frame_indices is not None and self.clip_frames else self.count

    def _index(self, position: int) -> int:
        return position if self.frame_indices is None else self.frame_indices[position]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self.kind == "files":
            for position, path in enumerate(self._files):
                index = self._index(position)
                try:
                    frame = self._checked(index, read_depth_file(path, self.max_pixels), path.name)
                except (ValueError, OSError) as error:
                    frame = self._skipped(index, error)
                yield index, frame
        else:
            frames = iter_stack_frames(self._path) if self.kind == "stack" else self._iter_video()
            yield from self._guarded(frames)

    def _guarded(self, frames: Iterator[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """Frames of a stack or video by index; when the source fails, the rest are skipped (one note)."""
        failed = None
        for position in range(self.count):
            index = self._index(position)
            if failed is None:
                try:
                    frame = self._checked(index, np.asarray(next(frames), dtype=np.float32), self.name)
                except StopIteration:
                    failed = self._skipped(index, ValueError(f"{self.name} ends at frame {position} of {self.count}"))
                except (ValueError, OSError) as error:
                    failed = self._skipped(index, error)
                if failed is None:
                    yield index, frame
                    continue
            yield index, failed

    def _skipped(self, index: int, error: Exception) -> np.ndarray:
        message = f"skipped depth frame {index} of {self.name} ({error}); it counts as a frame without depth"
        if self.on_skip is not None:
            self.on_skip(message)
        else:
            log.warning(message)
        return np.zeros(self.shape, dtype=np.float32)

    def _checked(self, index: int, frame: np.ndarray, name: str) -> np.ndarray:
        if frame.shape != self.shape:
            raise ValueError(f"frame {index} ({name}) is {frame.shape[1]}x{frame.shape[0]}, "
                             f"the first is {self.shape[1]}x{self.shape[0]}; every depth frame must have one size")
        frame = np.asarray(frame, dtype=np.float32)
        frame[~np.isfinite(frame)] = 0.0  # in place: the readers hand over frames of their own
        return frame

    def _iter_video(self) -> Iterator[np.ndarray]:
        capture = _open_grey_video(self._path, raw=self.bit_depth == 16)
        try:
            for index in range(self.count):
                ok, frame = capture.read()
                if not ok or frame is None:
                    raise ValueError(f"frame {index} cannot be decoded (the video says it has {self.count})")
                yield _video_values(frame, self.values, self.polarity, self.colormap)
        finally:
            capture.release()


def open_depth_sequence(
    source: str | Path | list[str | Path], values: str | None = None, polarity: str | None = None,
    max_pixels: int | None = -1, name: str | None = None, frame_count: int | None = None,
) -> DepthSequence:
    """A DepthSequence for a folder of depth files, a list of them, an .npz/.npy stack or a grey
    video (decided by what the path is). `values` defaults to "metric" for files and stacks and
    "disparity" for videos; `polarity` (videos only) to the one natural for `values`. `max_pixels`
    caps each frame, read from headers before any frame is decoded (-1: the default cap). `name`
    names a folder or list of files in messages (an uploaded zip's own name, not its folder's).
    `frame_count`, when given, is the clip's: a video whose container states another count is
    refused before any of its frames is decoded (other kinds are counted from headers anyway)."""
    if values is not None and values not in VALUE_KINDS:
        raise ValueError(f"unknown depth values {values!r}: use one of {', '.join(VALUE_KINDS)}")
    if polarity is not None and polarity not in POLARITIES:
        raise ValueError(f"unknown polarity {polarity!r}: use one of {', '.join(POLARITIES)}")
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
        return _open_files(files, name or "uploaded files", values, max_pixels)
    path = Path(source)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DEPTH_SUFFIXES]
        if not files:
            raise ValueError(f"{name or path.name}: holds no depth files (16-bit .png in mm, .npy or .npz in metres)")
        sequence = _open_files(files, name or path.name, values, max_pixels)
        return _with_folder_sampling(sequence, path / INDEX_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"depth sequence not found: {path.name}")
    suffix = path.suffix.lower()
    if suffix in STACK_SUFFIXES:
        shape = depth_header(path).shape  # the header only: nothing is decompressed or loaded here
        if len(shape) == 4 and 1 in (shape[1], shape[-1]):
            raise ValueError(f"{path.name}: squeeze the channel axis first; expected (frames, height, width), got {shape}")
        check_stack_header(path)  # 3-D, and in C order (read frame by frame)
        size = check_map_shape(shape[1:], path.name, max_pixels)
        indices, clip_frames, fps = _stack_sampling(path, int(shape[0]))
        return DepthSequence(path.name, "stack", int(shape[0]), size, values or "metric", _path=path, max_pixels=max_pixels,
                             frame_indices=indices, clip_frames=clip_frames, fps=fps)
    if suffix in VIDEO_SUFFIXES:
        values = values or "disparity"
        if values == "metric":
            raise ValueError(f"{path.name}: a grey video holds relative depth or disparity; say which "
                             "(metric depth needs files or a stack)")
        polarity = polarity or ("near-bright" if values == "disparity" else "near-dark")
        stated = video_header(path, max_pixels)[2]
        if frame_count and stated and stated != frame_count:
            raise SequenceMismatchError(count_mismatch(path.name, stated, frame_count, "video"))
        bit_depth = 16 if _is_16_bit(path, max_pixels) else 8
        capture = _open_grey_video(path, raw=bit_depth == 16, max_pixels=max_pixels)
        try:
            ok, frame = capture.read()
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        if not ok or frame is None:
            if count == 0:
                raise ValueError(f"{path.name}: the video holds no frames; upload a depth video with one frame per video frame")
            raise ValueError(f"{path.name}: no decodable video frame (corrupt file or not a video)")
        colormap = None
        if bit_depth == 8 and frame.ndim == 3 and frame.shape[2] >= 3:
            step = max(1, int(np.ceil(np.sqrt(frame.shape[0] * frame.shape[1] / COLORMAP_SAMPLE_PIXELS))))
            try:
                colormap = detect_colormap(cv2.cvtColor(np.ascontiguousarray(frame[::step, ::step, :3]), cv2.COLOR_BGR2RGB))
            except ValueError as error:
                raise ValueError(f"{path.name}: {error}; upload the depth as a grey video, 16-bit PNGs or an .npz stack") from None
        if count <= 0:
            count = sum(1 for _ in _count_frames(path))
        return DepthSequence(path.name, "video", count, tuple(frame.shape[:2]), values, polarity, bit_depth, colormap,
                             _path=path, max_pixels=max_pixels)
    if suffix in DEPTH_SUFFIXES:
        return _open_files([path], path.name, values, max_pixels)
    raise ValueError(f"{path.name}: a depth sequence is a folder of .png/.npy/.npz frames, an .npz/.npy stack "
                     f"or a grey video ({', '.join(VIDEO_SUFFIXES)})")


def _open_files(files: list[Path], name: str, values: str | None, max_pixels: int | None) -> DepthSequence:
    """The sequence's size comes from the header of its first file whose header reads (nothing is
    decoded here, so the frame count can be checked against the video before any frame is read);
    frames that cannot be read are skipped later, each with a note, unless no header reads."""
    bad = [p.name for p in files if p.suffix.lower() not in DEPTH_SUFFIXES]
    if bad:
        raise ValueError(f"{bad[0]}: depth frames must be 16-bit .png (mm), .npy or .npz (metres)")
    if not files:
        raise ValueError("no depth frames given")
    files = sorted(files, key=lambda p: natural_key(p.name))
    first_error = None
    for path in files:
        try:
            shape = frame_file_shape(path, max_pixels)
        except (ValueError, OSError) as error:
            first_error = first_error or error
            continue
        return DepthSequence(name, "files", len(files), shape, values or "metric", _files=tuple(files),
                             max_pixels=max_pixels)
    if len(files) == 1:
        raise first_error
    raise ValueError(f"none of the {len(files)} depth frames can be read; the first says: {first_error}")


# ---------------------------------------------------------------- what an upload's numbers mean

PNG_FULL_RANGE_M = 65.0  # a 16-bit PNG whose values reach this (65,000 of 65,535 units) was stretched to the full range
UNIT_RANGE_ENDS = (0.05, 0.95)  # array values inside [0, 1] reaching both of these were normalised, not measured
BYTE_RANGE = (200, 255)  # whole-number arrays whose largest value lies here were stretched to 8 bits


def detect_values(sequence: DepthSequence, frames_to_try: int = 3) -> tuple[str, str]:
    """(values, reason): what the numbers of a sequence of files or a stack most likely are, judged
    from the value range of its first readable frame (of the first `frames_to_try`), with a plain
    sentence saying what was seen. Videos are relative by nature: their kind ("disparity" unless
    told) is kept, and the reason says whether they are grey or painted with a colormap.

    Rules (metric depth is never negative, and a measured scene is not exactly normalised):
    negative values; array values inside [0, 1] that reach both below 0.05 and above 0.95 (a scene
    measured in metres is not that close, nor reaches exactly 1 m at its far end); whole numbers
    reaching 200-255 (8-bit); a 16-bit PNG reaching 65 m (the full 16-bit range) → closeness up to
    an unknown scale ("disparity": Depth Anything, MiDaS and Video Depth Anything write that);
    anything else → metres. Raises ValueError when the first frames hold no positive finite value
    (nothing there to compare)."""
    if sequence.kind == "video":
        kind = f"a colour-mapped video ({sequence.colormap}), read through its colormap" if sequence.colormap else \
            f"a grey {sequence.bit_depth or 8}-bit video"
        return sequence.values, f"{sequence.name}: {kind}; its values have no unit"
    quiet = replace(sequence, on_skip=lambda message: None)  # skipped frames are reported once, by the analysis
    empty = (f"{sequence.name} holds no depth in its first frames: every value is 0, negative, NaN or infinite. "
             "Upload the depth sequence itself")
    for position, (_, frame) in enumerate(quiet):
        valid = frame[np.isfinite(frame) & (frame != 0)]
        if valid.size and float(valid.max()) > 0:  # all-negative values are no distances nor closeness either
            break
        if position + 1 >= frames_to_try:
            raise ValueError(empty)
    else:
        raise ValueError(empty)
    low, high = float(valid.min()), float(valid.max())
    png = sequence.kind == "files" and bool(sequence._files) and sequence._files[0].suffix.lower() == ".png"
    seen = f"values {low * 1000:.0f} to {high * 1000:.0f}" if png else f"values {low:.3g} to {high:.3g}"
    whole = bool(np.all(valid == np.round(valid)))
    if low < 0:
        reason = "negative numbers, so not distances"
    elif png and high >= PNG_FULL_RANGE_M:
        reason = "16-bit PNGs stretched to the full range, so not millimetres"
    elif not png and high <= 1.0 and low <= UNIT_RANGE_ENDS[0] and high >= UNIT_RANGE_ENDS[1]:
        reason = "numbers normalised to 0-1, so not metres"
    elif not png and whole and BYTE_RANGE[0] <= high <= BYTE_RANGE[1]:
        reason = "whole numbers up to 255 (an 8-bit picture's range), so not metres"
    else:
        unit = "millimetres" if png else "metres"
        return "metric", f"{sequence.name}: {seen} (first frame), read as distances in {unit}"
    return "disparity", f"{sequence.name}: {seen} (first frame): {reason}; read as closeness of unknown scale (larger is nearer)"


# ---------------------------------------------------------------- sequences sampled from a clip

INDEX_FILE = "frames.json"  # beside a folder's (or a .zip's) depth frames: which clip frame each one is
INDEX_KEY, CLIP_FRAMES_KEY, FPS_KEY = "frame_index", "clip_frames", "fps"  # the same in an .npz stack


def _checked_sampling(indices: list, clip_frames, count: int, name: str) -> tuple[tuple[int, ...], int]:
    """The clip frame indices of a sampled sequence, or a ValueError in words: one whole number per
    held frame, increasing, each inside a clip of `clip_frames` frames."""
    if len(indices) != count:
        raise ValueError(f"{name}: says which clip frame {len(indices)} depth frames belong to, but holds {count}")
    if isinstance(clip_frames, bool) or not isinstance(clip_frames, (int, np.integer)) or clip_frames < 1:
        raise ValueError(f"{name}: the clip's frame count ({CLIP_FRAMES_KEY}) must be a positive whole number")
    if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in indices):
        raise ValueError(f"{name}: clip frame indices must be whole numbers")
    indices = tuple(int(i) for i in indices)
    if any(b <= a for a, b in zip(indices, indices[1:])) or (indices and (indices[0] < 0 or indices[-1] >= clip_frames)):
        raise ValueError(f"{name}: clip frame indices must increase and lie between 0 and {int(clip_frames) - 1}")
    return indices, int(clip_frames)


def _optional_fps(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < value < 1e4:
        raise ValueError(f"{name}: fps must be a positive number")
    return float(value)


def _stack_sampling(path: Path, count: int) -> tuple[tuple[int, ...] | None, int | None, float | None]:
    """(clip frame indices, clip frame count, fps) of an .npz stack that holds frame_index and
    clip_frames beside its depth; (None, None, None) for any other stack. The small arrays are
    read after their headers say they are small."""
    if path.suffix.lower() != ".npz":
        return None, None, None
    headers = read_array_headers(path)
    if INDEX_KEY not in headers:
        return None, None, None
    wanted = {INDEX_KEY: (count,), CLIP_FRAMES_KEY: (), FPS_KEY: ()}
    for key, shape in wanted.items():
        header = headers.get(key)
        if header is None and key != FPS_KEY:
            raise ValueError(f"{path.name}: holds {INDEX_KEY} but not {CLIP_FRAMES_KEY}; give both (or neither)")
        if header is not None and (header.shape != shape or not header.numeric):
            raise ValueError(f"{path.name}: {key} must be {'one number per depth frame' if shape else 'one number'}, "
                             f"got {header.dtype} {header.shape}")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            indices = loaded[INDEX_KEY]
            clip_frames = loaded[CLIP_FRAMES_KEY][()]
            fps = loaded[FPS_KEY][()] if FPS_KEY in headers else None
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):
        raise ValueError(f"{path.name}: not a readable .npz file (cut short or damaged)") from None
    if indices.dtype.kind not in "iu" or np.asarray(clip_frames).dtype.kind not in "iu":
        raise ValueError(f"{path.name}: {INDEX_KEY} and {CLIP_FRAMES_KEY} must hold whole numbers")
    checked, clip = _checked_sampling(indices.tolist(), int(clip_frames), count, path.name)
    return checked, clip, _optional_fps(None if fps is None else float(fps), path.name)


def _with_folder_sampling(sequence: DepthSequence, index_file: Path) -> DepthSequence:
    """`sequence` (a folder's frames) with the clip frame indices its frames.json gives, if any:
    every depth file named once, with its clip frame, and the clip's frame count."""
    if not index_file.is_file():
        return sequence
    from common.jsonio import read_json

    try:
        record = read_json(index_file, max_bytes=MAX_UPLOAD_JSON_BYTES)
    except (ValueError, OSError) as error:
        raise ValueError(f"{sequence.name}: {INDEX_FILE} cannot be read ({error})") from None
    frames = record.get("frames") if isinstance(record, dict) else None
    if not isinstance(frames, dict):
        raise ValueError(f'{sequence.name}: {INDEX_FILE} must hold "frames" (file name: clip frame index) and "clip_frames"')
    names = [path.name for path in sequence._files]
    unknown = sorted(set(names) - set(frames))
    if unknown:
        raise ValueError(f"{sequence.name}: {INDEX_FILE} does not say which clip frame {unknown[0]} is")
    indices, clip = _checked_sampling([frames[n] for n in names], record.get(CLIP_FRAMES_KEY), sequence.count,
                                      f"{sequence.name} ({INDEX_FILE})")
    return replace(sequence, frame_indices=indices, clip_frames=clip,
                   fps=_optional_fps(record.get(FPS_KEY), f"{sequence.name} ({INDEX_FILE})"))


def missing_frames(sequence: DepthSequence, wanted: list[int]) -> list[int]:
    """The clip frames in `wanted` that the sequence holds no depth for (none for a full sequence)."""
    if sequence.frame_indices is None:
        return [i for i in wanted if i >= sequence.count]
    held = set(sequence.frame_indices)
    return [i for i in wanted if i not in held]


class DepthSequenceWriter:
    """A clip's depth written frame by frame as the two files open_depth_sequence reads back
    unchanged: a .zip of 16-bit PNGs in millimetres (common.depth_io.depth_to_png16: 1 mm steps,
    up to 65.535 m) with frames.json, and an .npz with `depth` (N, H, W) float16 metres (about 3
    significant digits: 0.05 % steps), `frame_index` (N,), `clip_frames` and `fps`. Memory holds
    one frame: PNGs go into the zip as they come, float16 frames to a scratch file that becomes
    the .npz's depth member on close()."""

    def __init__(self, zip_path: str | Path, npz_path: str | Path, clip_frames: int, fps: float):
        self.zip_path, self.npz_path = Path(zip_path), Path(npz_path)
        self.clip_frames, self.fps = int(clip_frames), float(fps)
        self.indices: list[int] = []
        self.shape: tuple[int, int] | None = None
        self._scratch = self.npz_path.with_name(self.npz_path.name + ".part")
        self._zip = zipfile.ZipFile(self.zip_path, "w", zipfile.ZIP_STORED)  # PNGs are compressed already
        self._raw = open(self._scratch, "wb")

    def add(self, index: int, depth_m: np.ndarray) -> None:
        """Clip frame `index`'s depth (HxW metres; 0, negative or non-finite: no depth)."""
        depth = np.asarray(depth_m, dtype=np.float32)
        if self.shape is None:
            self.shape = depth.shape
        if depth.shape != self.shape:
            raise ValueError(f"depth frame {index} is {depth.shape}, the first was {self.shape}; a sequence has one size")
        if self.indices and index <= self.indices[-1]:
            raise ValueError(f"depth frame {index} comes after frame {self.indices[-1]}; frames must come in clip order")
        ok, png = cv2.imencode(".png", depth_to_png16(depth))
        if not ok:
            raise OSError("could not encode a depth PNG")
        self._zip.writestr(self._frame_name(index), png.tobytes())
        valid = np.isfinite(depth) & (depth > 0)
        half = np.where(valid, np.minimum(depth, FLOAT16_MAX_M), 0.0).astype("<f2")
        self._raw.write(half.tobytes())
        self.indices.append(int(index))

    @staticmethod
    def _frame_name(index: int) -> str:
        return f"frame_{index:06d}.png"

    def close(self) -> tuple[Path, Path] | None:
        """Finishes both files and returns (zip, npz); None (and no files) when no frame came."""
        self._raw.close()
        if not self.indices:
            self.discard()
            return None
        record = {CLIP_FRAMES_KEY: self.clip_frames, FPS_KEY: self.fps, "units": "16-bit PNGs, millimetres (0 = no depth)",
                  "frames": {self._frame_name(i): i for i in self.indices}}
        self._zip.writestr(INDEX_FILE, json.dumps(record, indent=1) + "\n")
        self._zip.close()
        height, width = self.shape
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f2")), "fortran_order": False,
                  "shape": (len(self.indices), height, width)}
        try:
            with zipfile.ZipFile(self.npz_path, "w", zipfile.ZIP_DEFLATED) as archive:
                with archive.open("depth.npy", "w", force_zip64=True) as member, open(self._scratch, "rb") as raw:
                    np.lib.format.write_array_header_1_0(member, header)
                    shutil.copyfileobj(raw, member, 2**20)
                for key, value in ((INDEX_KEY, np.asarray(self.indices, np.int64)),
                                   (CLIP_FRAMES_KEY, np.asarray(self.clip_frames, np.int64)), (FPS_KEY, np.asarray(self.fps))):
                    buffer = io.BytesIO()
                    np.save(buffer, value, allow_pickle=False)
                    archive.writestr(f"{key}.npy", buffer.getvalue())
        finally:
            self._scratch.unlink(missing_ok=True)
        return self.zip_path, self.npz_path

    def discard(self) -> None:
        """Removes whatever was written (a run that failed leaves no half-written download)."""
        self._raw.close()
        self._zip.close()
        for path in (self._scratch, self.zip_path, self.npz_path):
            path.unlink(missing_ok=True)


def frame_file_shape(path: Path, max_pixels: int | None) -> tuple[int, int]:
    """(height, width) of one depth frame file from its header alone, checked against `max_pixels`
    (an ImageTooLargeError) and for what it holds (a ValueError in words)."""
    if path.suffix.lower() == ".png":
        if image_header_size(path, max_pixels, f"depth map {path.name}") is None and max_pixels:
            raise ValueError(f"{path.name}: not a readable depth image (expected a 16-bit PNG)")
        return png_depth_shape(path)
    return check_map_shape(depth_header(path).shape, path.name, max_pixels)


def _open_grey_video(path: Path, raw: bool = False, max_pixels: int | None = None) -> cv2.VideoCapture:
    """raw=True: frames as the stream stores them (a 16-bit grey stream stays 16-bit). `max_pixels`
    is checked against the size the container states, before the first frame is decoded."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"{path.name}: cannot be opened as a video (corrupt file or unsupported format)")
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        check_pixels(width, height, max_pixels, f"the frames of {path.name}")
    except ValueError:
        capture.release()
        raise
    if raw:
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    return capture


def video_header(path: Path, max_pixels: int | None = None) -> tuple[int, int, int]:
    """(width, height, frame count) of a video as its container states them, nothing decoded
    (count 0 when the container does not say); `max_pixels` as in _open_grey_video."""
    capture = _open_grey_video(path, max_pixels=max_pixels)
    try:
        return (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))))
    finally:
        capture.release()


COLORMAP_SAMPLE_PIXELS = 250_000  # a colormap is recognised on an evenly thinned first frame: the fit is global


def _is_16_bit(path: Path, max_pixels: int | None = None) -> bool:
    """Whether the video's first frame decodes to 16-bit grey (e.g. FFV1 gray16le), read unconverted."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # 8-bit YUV read raw warns; only the dtype matters
    try:
        capture = _open_grey_video(path, raw=True, max_pixels=max_pixels)
        try:
            ok, frame = capture.read()
        finally:
            capture.release()
    finally:
        cv2.utils.logging.setLogLevel(previous)
    return bool(ok) and frame is not None and frame.dtype == np.uint16


def _count_frames(path: Path) -> Iterator[None]:
    capture = _open_grey_video(path)
    try:
        while capture.grab():
            yield None
    finally:
        capture.release()


def _video_values(frame: np.ndarray, values: str, polarity: str, colormap: str | None = None) -> np.ndarray:
    """Intensity in [0, 1] (a grey frame's level, or a colour-mapped BGR frame's position along its
    colormap), turned so that larger means farther (relative) or nearer (disparity)."""
    if colormap is not None:
        value = invert_colormap(cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2RGB), colormap)
    else:
        if frame.ndim == 3:
            frame = frame[..., 0] if frame.shape[2] in (1, 3, 4) else frame.mean(axis=-1)
        full = 65535.0 if frame.dtype == np.uint16 else 255.0
        value = frame.astype(np.float32) / np.float32(full)
    natural = "near-bright" if values == "disparity" else "near-dark"
    if polarity != natural:
        value = np.where(value > 0, 1.0 - value, 0.0).astype(np.float32)
    return value


class SequenceMismatchError(ValueError):
    """A readable depth sequence that cannot belong to the clip (another frame count or shape)."""


def count_mismatch(name: str, count: int, frame_count: int, kind: str = "files") -> str:
    """The sentence for a depth sequence of `count` frames given for a video of `frame_count`. With
    fewer frames than the clip it says how this kind of sequence can name its frames' clip frames
    ("files": a frames.json; "stack": the .npz's frame_index and clip_frames; a video cannot)."""
    frames = "1 depth frame" if count == 1 else f"{count} depth frames"
    subset = ""
    if count < frame_count and kind == "files":
        subset = (f"; for some frames only, add a {INDEX_FILE} that names each file's clip frame, as the Video tab's "
                  "depth download does")
    elif count < frame_count and kind == "stack":
        subset = (f"; for some frames only, store '{INDEX_KEY}' (each depth frame's clip frame) and '{CLIP_FRAMES_KEY}' "
                  "beside 'depth', as the Video tab's .npz download does")
    return (f"{name}: {frames}, but the video has {frame_count} frames; give one depth frame per video frame "
            f"(matched by index){subset}")


def check_matches(sequence: DepthSequence, frame_count: int | None, frame_shape: tuple[int, int]) -> None:
    """A clear error when the sequence cannot belong to a clip of `frame_count` frames of `frame_shape`
    (height, width, before any downscaling): counts must agree, sizes must agree up to a uniform
    scale (a model may work at a lower resolution)."""
    if frame_count and sequence.clip_count != frame_count:
        if sequence.frame_indices is not None:
            raise SequenceMismatchError(f"{sequence.name}: made for a clip of {sequence.clip_count} frames, but the video has "
                                        f"{frame_count} frames; upload it with the video it was made from")
        raise SequenceMismatchError(count_mismatch(sequence.name, sequence.count, frame_count, sequence.kind))
    h, w = sequence.shape
    fh, fw = frame_shape
    if abs(w / h - fw / fh) > 0.01 * fw / fh:
        raise SequenceMismatchError(f"{sequence.name}: depth frames are {w}x{h} but video frames are {fw}x{fh}; "
                         "depth must be at the video's size (or that size scaled evenly)")


def extract_zip(archive: str | Path, destination: str | Path, max_members: int = MAX_ZIP_MEMBERS,
                max_bytes: int = MAX_ZIP_BYTES) -> Path:
    """Unpack an uploaded .zip into `destination` (members may not leave it); returns the folder
    that holds the content (the single top folder when the archive has one). The member count and
    their total uncompressed size are read from the central directory and checked against
    `max_members` and `max_bytes` before anything is written (zipfile never writes more than a
    member's stated size); the member count is read from the archive's end records first
    (common.zip_directory), before ZipFile parses a directory of any size."""
    archive, destination = Path(archive), Path(destination)
    try:
        check_zip_directory(archive, max_members)
        with zipfile.ZipFile(archive) as handle:
            members = handle.infolist()
            if len(members) > max_members:
                raise ValueError(f"{archive.name} holds {len(members)} files; a .zip may hold at most {max_members}")
            unpacked = sum(member.file_size for member in members)
            if unpacked > max_bytes:
                raise ValueError(f"{archive.name} unpacks to {unpacked / 2**20:,.0f} MB; the limit is "
                                 f"{max_bytes / 2**20:,.0f} MB")
            destination.mkdir(parents=True, exist_ok=True)
            root = destination.resolve()
            for member in members:
                target = (destination / member.filename).resolve()
                if root not in target.parents and target != root:
                    raise ValueError(f"{archive.name}: a member points outside the archive ({Path(member.filename).name})")
            handle.extractall(destination)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, RuntimeError):
        raise ValueError(f"{archive.name}: not a readable .zip archive") from None
    expanded = unpacked + _npz_expansion(destination)
    if expanded > max_bytes:  # .npz members are zips too: what their arrays hold counts, not their stored size
        shutil.rmtree(destination, ignore_errors=True)
        raise ValueError(f"{archive.name} unpacks to {expanded / 2**20:,.0f} MB (counting what its .npz files hold); "
                         f"the limit is {max_bytes / 2**20:,.0f} MB")
    entries = [p for p in destination.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else destination


def _npz_expansion(folder: Path) -> int:
    """How many bytes more than their stored size the .npz files under `folder` hold once read,
    from their array headers (nothing is decompressed beyond each header); an unreadable .npz
    counts as stored (it is refused, as a frame, when read)."""
    extra = 0
    for path in folder.rglob("*"):
        if path.suffix.lower() == ".npz" and path.is_file() and not path.is_symlink():
            try:
                held = sum(header.nbytes for header in read_array_headers(path).values())
            except ValueError:
                continue
            extra += max(0, held - path.stat().st_size)
    return extra


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what uploaded depth and ground truth may unpack to, checked before decoding or
    extracting (the app sets its own; the defaults suit local files)."""

    max_pixels: int | None = -1  # per depth frame, from headers (-1: common.validate's default cap)
    zip_members: int = MAX_ZIP_MEMBERS
    zip_bytes: int = MAX_ZIP_BYTES
    json_bytes: int = MAX_UPLOAD_JSON_BYTES
    video_pixels: int | None = None  # per frame of a depth video, from its container (None: max_pixels only)


# ---------------------------------------------------------------- ground truth

@dataclass(frozen=True)
class GroundTruth:
    """Depth (metres), intrinsics and poses for every frame of a clip, read one frame at a time."""

    name: str
    sequence: DepthSequence
    intrinsics: np.ndarray  # 3x3 K at the depth's size
    poses: tuple[np.ndarray, ...] | None  # camera-to-world 4x4 per frame; None: AbsRel only, no TAE

    @property
    def count(self) -> int:
        return self.sequence.count


def open_ground_truth(source: str | Path, max_pixels: int | None = -1) -> GroundTruth:
    """Ground truth from a scene folder (depth/, intrinsics.json, poses.json) or one .npz with
    `depth` (N, H, W metres), `K` (3x3) and `poses` (N, 4, 4); every array's shape is read from
    its header before anything is loaded. `max_pixels` caps each depth frame (-1: the default)."""
    path = Path(source)
    if path.is_dir():
        depth_dir = path / "depth"
        if not depth_dir.is_dir():
            raise ValueError(f"{path.name}: ground truth is a scene folder with depth/ (16-bit PNGs in mm), "
                             "intrinsics.json and poses.json")
        sequence = open_depth_sequence(depth_dir, max_pixels=max_pixels)
        sequence = replace(sequence, name=path.name, values="metric")
        intrinsics = scene_folder.read_intrinsics(path)
        if intrinsics is None:
            raise ValueError(f"{path.name}: intrinsics.json is missing (K, or fx/fy/cx/cy)")
        record = scene_folder.read_pose_record(path)
        poses = None
        if record is not None:
            poses = scene_folder.parse_poses(record, [p.stem for p in sequence._files])
        return _checked_ground_truth(GroundTruth(path.name, sequence, intrinsics, None if poses is None else tuple(poses)))
    if path.suffix.lower() == ".npz" and path.is_file():
        headers = read_array_headers(path)
        if "depth" not in headers or "K" not in headers:
            raise ValueError(f"{path.name}: a ground-truth .npz needs arrays depth (N, H, W metres) and K (3x3), "
                             f"and poses (N, 4, 4) for TAE; it has {', '.join(sorted(headers))}")
        if headers["K"].shape != (3, 3) or not headers["K"].numeric:
            raise ValueError(f"{path.name}: K must be a 3x3 matrix of numbers, got {headers['K'].dtype} {headers['K'].shape}")
        sequence = open_depth_sequence(path, max_pixels=max_pixels)  # the stack's header: (N, H, W)
        poses = None
        if "poses" in headers:
            pose_header = headers["poses"]
            if pose_header.shape != (sequence.count, 4, 4) or not pose_header.numeric:
                raise ValueError(f"{path.name}: poses must be ({sequence.count}, 4, 4) numbers, one per depth frame; "
                                 f"got {pose_header.dtype} {pose_header.shape}")
        with np.load(path, allow_pickle=False) as loaded:  # K and poses only, their sizes checked above
            try:
                intrinsics = scene_folder.parse_intrinsics(loaded["K"])
                if "poses" in headers:
                    poses = scene_folder.parse_poses(loaded["poses"].tolist(), [])
            except (OSError, EOFError, KeyError, zipfile.BadZipFile):
                raise ValueError(f"{path.name}: not a readable .npz file (cut short or damaged)") from None
            except ValueError as error:  # the pose checks name poses.json; here the poses are this file's
                raise ValueError(str(error).replace("poses.json: pose", f"{path.name}: pose", 1)) from None
        return _checked_ground_truth(GroundTruth(path.name, sequence, intrinsics, None if poses is None else tuple(poses)))
    if not path.exists():
        raise FileNotFoundError(f"ground truth not found: {path.name}")
    raise ValueError(f"{path.name}: ground truth is a scene folder (depth/, intrinsics.json, poses.json) "
                     "or an .npz with depth, K and poses")


def _checked_ground_truth(truth: GroundTruth) -> GroundTruth:
    if truth.poses is not None and len(truth.poses) != truth.count:
        frames = "1 depth frame" if truth.count == 1 else f"{truth.count} depth frames"
        poses = "1 pose" if len(truth.poses) == 1 else f"{len(truth.poses)} poses"
        raise ValueError(f"{truth.name}: {poses} for {frames}; give one pose per frame")
    if truth.sequence.values != "metric":
        raise ValueError(f"{truth.name}: ground truth must be metric depth")
    return truth


# ---------------------------------------------------------------- uploads (several files at once)

FRAME_SUFFIXES = DEPTH_SUFFIXES  # loose depth frames


def open_uploaded_sequences(paths: list[str | Path], workdir: str | Path, values: str | None = None,
                            polarity: str | None = None, limits: UploadLimits = UploadLimits(),
                            frame_count: int | None = None) -> list[DepthSequence]:  # fmt: skip
    """Depth sequences from a set of uploaded files: loose frames (.png/.npy, and .npz files that
    hold one HxW map) together form one sequence, ordered by name; every .zip (of a folder of
    frames), stack (.npz/.npy with N, H, W) and grey video is one sequence of its own. Sizes are
    checked against `limits` from headers and the zip directory before anything is decoded; a
    video's frame size (against `limits.video_pixels`) and, given the clip's `frame_count`, its
    frame count from its container, before any of its frames is decoded."""
    workdir = Path(workdir)
    frames, sequences = [], []
    for number, path in enumerate(Path(p) for p in paths):
        suffix = path.suffix.lower()
        if suffix == ".zip":
            folder = extract_zip(path, workdir / f"sequence_{number}", limits.zip_members, limits.zip_bytes)
            sequence = open_depth_sequence(folder, values, polarity, limits.max_pixels, name=path.name)
            sequences.append(_renamed(sequence, path.stem))
        elif suffix in VIDEO_SUFFIXES:
            _check_video_frame_size(path, limits.video_pixels)
            sequences.append(open_depth_sequence(path, values, polarity, limits.max_pixels, frame_count=frame_count))
        elif suffix in STACK_SUFFIXES and _is_stack(path):
            sequences.append(open_depth_sequence(path, values, polarity, limits.max_pixels))
        elif suffix in FRAME_SUFFIXES:
            frames.append(path)
        else:
            raise ValueError(f"{path.name}: not a depth sequence; upload depth frames (.png in mm, .npy/.npz in metres), "
                             "an .npz stack, a .zip of frames or a grey depth video")
    if frames:
        sequences.insert(0, _renamed(open_depth_sequence(frames, values, polarity, limits.max_pixels), "uploaded frames"))
    return sequences


def _check_video_frame_size(path: Path, max_pixels: int | None) -> None:
    """A ValueError in words when a depth video's frames (as its container states) exceed `max_pixels`."""
    if not max_pixels:
        return
    width, height, _ = video_header(path)
    if width * height > max_pixels:
        raise ValueError(f"{path.name}: its frames are {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
                         f"a depth video may have at most {max_pixels / 1e6:.1f} megapixels per frame; downscale it "
                         "and upload it again")


def _is_stack(path: Path) -> bool:
    """Whether an .npy/.npz holds (N, H, W) (or more axes) with N > 1, from its header; an unreadable file is not
    (it is then a frame, skipped with a note when the others are read)."""
    try:
        shape = depth_header(path).shape
    except ValueError:
        return False
    return len(shape) >= 3 and shape[0] > 1  # 4-D: refused as a stack, with the advice to squeeze


def _renamed(sequence: DepthSequence, name: str) -> DepthSequence:
    return replace(sequence, name=name)


def _check_json_sizes(folder: Path, max_bytes: int) -> None:
    for name in ("intrinsics.json", "poses.json"):
        path = folder / name
        if path.is_file() and path.stat().st_size > max_bytes:
            raise ValueError(f"{name} is {path.stat().st_size / 2**20:.1f} MB; it may be at most {max_bytes / 2**20:g} MB")


def open_uploaded_ground_truth(paths: list[str | Path], workdir: str | Path, limits: UploadLimits = UploadLimits()) -> GroundTruth:
    """Ground truth from uploaded files: one .npz (depth, K, poses), a .zip of a scene folder, or
    the loose files of one: depth PNGs (mm) with intrinsics.json and poses.json. Sizes are checked
    against `limits` before anything is decoded or extracted."""
    paths = [Path(p) for p in paths]
    workdir = Path(workdir)
    if len(paths) == 1 and paths[0].suffix.lower() == ".npz":
        return open_ground_truth(paths[0], limits.max_pixels)
    if len(paths) == 1 and paths[0].suffix.lower() == ".zip":
        folder = extract_zip(paths[0], workdir / "ground_truth", limits.zip_members, limits.zip_bytes)
        _check_json_sizes(folder, limits.json_bytes)
        if folder == workdir / "ground_truth":  # the zip had no top folder: the folder's name is ours
            return _open_work_folder_truth(folder, limits.max_pixels)
        return open_ground_truth(folder, limits.max_pixels)
    folder = workdir / "ground_truth"
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.name in ("intrinsics.json", "poses.json"):
            target = folder / path.name
        elif path.suffix.lower() == ".png":
            target = folder / "depth" / path.name
        else:
            raise ValueError(f"{path.name}: ground truth is depth PNGs (mm) with intrinsics.json and poses.json, "
                             "a .zip of a scene folder, or one .npz with depth, K and poses")
        shutil.copyfile(path, target)
    _check_json_sizes(folder, limits.json_bytes)
    if not any((folder / "depth").iterdir()):
        raise ValueError("the ground truth has no depth PNGs: add the depth frames (16-bit PNGs in mm)")
    if not (folder / "intrinsics.json").is_file():
        raise ValueError("the ground truth needs intrinsics.json (K, or fx/fy/cx/cy) beside the depth PNGs")
    truth = _open_work_folder_truth(folder, limits.max_pixels)
    return GroundTruth("uploaded ground truth", _renamed(truth.sequence, "uploaded ground truth"), truth.intrinsics, truth.poses)


def _open_work_folder_truth(folder: Path, max_pixels: int | None) -> GroundTruth:
    """open_ground_truth on a folder this module made for an upload: its name is ours, not the
    user's, so messages leave it out ("poses.json holds …", not "ground_truth/poses.json holds …")."""
    try:
        return open_ground_truth(folder, max_pixels)
    except ValueError as error:
        text = str(error).replace(f"{folder.name}/", "")
        text = text[len(folder.name) + 2:] if text.startswith(f"{folder.name}: ") else text
        if type(error) is not ValueError:
            raise
        raise ValueError(text) from None
