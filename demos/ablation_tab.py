"""Mirror ablation tab: one trained model, every text-side source side by side, difference maps,
and metrics when a ground-truth depth is given."""
from __future__ import annotations

import gradio as gr
import numpy as np

from analysis.ablation import ABLATION_SOURCES, REFERENCE, ZEROSHOT, colorize_difference, run_ablation
from common.depth_io import colorize_depth, read_depth_file
from common.validate import ImageTooLargeError

from .errors import guarded
from .examples import example_images_with_depth, example_photos
from .inputs import PictureInput, as_rgb_image, choice, limit_size, max_upload_pixels, reject_unreadable_uploads
from .labels import colourbar, difference_bar, output_line
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
MIN_DEPTH_M = 1e-3  # common.depth_metrics' default min_depth: nearer pixels do not count
TABLE_KEYS = ("abs_rel", "rmse", "d1")  # the tab's columns; `python -m analysis.ablation` writes all nine
INTRO = ("**The claim:** the learned *mirror* (a small matrix fed to CLIP's text encoder in place of a prompt's words) "
         "is what turns CLIP's picture–text similarities into depth. Pick an example: the same picture runs with the "
         "mirror swapped for zeros, random rows or a human prompt (and through zero-shot DepthCLIP), and the sentence "
         "above the table says whether the swaps changed the depth and, with a ground truth, which scored best.")


def read_ground_truth(path: str | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A 16-bit PNG (millimetres) or .npy/.npz (metres) depth map at the picture's size, checked
    from its header (size) and its values (some valid depth) before use."""
    if not path:
        return None
    import cv2

    try:
        depth = read_depth_file(path, max_pixels=max_upload_pixels())
    except ImageTooLargeError:
        raise gr.Error(f"The ground truth is too large: the limit is {max_upload_pixels() / 1e6:.0f} megapixels. "
                       "Downscale it and upload it again.") from None
    except (ValueError, OSError) as error:
        raise gr.Error(f"Could not read the ground truth: {error}. Upload a 16-bit PNG in millimetres or a .npy in "
                       "metres.") from None
    depth[~np.isfinite(depth)] = 0.0  # NaN / infinity: no depth
    if not (depth > 0).any():
        raise gr.Error("The ground truth has no valid depth: every pixel is 0, negative or not a number. Upload a depth "
                       "map with depth in it, or remove it to see the maps without metrics.")
    if depth.shape != shape:
        depth = cv2.resize(depth, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return depth


def check_in_range(gt: np.ndarray | None, max_depth_m: float) -> None:
    """A plain answer when no ground-truth pixel lies where the metrics count (MIN_DEPTH_M to the
    model's max depth, exclusive, as common.depth_metrics.eval_mask): the metrics would be empty."""
    if gt is None or not max_depth_m:
        return
    if ((gt > MIN_DEPTH_M) & (gt < max_depth_m)).any():
        return
    valid = gt[gt > 0]
    raise gr.Error(f"The ground truth has no pixel inside this model's range ({MIN_DEPTH_M:g} to {max_depth_m:g} m): its "
                   f"depths run from {float(valid.min()):.3g} to {float(valid.max()):.3g} m. A .npy holds metres (a map in "
                   "millimetres is 1000 times too large); a 16-bit PNG holds millimetres.")


def ablate(image, ground_truth, sources: list[str], zeroshot: bool, model_choice: str, model_custom: str,
           progress=gr.Progress()):
    sources = [choice(source, "Each mirror source", ABLATION_SOURCES) for source in (sources or [])]
    zeroshot = bool(zeroshot)
    rgb = limit_size(as_rgb_image(image), MAX_SIDE)
    if not sources and not zeroshot:
        raise gr.Error("Select at least one mirror source or the zero-shot baseline.")
    gt = read_ground_truth(ground_truth, rgb.shape[:2])
    loaded = registry().get(model_choice, model_custom)
    if loaded.predictor.info.kind != "mirror":
        raise gr.Error("The mirror ablation needs a mirror model; choose the bundled model or a mirror checkpoint.")
    check_in_range(gt, float(getattr(loaded.predictor, "max_depth", 0.0) or 0.0))
    progress(0.2, desc="Running every text-side source")
    try:
        result = run_ablation(loaded.predictor, [rgb], [gt], sources=tuple(sources), zeroshot=zeroshot)
    except ValueError:
        bundled = loaded.predictor is registry().get().predictor
        raise gr.Error("The ablation could not run on this picture with this model"
                       + ("." if bundled else "; try the bundled model.")) from None
    variants = list(result.depths)
    # One colour range for every map: the ground truth's (or the first source's) 2nd-98th percentile.
    reference = gt[gt > 0] if gt is not None and (gt > 0).any() else result.depths[variants[0]][0]
    vmin, vmax = (float(v) for v in np.percentile(reference, [2, 98]))
    label = {name: SOURCE_LABELS.get(name, name) for name in variants}
    depth_gallery = [(colorize_depth(result.depths[name][0], vmin=vmin, vmax=vmax), label[name]) for name in variants]
    if gt is not None:
        depth_gallery.insert(0, (colorize_depth(gt, vmin=vmin, vmax=vmax), "ground truth"))
    compared = [name for name in variants if name != REFERENCE]
    # One symmetric range for every difference map, so their colours compare.
    limit = max([float(np.percentile(np.abs(result.differences[name][0]), 98)) for name in compared] or [0.0])
    limit = max(limit, 1e-3)
    diff_gallery = [(colorize_difference(result.differences[name][0], limit=limit), f"{label[name]} − learned")
                    for name in compared]
    table = result.conclusion(label) + "\n\n" + result.table(TABLE_KEYS)
    if gt is None:
        table += "\n\n*Upload a ground-truth depth (or pick a room example) to get AbsRel, RMSE and δ1.*"
    depth_bar = colourbar(vmin, vmax, what="every map")
    diff_bar = difference_bar(limit) if compared else ""
    return depth_gallery, depth_bar, diff_gallery, diff_bar, table, output_line(loaded), loaded.status


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    gr.Markdown(INTRO, elem_classes="tab-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            image = PictureInput(label="Picture", sources=["upload", "clipboard"], type="filepath", image_mode=None,
                                 height=300)
            ground_truth = gr.File(label="Ground-truth depth (optional: 16-bit PNG in mm, or .npy in m)",
                                   file_types=[".png", ".npy"], type="filepath", height=150)
            examples = [[rgb, depth] for rgb, depth in example_images_with_depth(2)]
            examples += [[path, None] for path, _ in example_photos()[:2]]
            example_set = gr.Examples(examples=examples, inputs=[image, ground_truth],
                                      label="Examples: click one to run it (rooms with ground truth, then real photos)")
            sources = gr.CheckboxGroup(choices=[(SOURCE_LABELS[s], s) for s in ABLATION_SOURCES],
                                       value=list(ABLATION_SOURCES), label="Text-side sources")
            zeroshot = gr.Checkbox(value=True, label=f"Add the {ZEROSHOT} baseline on the same CLIP")
            run = gr.Button("Run ablation", variant="primary")
            choice, custom, status = model_panel()
        with gr.Column(scale=2, min_width=300):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            depths = gr.Gallery(label="Depth per source (one colour range for all; near is warm)",
                                columns=3, height="auto", elem_classes="ablation-gallery")
            depth_bar = gr.HTML(elem_classes="colourbar-box")
            differences = gr.Gallery(label="Difference to the learned mirror (blue nearer, red farther)",
                                     columns=3, height="auto", elem_classes="ablation-gallery")
            diff_bar = gr.HTML(elem_classes="colourbar-box")
            table = gr.Markdown(elem_classes="ablation-table")
    reject_unreadable_uploads(image)
    inputs = [image, ground_truth, sources, zeroshot, choice, custom]
    outputs = [depths, depth_bar, differences, diff_bar, table, line, status]
    run.click(guarded(ablate), inputs, outputs, api_name="mirror_ablation")
    example_set.load_input_event.then(guarded(ablate), inputs, outputs, api_visibility="undocumented")
    return line
