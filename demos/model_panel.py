"""The model panel shown on every depth tab: choice, custom path / Hub id, and what is loaded."""
from __future__ import annotations

import gradio as gr

from .errors import guarded
from .models import MODEL_CHOICES, registry


def model_panel() -> tuple[gr.Dropdown, gr.Textbox, gr.Markdown]:
    default = registry().default_spec
    preset_values = {value for _, value in MODEL_CHOICES}
    with gr.Accordion("Model", open=False):
        choice = gr.Dropdown(
            choices=MODEL_CHOICES,
            value=default if default in preset_values else "custom",
            label="Depth model",
        )
        custom = gr.Textbox(
            value="" if default in preset_values else default,
            label="Mirror checkpoint folder under checkpoints/ (or a Hub repo id where allowed; for the last choice)",
            placeholder="checkpoints/mirror-synthetic-tiny",
        )
        load = gr.Button("Load model", size="sm")
        status = gr.Markdown("The model loads on first use.")
    load.click(guarded(model_status), [choice, custom], status, api_name=False)
    return choice, custom, status


def model_status(choice: str, custom: str) -> str:
    return registry().get(choice, custom).status
