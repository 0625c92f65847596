"""Image depth tab: picture in → before/after slider, raw depth downloads and a 3D point cloud."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from common.camera import intrinsics_for
from common.depth_io import colorize_depth, write_depth_png
from common.pointcloud import depth_to_point_cloud, write_point_cloud

from .examples import example_images
from .inputs import PictureInput, as_rgb_image, limit_size
from .model_panel import model_panel
from .models import registry

COLORMAPS = ["turbo", "viridis", "magma", "plasma", "inferno", "gray"]
DEFAULT_FOV = 63.0  # NYU-like horizontal field of view, the bundled model's training setting


def depth_outputs(
    rgb: np.ndarray,
    depth: np.ndarray,
    colormap: str,
    auto_range: bool,
    range_min: float,
    range_max: float,
    fov_deg: float,
    voxel_cm: float,
    out_dir: Path,
    name: str = "depth",
) -> dict:
    """Everything the tab shows for one depth map; files land in `out_dir`."""
    if not auto_range and range_max <= range_min:
        raise gr.Error(f"The depth range is empty: max ({range_max} m) must exceed min ({range_min} m).")
    vmin, vmax = (None, None) if auto_range else (range_min, range_max)
    colour = colorize_depth(depth, vmin=vmin, vmax=vmax, cmap=colormap)
    npy_path = out_dir / f"{name}.npy"
    np.save(npy_path, depth.astype(np.float32))
    png_path = write_depth_png(out_dir / f"{name}_mm.png", depth)
    intrinsics = intrinsics_for(depth.shape, fov_deg)
    cloud = depth_to_point_cloud(depth, rgb, intrinsics, voxel_size=voxel_cm / 100.0 if voxel_cm > 0 else None)
    ply_path = write_point_cloud(cloud, out_dir / f"{name}.ply")
    summary = (
        f"Depth {depth.shape[1]}x{depth.shape[0]}: min {depth.min():.2f} m, median {np.median(depth):.2f} m, "
        f"max {depth.max():.2f} m · point cloud {len(cloud.points):,} points (FOV {fov_deg:.0f}°)"
    )
    return {"colour": colour, "npy": str(npy_path), "png": str(png_path), "ply": str(ply_path), "summary": summary}


def predict_image(image, colormap, auto_range, range_min, range_max, fov_deg, voxel_cm, model_choice, model_custom,
                  progress=gr.Progress()):
    rgb = limit_size(as_rgb_image(image))
    progress(0.1, desc="Loading model")
    loaded = registry().get(model_choice, model_custom)
    progress(0.3, desc="Estimating depth")
    depth = loaded.predictor.predict(rgb)
    progress(0.7, desc="Building point cloud")
    out = depth_outputs(rgb, depth, colormap, auto_range, range_min, range_max, fov_deg, voxel_cm,
                        Path(tempfile.mkdtemp(prefix="depth_")))
    return (rgb, out["colour"]), out["npy"], out["png"], out["ply"], out["ply"], out["summary"], loaded.status


def build() -> None:
    with gr.Row():
        with gr.Column():
            image = PictureInput(label="Picture", sources=["upload", "clipboard", "webcam"], type="filepath", image_mode=None)
            with gr.Row():
                colormap = gr.Dropdown(COLORMAPS, value="turbo", label="Colormap")
                auto_range = gr.Checkbox(value=True, label="Automatic depth range (2nd–98th percentile)")
            with gr.Row():
                range_min = gr.Number(value=0.5, label="Range min (m)")
                range_max = gr.Number(value=10.0, label="Range max (m)")
            with gr.Row():
                fov = gr.Slider(20, 120, value=DEFAULT_FOV, step=1, label="Horizontal field of view (°)")
                voxel = gr.Slider(0, 20, value=0, step=0.5, label="Point-cloud voxel (cm, 0 = automatic)")
            run = gr.Button("Estimate depth", variant="primary")
            choice, custom, status = model_panel()
        with gr.Column():
            slider = gr.ImageSlider(label="Picture | depth", type="numpy")
            summary = gr.Markdown()
            cloud_view = gr.Model3D(label="Point cloud", clear_color=(0.1, 0.1, 0.1, 1.0))
            with gr.Row():
                npy = gr.File(label="Raw depth (.npy, metres)")
                png = gr.File(label="Depth PNG (16-bit, millimetres)")
                ply = gr.File(label="Point cloud (.ply)")
    inputs = [image, colormap, auto_range, range_min, range_max, fov, voxel, choice, custom]
    outputs = [slider, npy, png, ply, cloud_view, summary, status]
    run.click(predict_image, inputs, outputs, api_name="predict_depth", concurrency_limit=2)
    examples = example_images()
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=[image], label="Offline examples")
