"""Mirror ablation tab: one trained model, every text-side source side by side, difference maps,
and metrics when a ground-truth depth is given."""
from __future__ import annotations

import gradio as gr
import numpy as np

from analysis.ablation import ABLATION_SOURCES, REFERENCE, ZEROSHOT, colorize_difference, run_ablation
from common.depth_io import colorize_depth, read_depth_file

from .examples import example_images_with_depth
from .inputs import PictureInput, as_rgb_image, limit_size
from .model_panel import model_panel
from .models import registry

SOURCE_LABELS = {
    "learned": "learned mirror",
    "zeros": "zeros",
    "random": "random",
    "prompt": "human prompt",
    "prompt+mirror": "prompt + mirror",
}
MAX_SIDE = 640


def read_ground_truth(path: str | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A 16-bit PNG (millimetres) or .npy (metres) depth map at the picture's size."""
    if not path:
        return None
    import cv2

    try:
        depth = read_depth_file(path)
    except (ValueError, OSError):
        raise gr.Error("The ground truth is not a readable depth map. Upload a 16-bit PNG in millimetres or a .npy in metres.") from None
    if depth.shape != shape:
        depth = cv2.resize(depth, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return depth


def ablate(image, ground_truth, sources: list[str], zeroshot: bool, model_choice: str, model_custom: str,
           progress=gr.Progress()):
    rgb = limit_size(as_rgb_image(image), MAX_SIDE)
    if not sources and not zeroshot:
        raise gr.Error("Select at least one mirror source or the zero-shot baseline.")
    gt = read_ground_truth(ground_truth, rgb.shape[:2])
    loaded = registry().get(model_choice, model_custom)
    if loaded.predictor.info.kind != "mirror":
        raise gr.Error("The mirror ablation needs a mirror model; choose the bundled model or a mirror checkpoint.")
    progress(0.2, desc="Running every text-side source")
    try:
        result = run_ablation(loaded.predictor, [rgb], [gt], sources=tuple(sources), zeroshot=zeroshot)
    except ValueError as error:
        raise gr.Error(str(error)) from None
    variants = list(result.depths)
    # One colour range for every map: the ground truth's (or the first source's) 2nd-98th percentile.
    reference = gt[gt > 0] if gt is not None and (gt > 0).any() else result.depths[variants[0]][0]
    vmin, vmax = (float(v) for v in np.percentile(reference, [2, 98]))
    label = {name: SOURCE_LABELS.get(name, name) for name in variants}
    depth_gallery = [(colorize_depth(result.depths[name][0], vmin=vmin, vmax=vmax), label[name]) for name in variants]
    if gt is not None:
        depth_gallery.insert(0, (colorize_depth(gt, vmin=vmin, vmax=vmax), "ground truth"))
    diff_gallery = [
        (colorize_difference(result.differences[name][0]),
         f"{label[name]} − learned (mean |Δ| {result.mean_abs_difference[name]:.2f} m)")
        for name in variants if name != REFERENCE
    ]
    table = result.table() if gt is not None else (
        result.table() + "\n\n*Upload a ground-truth depth (or pick an example) to get AbsRel, RMSE and δ metrics.*")
    return depth_gallery, diff_gallery, table, loaded.status


def build() -> None:
    with gr.Row():
        with gr.Column(scale=1):
            image = PictureInput(label="Picture", sources=["upload", "clipboard"], type="filepath", image_mode=None)
            ground_truth = gr.File(label="Ground-truth depth (optional: 16-bit PNG in mm, or .npy in m)",
                                   file_types=[".png", ".npy"], type="filepath")
            sources = gr.CheckboxGroup(choices=[(SOURCE_LABELS[s], s) for s in ABLATION_SOURCES],
                                       value=list(ABLATION_SOURCES), label="Text-side sources")
            zeroshot = gr.Checkbox(value=True, label=f"Add the {ZEROSHOT} baseline on the same CLIP")
            run = gr.Button("Run ablation", variant="primary")
            choice, custom, status = model_panel()
        with gr.Column(scale=2):
            depths = gr.Gallery(label="Depth per source (one colour range: the ground truth's 2nd–98th percentile)",
                                columns=3, height="auto")
            differences = gr.Gallery(label="Difference to the learned mirror (blue nearer, red farther)",
                                     columns=3, height="auto")
            table = gr.Markdown()
    run.click(ablate, [image, ground_truth, sources, zeroshot, choice, custom], [depths, differences, table, status],
              api_name="mirror_ablation")
    examples = example_images_with_depth()
    if examples:
        gr.Examples(examples=[[rgb, depth] for rgb, depth in examples], inputs=[image, ground_truth],
                    label="Offline examples with ground truth")
