"""Video tab: upload → depth video side by side, flicker/OPW/drift curves, summary numbers, and the
point cloud of a chosen frame."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from analysis.plots import per_frame_figure
from analysis.temporal import records_to_curves, run_temporal_study
from common.camera import intrinsics_for
from common.depth_io import colorize_depth, display_range
from common.frames import open_frames
from common.pointcloud import depth_to_point_cloud, write_point_cloud

from .examples import example_videos
from .image_tab import DEFAULT_FOV, VIEW_HINT
from .labels import colourbar, output_line
from .model_panel import model_panel
from .models import registry

MAX_DURATION_S = 120.0  # longer uploads are analysed up to the frame limit, with a warning
MAX_FRAMES = 240
MAX_SIDE = 640
SUMMARY_KEYS = ("frames", "flicker_mean", "opw_mean", "median_ratio_range", "drift_scale_last", "tae_mean", "abs_rel_mean")


def _open_video(path: str, target_fps: float, max_frames: int, max_side: int):
    """The upload opened once as a frame source, and warnings for the limits that apply to it."""
    try:
        frames = open_frames(path, target_fps, max_frames, max_side)
    except (ValueError, OSError):
        raise gr.Error("Could not read the video (corrupt file or unsupported format). Upload an .mp4, .webm, .avi or .mov file.") from None
    if frames.video is None:
        raise gr.Error("Upload a video file (.mp4, .webm, .avi or .mov).")
    info = frames.video
    notes = []
    if info.duration_s > MAX_DURATION_S:
        notes.append(f"The video lasts {info.duration_s:.0f} s; only its first frames (up to {max_frames}) are analysed.")
    wanted = int(info.duration_s * min(target_fps, info.fps)) + 1
    if wanted > max_frames:
        notes.append(f"At {target_fps:g} fps the video has about {wanted} frames; the first {max_frames} are analysed.")
    if max(info.width, info.height) > max_side:
        notes.append(f"Frames are {info.width}x{info.height}; they are downscaled to {max_side} px on the longest side.")
    return frames, notes


def analyse_video(video: str | None, target_fps: float, max_frames: float, max_side: float, model_choice: str,
                  model_custom: str, progress=gr.Progress(track_tqdm=True)):
    if not video:
        raise gr.Error("No video given: upload one or pick the example below.")
    max_frames, max_side = int(min(max_frames, MAX_FRAMES)), int(min(max_side, MAX_SIDE))
    frames, notes = _open_video(video, target_fps, max_frames, max_side)
    for note in notes:
        gr.Warning(note)
    loaded = registry().get(model_choice, model_custom)
    out_dir = Path(tempfile.mkdtemp(prefix="video_depth_"))
    frames_dir = out_dir / "frames"
    frames_dir.mkdir()

    def keep_frame(sample, depth) -> None:  # for the frame slider's point cloud
        np.save(frames_dir / f"{sample.index:06d}_depth.npy", depth.astype(np.float32))
        np.save(frames_dir / f"{sample.index:06d}_rgb.npy", sample.rgb)

    try:
        result = run_temporal_study(frames, loaded.predictor, out_dir, on_frame=keep_frame, progress=True)
    except (ValueError, OSError) as error:
        raise gr.Error(f"Video analysis failed: {error}") from None
    times, curves = records_to_curves(result.records)
    figure = per_frame_figure(times, curves, title="Temporal consistency per frame", x_label="time (s)")
    summary = {key: result.summary[key] for key in SUMMARY_KEYS if key in result.summary}
    summary = {**summary, **{k: v for k, v in result.summary.items() if k not in summary and not isinstance(v, (dict, list))}}
    indices = sorted(int(p.name.split("_")[0]) for p in frames_dir.glob("*_depth.npy"))
    warning_text = "\n".join(f"⚠️ {note}" for note in notes) or f"Analysed {len(indices)} frames."
    slider = gr.update(minimum=0, maximum=max(len(indices) - 1, 1), value=0, step=1, interactive=len(indices) > 1)
    video_range = result.summary.get("depth_video_range_m")
    state = {"frames_dir": str(frames_dir), "indices": indices, "range": video_range}
    cloud, depth_image, frame_bar = frame_cloud(state, 0, DEFAULT_FOV)
    depth_video = str(out_dir / "depth_video.mp4") if (out_dir / "depth_video.mp4").is_file() else None
    video_bar = colourbar(*video_range, what="depth video (fixed from the first frame)") if video_range else ""
    files = [str(out_dir / name) for name in ("summary.json", "per_frame.csv", "temporal_curves.html")
             if (out_dir / name).is_file()]
    return depth_video, video_bar, figure, json.loads(json.dumps(summary, default=str)), files, warning_text, state, \
        slider, cloud, depth_image, frame_bar, output_line(loaded), loaded.status


def frame_cloud(state: dict | None, position: float, fov_deg: float):
    """Point cloud (.ply), coloured depth and colourbar of the chosen analysed frame (the video's colour range)."""
    if not state or not state.get("indices"):
        raise gr.Error("Analyse a video first.")
    indices = state["indices"]
    position = int(np.clip(position, 0, len(indices) - 1))
    index = indices[position]
    frames_dir = Path(state["frames_dir"])
    depth = np.load(frames_dir / f"{index:06d}_depth.npy")
    rgb = np.load(frames_dir / f"{index:06d}_rgb.npy")
    cloud = depth_to_point_cloud(depth, rgb, intrinsics_for(depth.shape, fov_deg))
    path = write_point_cloud(cloud, frames_dir / f"{index:06d}.ply")
    vmin, vmax = state.get("range") or display_range(depth)
    bar = colourbar(vmin, vmax, what=f"analysed frame {position + 1} of {len(indices)}")
    return str(path), colorize_depth(depth, vmin=vmin, vmax=vmax), bar


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    state = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            video = gr.Video(label="Video", sources=["upload"], height=300)
            examples = example_videos()
            example_set = None
            if examples:
                example_set = gr.Examples(examples=[[path] for path, _ in examples], inputs=[video],
                                          example_labels=[caption for _, caption in examples],
                                          label="Examples: click one to analyse it")
            run = gr.Button("Analyse video", variant="primary")
            with gr.Accordion("Sampling and size limits", open=False):
                target_fps = gr.Slider(1, 30, value=5, step=1, label="Frames per second to analyse")
                max_frames = gr.Slider(2, MAX_FRAMES, value=48, step=1, label="Max frames")
                max_side = gr.Slider(96, MAX_SIDE, value=320, step=32, label="Resize frames to (longest side, px)")
            notes = gr.Markdown()
            choice, custom, status = model_panel()
        with gr.Column(scale=2, min_width=300):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            depth_video = gr.Video(label="Input | depth (near is warm)", autoplay=True)
            video_bar = gr.HTML(elem_classes="colourbar-box")
            curves = gr.Plot(label="Flicker, OPW, scale drift (and TAE/AbsRel with ground truth)")
            summary = gr.JSON(label="Summary")
            files = gr.File(label="Downloads: summary.json, per_frame.csv, interactive plot (.html)",
                            file_count="multiple", elem_classes="downloads")
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
    inputs = [video, target_fps, max_frames, max_side, choice, custom]
    outputs = [depth_video, video_bar, curves, summary, files, notes, state, frame, cloud, frame_depth, frame_bar,
               line, status]
    run.click(analyse_video, inputs, outputs, api_name="video_depth", concurrency_limit=1)
    if example_set is not None:
        example_set.load_input_event.then(analyse_video, inputs, outputs, api_visibility="undocumented",
                                          concurrency_limit=1)
    frame.release(frame_cloud, [state, frame, fov], [cloud, frame_depth, frame_bar], api_name="video_frame_cloud")
    fov.release(frame_cloud, [state, frame, fov], [cloud, frame_depth, frame_bar], api_name=False)
    return line
