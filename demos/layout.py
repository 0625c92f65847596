"""The app's page: a compact header, the two research ideas one click away, and one tab per demo module."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from . import ablation_tab, attention_tab, image_tab, storage, video_tab, webcam_tab
from .body_limit import BodyLimit
from .errors import BoundaryBlocks, guarded
from .inputs import max_file_bytes, max_files_per_request, max_json_bytes, max_request_bytes, max_state_sessions
from .labels import COLOURBAR_CSS, output_line
from .models import registry, set_default_model
from .upload_budget import UploadBudget, upload_budget_bytes
from .webcam_route import ComponentServerGuard, server_functions

HEADER = """## Depth from one picture, and how a character-level BERT reads text
Upload a photo, a video or use your webcam: a small model guesses how far away each pixel is and
shows it as colours and a 3D point cloud. The last tab shows what each attention head of a small
text model looks at. Everything runs offline on the small models this project trained; the line
above each result says which model that is and what it can and cannot do."""

IDEAS = """**Mirror depth** (after *CLIP Can Understand Depth*, Kim & Lee, arXiv 2402.03251): CLIP stays
frozen; a small learned embedding matrix, the *mirror*, is fed to CLIP's text encoder in place of a
prompt, and a compact decoder turns the similarities between image patches and the mirror's outputs
into depth in metres. The *Mirror ablation* tab swaps the mirror for zeros, random rows or a human
prompt to show what it adds.

**Elementwise embedding** (after *Elementwise Language Representation*, Kim & Kim, arXiv 2302.13475):
a BERT whose token embeddings are concatenations of per-byte embeddings, with as many attention heads
as bytes. The *Attention viewer* shows where each head looks and how much head *n* really reads byte *n*.

Neither paper published code or weights; both are implemented here from the papers' descriptions.
docs/analysis.md holds the studies and their numbers."""

# Shown while a 3D view loads: the canvas is transparent until WebGL draws the cloud (its clear colour
# is opaque), so a message painted as the canvas's own background shows exactly while the cloud loads.
LOADING_SVG = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='240' height='40'%3E"
               "%3Ctext x='120' y='26' font-family='sans-serif' font-size='16' fill='%23888' text-anchor='middle'%3E"
               "Loading the 3D view%E2%80%A6%3C/text%3E%3C/svg%3E")
CSS = COLOURBAR_CSS + video_tab.VIDEO_CSS + f'.cloud-view canvas {{background: center / 60% no-repeat url("{LOADING_SVG}")}}' + """
.gradio-container {max-width: 1400px !important}
.model-line {font-size: 0.9em}
.model-line p {margin: 0}
.hint {font-size: 0.85em; opacity: 0.85}
.tab-intro p {margin: 0 0 4px 0}
.hint p {margin: 0}
.ablation-gallery .caption-label {white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; max-width: 100% !important}
.ablation-table table {display: block; overflow-x: auto}
.ablation-table td, .ablation-table th {white-space: nowrap}
.downloads td.filename {flex-wrap: wrap; overflow: visible !important}
.downloads td.filename .stem {white-space: normal !important; overflow-wrap: anywhere; overflow: visible !important;
  text-overflow: clip !important; min-width: 0}
@media (max-width: 640px) {
  .gradio-container {padding: 4px !important}
  .app-header h2 {font-size: 1.1em; margin: 0}
  .app-header p {font-size: 0.85em; margin: 2px 0}
  .tab-wrapper button[role="tab"], .tab-container button[role="tab"] {padding: 4px 8px !important; font-size: 0.85em}
}
"""


def model_lines():
    """Fills every tab's model line when the page opens (the default model loads on this first use)."""
    loaded = registry().get()
    return [output_line(loaded)] * 4


def build_demo(default_model: str | None = None) -> gr.Blocks:
    if default_model:
        set_default_model(default_model)
    outputs = storage.store()
    outputs.backstop_dirs = (Path(gr.utils.get_upload_folder()),)  # Gradio's cache: swept by us too
    outputs.upload_dir = Path(gr.utils.get_upload_folder())
    outputs.cleanup()
    outputs.start_sweeper()
    with BoundaryBlocks(title="Mirror depth and elementwise embedding", delete_cache=outputs.gradio_cache_policy()) as demo:
        gr.Markdown(HEADER, elem_classes="app-header")
        with gr.Accordion("The two research ideas behind this page", open=False):
            gr.Markdown(IDEAS)
        with gr.Tabs(overflow_behavior="wrap"):
            with gr.Tab("Image", id="image"):
                image_line = image_tab.build()
            with gr.Tab("Webcam", id="webcam"):
                webcam_line = webcam_tab.build()
            with gr.Tab("Video", id="video"):
                video_line = video_tab.build()
            with gr.Tab("Ablation", id="ablation"):
                ablation_line = ablation_tab.build()
            with gr.Tab("Attention", id="attention"):
                attention_tab.build()
        demo.load(guarded(model_lines), None, [image_line, webcam_line, video_line, ablation_line], api_visibility="private",
                  show_progress="hidden")
    outputs.uploads = demo.upload_file_set  # unused uploads are removed by the sweep (demos.storage)
    # Uploads are bounded per file (Gradio), per request body (demos.body_limit) and in total (demos.upload_budget),
    # before any handler runs. show_error=False: only gr.Error's plain sentences reach the page, never other text.
    middleware = [Middleware(BodyLimit, max_bytes=max_request_bytes(), max_json_bytes=max_json_bytes(),
                             max_files=max_files_per_request()),
                  Middleware(UploadBudget, used_bytes=outputs.upload_bytes, max_bytes=upload_budget_bytes()),
                  # the live webcam's server-function route: hostile calls get a plain sentence (demos.webcam_route)
                  Middleware(ComponentServerGuard, functions=lambda: server_functions(demo))]
    demo.launch_options = {"theme": gr.themes.Soft(), "css": CSS, "show_error": False, "max_file_size": max_file_bytes(),
                           "state_session_capacity": max_state_sessions(),
                           "app_kwargs": {"middleware": middleware}}
    registry()  # the default model loads on first use (the page's first load), not at start
    return demo
