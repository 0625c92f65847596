"""Image depth tab: picture in → before/after slider with a colourbar, downloads and a 3D point cloud.

The raw depth stays in session state, so changing the colour map or the range re-colours the
picture without running the model again."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from common.camera import intrinsics_for
from common.depth_io import colorize_depth, display_range, write_depth_png
from common.image_io import write_rgb
from common.pointcloud import depth_to_point_cloud, write_point_cloud

from . import storage
from .errors import guarded
from .examples import labelled_examples
from .inputs import PictureInput, as_rgb_image, choice, limit_size, number, reject_unreadable_uploads
from .labels import colourbar, output_line
from .model_panel import model_panel
from .models import registry

COLORMAPS = ["turbo", "viridis", "magma", "plasma", "inferno", "gray"]
DEFAULT_FOV = 63.0  # NYU-like horizontal field of view, the bundled model's training setting
FOV_RANGE = (20.0, 120.0)
VOXEL_RANGE_CM = (0.0, 20.0)
DEPTH_RANGE_M = (0.0, 1000.0)


INTRO = ("**What it does:** the bundled model (frozen CLIP, a learned *mirror* prompt and a small decoder) guesses "
         "how far away each pixel is, in metres; drag the slider over the picture (near is warm) and turn the point "
         "cloud below. It learned from procedural rooms only, so on real photos expect the layout roughly right and "
         "the metres less so.")
VIEW_HINT = "Drag to turn the cloud · scroll or pinch to zoom · right-drag (two fingers) to move it · ↺ resets the view"


def colour_range(depth: np.ndarray | None, auto_range: bool, range_min: float, range_max: float) -> tuple[float, float]:
    """The metre range the colours span: automatic (2nd–98th percentile) or the user's, checked."""
    if auto_range:
        return display_range(depth)
    if range_min is None or range_max is None or range_max <= range_min:
        raise gr.Error(f"The depth range is empty: max ({range_max} m) must exceed min ({range_min} m). "
                       "Raise the max or turn automatic range back on.")
    return float(range_min), float(range_max)


def check_colour_settings(colormap, auto_range, range_min, range_max):
    """The colour settings checked at the boundary (API clients can send NaN, infinity, anything)."""
    colormap = choice(colormap, "The colormap", COLORMAPS)
    auto_range = bool(auto_range)
    if not auto_range:
        range_min = number(range_min, "Range min (m)", *DEPTH_RANGE_M)
        range_max = number(range_max, "Range max (m)", *DEPTH_RANGE_M)
        colour_range(None, auto_range, range_min, range_max)  # an empty range is refused here
    return colormap, auto_range, range_min, range_max


def check_view_settings(colormap, auto_range, range_min, range_max, fov_deg, voxel_cm):
    """The colour settings, the field of view and the voxel size, checked."""
    fov_deg = number(fov_deg, "The field of view (degrees)", *FOV_RANGE)
    voxel_cm = number(voxel_cm, "The point-cloud voxel (cm)", *VOXEL_RANGE_CM)
    return (*check_colour_settings(colormap, auto_range, range_min, range_max), fov_deg, voxel_cm)


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
    name: str = "picture",
) -> dict:
    """Everything the tab shows for one depth map; files land in `out_dir`, named after the picture."""
    vmin, vmax = colour_range(depth, auto_range, range_min, range_max)
    colour = colorize_depth(depth, vmin=vmin, vmax=vmax, cmap=colormap)
    npy_path = out_dir / f"{name}_depth_metres.npy"
    np.save(npy_path, depth.astype(np.float32))
    png_path = write_depth_png(out_dir / f"{name}_depth_millimetres.png", depth)
    colour_path = out_dir / f"{name}_depth_{colormap}.png"
    write_rgb(colour_path, colour)
    intrinsics = intrinsics_for(depth.shape, fov_deg)
    cloud = depth_to_point_cloud(depth, rgb, intrinsics, voxel_size=voxel_cm / 100.0 if voxel_cm > 0 else None)
    ply_path = write_point_cloud(cloud, out_dir / f"{name}_point_cloud.ply")
    summary = (
        f"Depth {depth.shape[1]}x{depth.shape[0]}: min {depth.min():.2f} m, median {np.median(depth):.2f} m, "
        f"max {depth.max():.2f} m · point cloud {len(cloud.points):,} points (FOV {fov_deg:.0f}°)"
    )
    return {"colour": colour, "bar": colourbar(vmin, vmax, colormap), "files": [str(npy_path), str(png_path),
            str(colour_path), str(ply_path)], "ply": str(ply_path), "summary": summary}


def _stem(image) -> str:
    stem = Path(image).stem if isinstance(image, str) else "picture"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "picture"


def predict_image(image, colormap, auto_range, range_min, range_max, fov_deg, voxel_cm, model_choice, model_custom,
                  progress=gr.Progress()):
    settings = check_view_settings(colormap, auto_range, range_min, range_max, fov_deg, voxel_cm)
    rgb = limit_size(as_rgb_image(image))
    progress(0.1, desc="Loading model")
    loaded = registry().get(model_choice, model_custom)
    progress(0.3, desc="Estimating depth")
    depth = loaded.predictor.predict(rgb)
    progress(0.7, desc="Building point cloud")
    out_dir = storage.request_dir("image")
    name = _stem(image)
    out = depth_outputs(rgb, depth, *settings, out_dir, name)
    state = {"rgb": rgb, "depth": depth, "dir": str(out_dir), "name": name, "files": out["files"]}
    return ((rgb, out["colour"]), out["bar"], out["files"], out["ply"], out["summary"],
            output_line(loaded), loaded.status, state)


def recolour(state: dict | None, colormap: str, auto_range: bool, range_min: float, range_max: float):
    """New colours for the depth already estimated: no model call. Also rewrites the coloured PNG download."""
    colormap, auto_range, range_min, range_max = check_colour_settings(colormap, auto_range, range_min, range_max)
    if not state:
        return gr.skip(), gr.skip(), gr.skip()
    depth = state["depth"]
    vmin, vmax = colour_range(depth, auto_range, range_min, range_max)
    colour = colorize_depth(depth, vmin=vmin, vmax=vmax, cmap=colormap)
    folder = Path(state["dir"])
    if not folder.is_dir():  # the request's files outlived their retention: the new PNG goes to a new folder
        folder = storage.request_dir("image")
        gr.Warning("The earlier downloads have expired; estimate the depth again to get them back.")
    colour_path = folder / f"{state['name']}_depth_{colormap}.png"
    write_rgb(colour_path, colour)
    files = list(state["files"])
    files[2] = str(colour_path)  # the coloured PNG, in the order depth_outputs lists the files
    files = [f for f in files if Path(f).is_file()]
    return (state["rgb"], colour), colourbar(vmin, vmax, colormap), files


def toggle_range(auto_range: bool):
    """Range fields are editable only when the automatic range is off."""
    return gr.update(interactive=not auto_range), gr.update(interactive=not auto_range)


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    state = gr.State(None)
    gr.Markdown(INTRO, elem_classes="tab-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            image = PictureInput(label="Picture", sources=["upload", "clipboard", "webcam"], type="filepath", image_mode=None,
                                 height=320, elem_id="image-input")
            paths, captions = labelled_examples()
            examples = gr.Examples(examples=[[p] for p in paths], inputs=[image], example_labels=captions,
                                   label="Examples: click one to run it (procedural rooms, then real photos)",
                                   examples_per_page=8)
            run = gr.Button("Estimate depth", variant="primary")
            choice, custom, status = model_panel()
        with gr.Column(scale=1, min_width=300):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            slider = gr.ImageSlider(label="Picture | depth (near is warm)", type="numpy")
            bar = gr.HTML(elem_classes="colourbar-box")
            with gr.Row():
                colormap = gr.Dropdown(COLORMAPS, value="turbo", label="Colour map", min_width=120)
                auto_range = gr.Checkbox(value=True, label="Automatic range (2nd–98th percentile)", min_width=160)
            with gr.Row():
                range_min = gr.Number(value=0.5, label="Range min (m)", interactive=False, min_width=100)
                range_max = gr.Number(value=10.0, label="Range max (m)", interactive=False, min_width=100)
            summary = gr.Markdown()
            cloud_view = gr.Model3D(label="Point cloud", clear_color=(0.1, 0.1, 0.1, 1.0), height=480,
                                    elem_id="image-cloud", elem_classes="cloud-view")
            gr.Markdown(VIEW_HINT, elem_classes="hint")
            with gr.Row():
                fov = gr.Slider(20, 120, value=DEFAULT_FOV, step=1, label="Horizontal field of view (°)")
                voxel = gr.Slider(0, 20, value=0, step=0.5, label="Point-cloud voxel (cm, 0 = automatic)")
            files = gr.File(label="Downloads: depth in metres (.npy), in millimetres (16-bit PNG), coloured PNG, "
                                  "point cloud (.ply)", file_count="multiple", elem_classes="downloads")
    reject_unreadable_uploads(image)
    inputs = [image, colormap, auto_range, range_min, range_max, fov, voxel, choice, custom]
    outputs = [slider, bar, files, cloud_view, summary, line, status, state]
    run.click(guarded(predict_image), inputs, outputs, api_name="predict_depth", concurrency_limit=2)
    examples.load_input_event.then(guarded(predict_image), inputs, outputs, api_visibility="undocumented",
                                   concurrency_limit=2)
    display = [state, colormap, auto_range, range_min, range_max]
    gr.on([colormap.change, range_min.submit, range_min.blur, range_max.submit, range_max.blur], guarded(recolour), display,
          [slider, bar, files], api_name="recolour_depth", show_progress="hidden")
    auto_range.change(toggle_range, auto_range, [range_min, range_max], api_visibility="private").then(
        guarded(recolour), display, [slider, bar, files], api_visibility="private", show_progress="hidden")
    return line
