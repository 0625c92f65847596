"""The app's page: a header and one tab per demo module."""
from __future__ import annotations

import gradio as gr

from . import ablation_tab, attention_tab, image_tab, storage, video_tab, webcam_tab
from .models import registry, set_default_model

HEADER = """# Mirror depth · Elementwise embedding
Frozen CLIP + a learned *mirror* prompt + a compact decoder estimate metric depth; a BERT built from
per-byte character embeddings shows one attention head per character position. Every tab works offline
with the bundled models; the **Model** panel on the depth tabs says what is loaded and where it came from."""

CSS = ".gradio-container {max-width: 1400px !important}"


def build_demo(default_model: str | None = None) -> gr.Blocks:
    if default_model:
        set_default_model(default_model)
    outputs = storage.store()
    outputs.cleanup()
    outputs.start_sweeper()
    with gr.Blocks(title="Mirror depth and elementwise embedding", delete_cache=outputs.gradio_cache_policy()) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("Image depth", id="image"):
                image_tab.build()
            with gr.Tab("Live webcam", id="webcam"):
                webcam_tab.build()
            with gr.Tab("Video", id="video"):
                video_tab.build()
            with gr.Tab("Mirror ablation", id="ablation"):
                ablation_tab.build()
            with gr.Tab("Attention viewer", id="attention"):
                attention_tab.build()
    demo.launch_options = {"theme": gr.themes.Soft(), "css": CSS, "show_error": True}
    registry()  # the default model loads on first use, not at start
    return demo
