"""Video tab: upload → depth video side by side, flicker/OPW/drift curves, the measures table and
report, and the point cloud of a chosen frame. Depth made elsewhere (a depth sequence for the same
clip) and ground truth can be uploaded beside the video and compared with the selected model."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from analysis.plots import comparison_figure
from analysis.temporal import MAX_SOURCES, VIDEO_MAX_DURATION_S, VIDEO_MAX_FRAMES, VIDEO_MAX_SIDE, comparison_curves, run_temporal_study
from analysis.temporal_baseline import BRIGHTNESS_NAME, BrightnessSource, trim_baseline_curves
from analysis.temporal_report import markdown_table, rounded
from analysis.temporal_sources import ModelSource, sequence_sources
from common.camera import intrinsics_for
from common.depth_io import colorize_depth, display_range
from common.depth_sequence import (
    DepthSequenceWriter,
    SequenceMismatchError,
    check_matches,
    detect_values,
    missing_frames,
    open_uploaded_ground_truth,
    open_uploaded_sequences,
)
from common.frames import FrameSource, open_frames
from common.pointcloud import depth_to_point_cloud, write_point_cloud
from common.validate import ImageTooLargeError, InputError
from common.video_io import sample_indices_keep

from . import storage
from .errors import guarded
from .examples import example_video_ground_truth, example_videos
from .image_tab import DEFAULT_FOV, FOV_RANGE, VIEW_HINT
from .inputs import max_file_bytes, max_upload_pixels, number, upload_limits
from .labels import colourbar_in, markdown_text, output_line
from .model_panel import model_panel
from .models import registry

MAX_DURATION_S = VIDEO_MAX_DURATION_S  # longer uploads are analysed up to the frame limit, with a warning
MAX_FRAMES = VIDEO_MAX_FRAMES
MAX_SIDE = VIDEO_MAX_SIDE
FPS_RANGE = (1.0, 30.0)
SLIDER_FRAMES = 60  # at most this many analysed frames are kept for the frame slider (evenly spaced)
FRAMES_FILE = "slider_frames.bin"  # one file: for each kept frame its RGB (uint8) then its depth (float16)
FLOAT16_MAX = 65504.0  # metres: farther depths are kept at this for the slider (beyond any camera's range)
DEPTH_ZIP, DEPTH_NPZ = "depth_16bit_mm.zip", "depth_float16_m.npz"  # the analysed depth, to take away (and upload back)
SUMMARY_KEYS = ("frames", "flicker_mean", "opw_mean", "median_ratio_range", "drift_scale_last", "tae_mean", "abs_rel_mean")


AUTO = "auto"
DEPTH_FILE_TYPES = [".png", ".npy", ".npz", ".zip", ".mp4", ".avi", ".mkv", ".mov", ".webm"]
GT_FILE_TYPES = [".png", ".json", ".npz", ".zip"]


INTRO = ("**Depth over time:** a video goes through the model frame by frame; depth that jumps from frame to frame "
         "(*flicker*) or drifts in scale is what video use cannot tolerate. Each measure gets a plain verdict against the "
         "video's own brightness (or the true depth, when you give it), and the depth can be downloaded per frame.")
COMPARE_INTRO = ("Upload depth another tool made for this same video (or this tab's own depth download) to see how "
                 "it compares with the selected model, frame for frame. With the clip's true depth (ground truth) "
                 "the table also says how far each is from the truth.")
VALUE_CHOICES = [("Detect from the upload", AUTO),
                 ("Distances in metres (16-bit PNGs: millimetres)", "metric"),
                 ("Distances of unknown scale: larger is farther", "relative"),
                 ("Closeness of unknown scale: larger is nearer (Depth Anything, MiDaS)", "disparity")]
POLARITY_CHOICES = [("As usual for the answer above (closeness: near is bright; distance: near is dark)", AUTO),
                    ("Near is dark", "near-dark"), ("Near is bright", "near-bright")]
ALIGN_CHOICES = [("Once for the whole clip (keeps flicker visible)", "clip"),
                 ("Again for every frame (hides changes of scale)", "frame"),
                 ("Both, as two rows", "both")]


def _open_video(path: str, target_fps: float, max_frames: int, max_side: int, truth=None):
    """The upload opened once as a frame source, and warnings for the limits that apply to it."""
    try:
        frames = open_frames(path, target_fps, max_frames, max_side, max_pixels=max_upload_pixels())
    except ImageTooLargeError:
        raise gr.Error(f"The video's frames are too large: the limit is {max_upload_pixels() / 1e6:.0f} megapixels. "
                       "Downscale the video and upload it again.") from None
    except InputError:  # readable but unusable (frames too small for optical flow): its own plain sentence
        raise
    except (ValueError, OSError):
        raise gr.Error("Could not read the video (corrupt file or unsupported format). Upload an .mp4, .webm, .avi or .mov file.") from None
    if truth is not None and frames.video is not None:
        try:
            frames = open_frames(path, target_fps, max_frames, max_side, ground_truth=truth, max_pixels=max_upload_pixels())
        except ValueError as error:
            raise gr.Error(f"The ground truth does not fit the video: {_sentence(str(error))}") from None
    if frames.video is None:
        raise gr.Error("Upload a video file (.mp4, .webm, .avi or .mov).")
    info = frames.video
    notes = []
    if info.duration_s > MAX_DURATION_S:
        notes.append(f"The video lasts {info.duration_s:.0f} s; only its first frames (up to {max_frames}) are analysed.")
    wanted = frames.available_count
    if wanted is not None and wanted > max_frames:
        notes.append(f"At {frames.fps:g} fps the video has {wanted} frames; the first {max_frames} are analysed.")
    if max(info.width, info.height) > max_side:
        notes.append(f"Frames are {info.width}x{info.height}; they are downscaled to {max_side} px on the longest side.")
    return frames, notes


class SliderFrames:
    """The frames the slider can show, appended to one compact file (RGB uint8 + depth float16);
    the session state holds only their offsets and shapes."""

    def __init__(self, path: Path, expected: int):
        self.path = path
        self.every = max(1, math.ceil(max(expected, 1) / SLIDER_FRAMES))
        self.entries: list[list[int]] = []  # [frame index, byte offset, height, width]
        self._offset = 0

    def keep(self, sample, depth: np.ndarray) -> None:
        if sample.index % self.every or len(self.entries) >= SLIDER_FRAMES:
            return
        rgb = np.ascontiguousarray(sample.rgb, dtype=np.uint8)
        half = np.ascontiguousarray(np.minimum(depth, FLOAT16_MAX), dtype=np.float16)  # no overflow to infinity
        with open(self.path, "ab") as file:
            file.write(rgb.tobytes())
            file.write(half.tobytes())
        self.entries.append([int(sample.index), self._offset, int(depth.shape[0]), int(depth.shape[1])])
        self._offset += rgb.nbytes + half.nbytes


def read_slider_frame(path: str | Path, entry: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8, depth float32) of one kept frame."""
    _, offset, height, width = entry
    with open(path, "rb") as file:
        file.seek(offset)
        rgb = np.frombuffer(file.read(height * width * 3), np.uint8).reshape(height, width, 3)
        depth = np.frombuffer(file.read(height * width * 2), np.float16).reshape(height, width).astype(np.float32)
    return rgb, depth


def _file_paths(files) -> list[str]:
    return [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _uploaded_truth(gt_files, work_dir: Path, on_skip=None):
    """The uploaded ground truth (None without one), opened with the upload limits (readable
    messages, no paths); `on_skip` hears of every frame skipped later as unreadable."""
    if not gt_files:
        return None
    try:
        truth = open_uploaded_ground_truth(_file_paths(gt_files), work_dir, upload_limits())
    except ImageTooLargeError:
        raise gr.Error(f"The ground truth is too large: the limit is {max_upload_pixels() / 1e6:.0f} megapixels "
                       "per depth frame. Downscale it and upload it again.") from None
    except (ValueError, OSError) as error:
        raise gr.Error(f"Could not read the ground truth: {_sentence(str(error))}") from None
    return replace(truth, sequence=replace(truth.sequence, on_skip=on_skip))


def _uploaded_sequences(depth_files, depth_values: str, polarity: str, work_dir: Path, frame_count: int | None,
                        on_skip=None, frame_shape: tuple[int, int] | None = None) -> tuple[list, list[str]]:
    """The uploaded depth sequences, opened with the upload limits, and one note each saying what
    their numbers were read as (detected from the upload unless the user chose:
    common.depth_sequence.detect_values). A sequence that cannot belong to the clip (another frame
    count than `frame_count`, another shape than `frame_shape`) gets its own plain message before
    any of its frames is read; a depth video's count is read from its container."""
    if not depth_files:
        return [], []
    values = None if depth_values in (None, AUTO) else depth_values
    polarity = None if polarity in (None, AUTO) else polarity
    try:
        sequences = open_uploaded_sequences(_file_paths(depth_files), work_dir, values, polarity, upload_limits(), frame_count)
        for sequence in sequences:
            check_matches(sequence, frame_count, frame_shape or sequence.shape)
        read = [_read_as(sequence, values is None) for sequence in sequences]  # reads a first frame: after the checks
    except ImageTooLargeError:
        raise gr.Error(f"The depth sequence is too large: the limit is {max_upload_pixels() / 1e6:.0f} megapixels "
                       "per depth frame. Downscale it and upload it again.") from None
    except SequenceMismatchError as error:
        raise gr.Error(f"The depth sequence does not fit the video: {_sentence(str(error))}") from None
    except (ValueError, OSError) as error:
        raise gr.Error(f"Could not read the depth sequence: {_sentence(str(error))}") from None
    return [replace(sequence, on_skip=on_skip) for sequence, _ in read], [note for _, note in read]


VALUE_WORDS = {"metric": "distances in metres", "relative": "distances of unknown scale (larger is farther)",
               "disparity": "closeness of unknown scale (larger is nearer)"}  # fmt: skip


def _read_as(sequence, detect: bool):
    """(sequence, note): with `detect`, the sequence read as what its values look like; the note
    says what was found, or what the user chose."""
    if detect:
        try:
            values, seen = detect_values(sequence)
        except ValueError as error:  # no depth in it at all: a plain refusal, before any analysis
            raise gr.Error(f"{error}.") from None
        sequence = replace(sequence, values=values)
        if sequence.kind == "video":
            seen += f", read as {VALUE_WORDS[sequence.values]} with near {sequence.polarity.removeprefix('near-')}"
        return sequence, f"Detected {seen}. If that is wrong, answer \"What do its numbers mean?\" under the comparison."
    how = VALUE_WORDS[sequence.values] + (f", near {sequence.polarity.removeprefix('near-')}" if sequence.polarity else "")
    return sequence, f"{sequence.name}: read as {how}, as chosen."


def source_units(sources: list, has_ground_truth: bool) -> dict[str, str]:
    """Each source's unit by name: "m" for a model, metric depth, or depth aligned to ground truth;
    "" for depth of unknown scale (a grey or colour-mapped video's values are not metres)."""
    return {source.name: "" if getattr(source, "relative", False) and not has_ground_truth else "m" for source in sources}


def skipped_note(skipped: list[str], shown: int = 3) -> str:
    """The frames skipped as unreadable, in one warning line (the first few named)."""
    more = f" (and {len(skipped) - shown} more)" if len(skipped) > shown else ""
    return "Some depth frames could not be read and count as frames without depth: " + "; ".join(skipped[:shown]) + more + "."


def analysed_indices(frames: FrameSource) -> list[int] | None:
    """The clip frames the study will analyse (sampled to the chosen rate, up to max frames);
    None when the container does not state its frame count."""
    if frames.source_count <= 0:
        return None
    kept = [i for i in range(frames.source_count) if sample_indices_keep(i, frames.source_fps, frames.target_fps)]
    return kept[: frames.max_frames] if frames.max_frames else kept


def analysed_note(frames: FrameSource, analysed: int) -> str:
    """One sentence: how many frames were analysed, and whether that is the whole clip or why not."""
    info, available = frames.video, frames.available_count
    plural = "frame" if analysed == 1 else "frames"
    if available is None or analysed >= available:
        return f"Analysed {analysed} {plural}: the whole clip ({info.duration_s:.1f} s) at {frames.fps:g} fps."
    reason = (f"the limit is {MAX_FRAMES} frames" if frames.max_frames == MAX_FRAMES
              else f"Max frames is set to {frames.max_frames}")  # fmt: skip
    return (f"Analysed {analysed} of the clip's {available} frames at {frames.fps:g} fps, the first "
            f"{analysed / frames.fps:.1f} s of {info.duration_s:.1f} s: {reason}.")


CUT_NOTES = ("The video lasts", "At ")  # _open_video's notes on frames left out, which analysed_note restates


def _check_sampled(sequence, frames: FrameSource) -> None:
    """A plain refusal when a sequence that holds only some clip frames (a depth download) lacks
    one this analysis needs (another frame rate than it was made at)."""
    wanted = analysed_indices(frames)
    if wanted is None or sequence.frame_indices is None:
        return
    missing = missing_frames(sequence, wanted)
    if missing:
        made = f" (it was made at {sequence.fps:g} fps)" if sequence.fps else ""
        raise gr.Error(f"{sequence.name} holds depth for {sequence.count} of the clip's frames{made}, not for frame "
                       f"{missing[0]}, which this analysis at {frames.fps:g} fps needs. Analyse at the rate the depth "
                       "was made at.")


class DepthDownloads:
    """The first source's depth of every analysed frame, written as it comes (a .zip of 16-bit
    PNGs in mm and a float16 .npz in metres, common.depth_sequence.DepthSequenceWriter)."""

    def __init__(self, out_dir: Path, frames: FrameSource):
        self.writer = DepthSequenceWriter(out_dir / DEPTH_ZIP, out_dir / DEPTH_NPZ, frames.source_count or 0, frames.fps)
        self.clip_known = frames.source_count > 0

    def keep(self, sample, depth: np.ndarray) -> None:
        self.writer.add(sample.index, depth)

    def finish(self) -> tuple[list[str], list[str]]:
        """(paths, notes): the two files, and a note for any that is larger than one upload may be."""
        written = self.writer.close()
        if written is None:
            return [], []
        notes = []
        if not self.clip_known:
            notes.append("The video does not state its frame count, so the depth downloads cannot be uploaded back "
                         "for comparison.")  # fmt: skip
        for path in written:
            if path.stat().st_size > max_file_bytes():
                notes.append(f"{path.name} is {path.stat().st_size / 2**20:.0f} MB, more than one upload may be "
                             f"({max_file_bytes() / 2**20:.0f} MB): analyse fewer or smaller frames to upload it back.")
        return [str(p) for p in written], notes


def analyse_video(video: str | None, target_fps: float, max_frames: float, max_side: float, model_choice: str,
                  model_custom: str, depth_files=None, depth_values: str = AUTO, polarity: str = AUTO, align: str = "both",
                  gt_files=None, include_model: bool = True, progress=gr.Progress(track_tqdm=True)):
    if not video:
        raise gr.Error("No video given: upload one or pick an example.")
    if not include_model and not depth_files:
        raise gr.Error("Nothing to analyse: tick 'Run the selected model too' or upload a depth sequence.")
    target_fps = number(target_fps, "Frames per second", *FPS_RANGE)
    max_frames = number(max_frames, "Max frames", 2, MAX_FRAMES, integer=True)
    max_side = number(max_side, "The frame size (longest side, px)", 96, MAX_SIDE, integer=True)
    out_dir = storage.request_dir("video")
    skipped: list[str] = []  # frames of the uploaded depth or ground truth that could not be read
    truth = _uploaded_truth(gt_files, out_dir / "uploads", skipped.append)
    frames, notes = _open_video(video, target_fps, max_frames, max_side, truth)
    for note in notes:
        gr.Warning(note)
    info = frames.video
    sequences, read_notes = _uploaded_sequences(depth_files, depth_values, polarity, out_dir / "uploads", info.frame_count,
                                                skipped.append, (info.height, info.width))
    loaded = registry().get(model_choice, model_custom)
    sources = [ModelSource(loaded.predictor)] if include_model else []
    for sequence in sequences:
        sources += sequence_sources(sequence, align, frames.has_ground_truth)
    if len(sources) > MAX_SOURCES:
        raise gr.Error(f"{len(sources)} depth sources to compare; at most {MAX_SOURCES} fit on one clip "
                       "(a relative sequence with ground truth counts twice: per-clip and per-frame alignment).")
    for sequence in sequences:
        _check_sampled(sequence, frames)
    kept = SliderFrames(out_dir / FRAMES_FILE, frames.expected_count or max_frames)
    # The depth downloads hold metres: the model's, or a sequence's that is metric or aligned to ground truth.
    in_metres = include_model or sequences[0].values == "metric" or frames.has_ground_truth
    downloads = DepthDownloads(out_dir, frames) if in_metres else None

    def on_frame(sample, depth: np.ndarray) -> None:
        kept.keep(sample, depth)
        if downloads is not None:
            downloads.keep(sample, depth)

    try:
        result = run_temporal_study(frames, sources, out_dir, on_frame=on_frame, progress=True, plot_html=False,
                                    baseline=BrightnessSource())
    except (ValueError, OSError):
        if downloads is not None:
            downloads.writer.discard()
        raise gr.Error("The video could not be analysed (it may be corrupt or cut short). Try another file.") from None
    depth_files, download_notes = downloads.finish() if downloads is not None else ([], [])
    times, curves = comparison_curves(result)
    curves = trim_baseline_curves(curves)
    figure = comparison_figure(times, curves, title="Temporal consistency per frame", x_label="time (s)")
    summary = {key: rounded(result.summary[key]) for key in SUMMARY_KEYS if key in result.summary}
    summary["sources"] = {item["name"]: item["note"] for item in result.summary["sources"] if item["name"] != BRIGHTNESS_NAME}
    # source names come from uploaded file names: shown as written, never as Markdown or HTML
    table = measures_table(result.summary["measures"])
    count = len(kept.entries)
    if skipped:
        notes.append(skipped_note(skipped))
    notes = [note for note in notes if not note.startswith(CUT_NOTES)] + download_notes  # the first line says it
    lines = [markdown_text(analysed_note(frames, len(result.records)))] + [markdown_text(note) for note in read_notes]
    lines += [f"⚠️ {markdown_text(note)}" for note in notes]
    warning_text = "\n\n".join(lines)
    slider = gr.update(minimum=0, maximum=max(count - 1, 1), value=0, step=1, interactive=count > 1)
    video_range = result.summary.get("depth_video_range_m")
    units = source_units(sources, frames.has_ground_truth)  # after the study: it may have renamed sources
    state = {"frames_file": str(kept.path), "entries": kept.entries, "range": video_range, "unit": units[sources[0].name]}
    cloud, depth_image, frame_bar = frame_cloud(state, 0, DEFAULT_FOV)
    depth_video = str(out_dir / "depth_video.mp4") if (out_dir / "depth_video.mp4").is_file() else None

    panels = 1 + len(result.summary.get("depth_video_ranges_m") or {})  # the input, then one depth per source
    video_bar = layout_marker(panels, kept.entries) + video_colourbars(result.summary.get("depth_video_ranges_m") or {}, units)
    files = [str(out_dir / name) for name in ("report.html", "measures.csv", "measures.json", "summary.json", "per_frame.csv",
                                              "per_frame_all.csv", "temporal_curves.json") if (out_dir / name).is_file()]  # fmt: skip
    files[1:1] = depth_files  # after the report: the depth itself
    return depth_video, video_bar, figure, table, json.loads(json.dumps(summary, default=str)), files, warning_text, \
        state, slider, cloud, depth_image, frame_bar, output_line(loaded), loaded.status


def measures_table(rows: list[dict]) -> str:
    """The measures as a Markdown table whose cells carry their column names (a card per measure on
    a narrow screen, VIDEO_CSS); source names come from uploaded file names, so every name and the
    verdicts that repeat them are shown as written, never as Markdown or HTML."""
    escaped = [{markdown_text(key): markdown_text(value) if key == "verdict" else value for key, value in row.items()}
               for row in rows]  # fmt: skip
    return markdown_table(escaped, labelled=True)


ASPECTS = {"a43": 4 / 3, "a169": 16 / 9, "a11": 1.0, "a34": 3 / 4, "a916": 9 / 16}  # frame shapes VIDEO_CSS knows


def layout_marker(panels: int, entries: list[list[int]]) -> str:
    """An empty HTML element whose classes give the depth video's panel count and its frames' shape
    (the nearest of ASPECTS), shown with the colourbars: VIDEO_CSS reads them (`:has`) so that a
    narrow screen can show the first depth panel alone."""
    classes = ["panel-layout", f"panels-{min(panels, 5)}"]
    if entries:
        _, _, height, width = entries[0]
        aspect = width / max(height, 1)
        classes.append(min(ASPECTS, key=lambda name: abs(math.log(ASPECTS[name] / aspect))))
    return f'<span class="{" ".join(classes)}"></span>'


# On a narrow screen: each measure a card (its cells labelled, empty ones left out, the verdict
# under the measure's name), and the depth
# video cropped to its first depth panel at the full width (object-fit: cover, positioned at panel 1
# of n: object-position k / (n - 1)), since n panels side by side leave each 390 / n px wide.
VIDEO_CSS = """
.video-measures .cell-label {display: none}
.video-measures table {display: block; overflow-x: auto}
.video-measures td, .video-measures th {word-break: normal; overflow-wrap: normal; hyphens: none}
.video-measures td {white-space: nowrap}
.video-measures td:last-child, .video-measures td:nth-last-child(2) {white-space: normal}
@media (max-width: 640px) {
  .video-measures table, .video-measures tbody, .video-measures tr, .video-measures td {display: block;
    width: auto !important; min-width: 0 !important}
  .video-measures thead {display: none}
  .video-measures tr {display: flex; flex-direction: column; border: 1px solid var(--border-color-primary);
    border-radius: 6px; margin: 0 0 8px 0; padding: 4px 8px}
  .video-measures td {border: none !important; text-align: left !important; padding: 1px 0 !important;
    white-space: normal !important}
  .video-measures td:first-child {font-weight: 600; order: -2}
  .video-measures td:has(> .verdict) {order: -1; font-weight: 600}
  .video-measures td:has(> .no-value) {display: none}
  .video-measures .cell-label {display: inline; opacity: 0.75}
  .depth-video video {width: 100% !important; height: auto !important; max-height: none !important; object-fit: cover}
  .video-results:has(.a43) .depth-video video {aspect-ratio: 4 / 3}
  .video-results:has(.a169) .depth-video video {aspect-ratio: 16 / 9}
  .video-results:has(.a11) .depth-video video {aspect-ratio: 1 / 1}
  .video-results:has(.a34) .depth-video video {aspect-ratio: 3 / 4}
  .video-results:has(.a916) .depth-video video {aspect-ratio: 9 / 16}
  .video-results:has(.panels-2) .depth-video video {object-position: 100% 50%}
  .video-results:has(.panels-3) .depth-video video {object-position: 50% 50%}
  .video-results:has(.panels-4) .depth-video video {object-position: 33.333% 50%}
  .video-results:has(.panels-5) .depth-video video {object-position: 25% 50%}
  .depth-video-hint {display: block}
}
.depth-video-hint {display: none}
"""


def video_colourbars(ranges: dict, units: dict[str, str] | None = None) -> str:
    """One colourbar per panel of the depth video (each fixed from its source's first frame), in
    metres only where the source's unit is known (`units` by source name; default metres)."""
    units = units or {}
    if len(ranges) == 1:
        ((name, (lo, hi)),) = ranges.items()
        return colourbar_in(lo, hi, units.get(name, "m"), what="depth video (fixed from the first frame)")
    return "".join(colourbar_in(lo, hi, units.get(name, "m"), what=f"{name} (fixed from the first frame)")
                   for name, (lo, hi) in ranges.items())  # fmt: skip


def frame_cloud(state: dict | None, position: float, fov_deg: float):
    """Point cloud (.ply), coloured depth and colourbar of the chosen analysed frame (the video's colour range)."""
    if not state or not state.get("entries"):
        raise gr.Error("Analyse a video first.")
    position = number(position, "The frame", 0, None)
    fov_deg = number(fov_deg, "The field of view (degrees)", *FOV_RANGE)
    entries = state["entries"]
    position = int(min(position, len(entries) - 1))
    entry = entries[position]
    if not Path(state["frames_file"]).is_file():
        raise gr.Error("The analysed frames have been cleaned up (results are kept for a limited time). "
                       "Analyse the video again.")
    rgb, depth = read_slider_frame(state["frames_file"], entry)
    vmin, vmax = state.get("range") or display_range(depth)
    unit = state.get("unit", "m")
    what = f"analysed frame {position + 1} of {len(entries)}"
    if not (np.isfinite(depth) & (depth > 0)).any():  # e.g. a depth frame that was skipped as unreadable
        return None, colorize_depth(depth, vmin=vmin, vmax=vmax), colourbar_in(vmin, vmax, unit,
                                                                              what=f"{what}: no depth, no point cloud")
    cloud = depth_to_point_cloud(depth, rgb, intrinsics_for(depth.shape, fov_deg))
    path = write_point_cloud(cloud, storage.request_dir("frame") / f"frame_{entry[0]:06d}.ply")
    return str(path), colorize_depth(depth, vmin=vmin, vmax=vmax), colourbar_in(vmin, vmax, unit, what=what)


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    state = gr.State(None)
    # Created here, shown in the comparison accordion below: the first example brings its ground truth.
    gt_files = gr.File(label="The true depth of this clip (ground truth), if you have it: depth PNGs (mm) + "
                       "intrinsics.json + poses.json, a .zip of a scene folder, or one .npz (depth, K, poses)",
                       file_count="multiple", file_types=GT_FILE_TYPES, render=False)  # fmt: skip
    gr.Markdown(INTRO, elem_classes="tab-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            video = gr.Video(label="Video", sources=["upload"], height=300, elem_id="video-input")
            examples = example_videos()
            example_set = None
            if examples:
                truth = example_video_ground_truth()
                rows = [[path, truth if n == 0 and truth else None] for n, (path, _) in enumerate(examples)]
                captions = [caption + (", with its ground truth" if row[1] else "")
                            for (_, caption), row in zip(examples, rows)]
                example_set = gr.Examples(examples=rows, inputs=[video, gt_files], example_labels=captions,
                                          label="Examples: click one to analyse it")
            run = gr.Button("Analyse video", variant="primary")
            with gr.Accordion("Sampling and size limits", open=False):
                target_fps = gr.Slider(*FPS_RANGE, value=5, step=1, label="Frames per second to analyse")
                max_frames = gr.Slider(2, MAX_FRAMES, value=MAX_FRAMES, step=1,
                                       label="Max frames (the whole clip is analysed when it has no more)")
                max_side = gr.Slider(96, MAX_SIDE, value=320, step=32, label="Resize frames to (longest side, px)")
            with gr.Accordion("Compare with depth from another tool, or with the true depth", open=False):
                gr.Markdown(COMPARE_INTRO, elem_classes="hint")
                depth_files = gr.File(label="Depth from another tool for this video: depth frames (.png in mm, .npy/.npz in m), "
                                      "an .npz stack, a .zip of frames or a depth video (grey or colour-mapped); "
                                      "frames matched by index", file_count="multiple", file_types=DEPTH_FILE_TYPES)  # fmt: skip
                depth_values = gr.Radio(VALUE_CHOICES, value=AUTO, label="What do its numbers mean?",
                                        info="Detected from the upload unless you choose; the notes say what was found.")
                polarity = gr.Radio(POLARITY_CHOICES, value=AUTO, label="In a depth video, are near things dark or bright?")
                align = gr.Radio(ALIGN_CHOICES, value="both", label="Depth of unknown scale: how to match it to the true depth?",
                                 info="Only with the true depth uploaded below; distances in metres are compared as they are.")
                gt_files.render()
                include_model = gr.Checkbox(value=True, label="Run the selected model too")
            notes = gr.Markdown()
            choice, custom, status = model_panel()
        with gr.Column(scale=2, min_width=300, elem_classes="video-results"):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            depth_video = gr.Video(label="Input | depth, one panel per source (near is warm)", autoplay=True,
                                   elem_classes="depth-video", elem_id="video-depth")
            gr.Markdown("On a narrow screen the first depth panel is shown alone; turn the phone or download the "
                        "video for the input beside it.", elem_classes=["hint", "depth-video-hint"])
            video_bar = gr.HTML(elem_classes="colourbar-box")
            curves = gr.Plot(label="Flicker, OPW, scale drift (and TAE/AbsRel with ground truth)")
            table = gr.Markdown(label="Measures", elem_classes="video-measures", elem_id="video-measures")
            summary = gr.JSON(label="Summary", visible=False)  # the table's numbers: for API callers (and summary.json)
            files = gr.File(label="Downloads: report (HTML, opens offline), measures as CSV/JSON, per-frame values, "
                                  "plot as plotly JSON", file_count="multiple", elem_id="video-files",
                            elem_classes="downloads")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            frame = gr.Slider(0, 1, value=0, step=1, label="Frame (analysed frames)", interactive=False)
            fov = gr.Slider(20, 120, value=DEFAULT_FOV, step=1, label="Horizontal field of view (°)")
            frame_depth = gr.Image(label="Depth of the chosen frame", type="numpy")
            frame_bar = gr.HTML(elem_classes="colourbar-box")
        with gr.Column(scale=2, min_width=300):
            cloud = gr.Model3D(label="Point cloud of the chosen frame", clear_color=(0.1, 0.1, 0.1, 1.0), height=480,
                               elem_classes="cloud-view")
            gr.Markdown(VIEW_HINT, elem_classes="hint")
    inputs = [video, target_fps, max_frames, max_side, choice, custom, depth_files, depth_values, polarity, align,
              gt_files, include_model]
    outputs = [depth_video, video_bar, curves, table, summary, files, notes, state, frame, cloud, frame_depth, frame_bar,
               line, status]
    run.click(guarded(analyse_video), inputs, outputs, api_name="video_depth", concurrency_limit=1)
    if example_set is not None:
        example_set.load_input_event.then(guarded(analyse_video), inputs, outputs, api_visibility="undocumented",
                                          concurrency_limit=1)
    frame.release(guarded(frame_cloud), [state, frame, fov], [cloud, frame_depth, frame_bar], api_name="video_frame_cloud")
    fov.release(guarded(frame_cloud), [state, frame, fov], [cloud, frame_depth, frame_bar], api_name=False)
    return line
