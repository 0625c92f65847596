"""Live webcam tab: streaming depth on downscaled frames, with a colourbar and the achieved frame rate."""
from __future__ import annotations

import time

import gradio as gr

from common.depth_io import colorize_depth, display_range

from .errors import guarded
from .inputs import PictureInput, as_rgb_image, limit_size, number
from .labels import colourbar, output_line
from .model_panel import model_panel
from .models import registry

STREAM_MAX_SIDE = 320  # frames are downscaled to this before depth estimation
SIDE_RANGE = (96, 640)
# The browser captures a frame every STREAM_EVERY_S, but sends the next one only when the previous
# result is back, so the rate is whichever is slower: this interval or one round trip.
STREAM_EVERY_S = 0.03
# Ask the camera for small frames, so the browser uploads ~320x240 JPEGs instead of its full size.
CAMERA_CONSTRAINTS = {"video": {"width": {"ideal": 320}, "height": {"ideal": 240}, "facingMode": "user"}}
START_HINT = ("**To start:** press *Click to Access Webcam* and allow the camera, then the red **● Record** "
              "button under the picture; depth streams on the right until you press **■ Stop**.")


def stream_depth(frame, timing: dict | None, max_side: int, model_choice: str, model_custom: str):
    """One webcam frame → coloured depth, its colourbar, a frame-rate line and (on the first frame) the model line.

    `timing` (session state) holds the time of the previous result, so the shown rate is what the
    user actually gets (frames delivered per second), not only the model's speed.
    """
    if frame is None:
        return None, gr.skip(), "Waiting for the camera…", gr.skip(), timing
    max_side = number(max_side, "The frame size (longest side, px)", *SIDE_RANGE)
    rgb = limit_size(as_rgb_image(frame, "camera frame"), int(max_side), warn=False)
    loaded = registry().get(model_choice, model_custom)
    start = time.perf_counter()
    depth = loaded.predictor.predict(rgb)
    model_ms = (time.perf_counter() - start) * 1000.0
    vmin, vmax = display_range(depth)
    colour = colorize_depth(depth, vmin=vmin, vmax=vmax)
    now = time.perf_counter()
    timing = dict(timing or {})
    previous = timing.get("last")
    if previous is not None:  # a running mean of the intervals (a mean of 1/interval would read too high)
        interval = now - previous
        timing["interval"] = interval if "interval" not in timing else 0.8 * timing["interval"] + 0.2 * interval
        timing["fps"] = 1.0 / max(timing["interval"], 1e-6)
    timing["last"] = now
    timing["frames"] = timing.get("frames", 0) + 1
    fps = f"{timing['fps']:.1f} fps" if "fps" in timing else "first frame"
    frames = "1 frame" if timing["frames"] == 1 else f"{timing['frames']} frames"
    line = f"{fps} · model {model_ms:.0f} ms per frame · {rgb.shape[1]}x{rgb.shape[0]} · {frames}"
    model = output_line(loaded) if timing["frames"] == 1 else gr.skip()
    return colour, colourbar(vmin, vmax), line, model, timing


def single_frame(frame, max_side: int, model_choice: str, model_custom: str):
    """One frame without a stream, for API clients (gradio_client cannot drive a webcam stream)."""
    if frame is None:
        raise gr.Error("No frame given: send one picture.")
    depth, _, line, _, _ = stream_depth(frame, None, max_side, model_choice, model_custom)
    return depth, line


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    timing = gr.State(None)
    gr.Markdown(START_HINT, elem_classes="hint")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            camera = PictureInput(label="Webcam", sources=["webcam"], streaming=True, type="numpy", image_mode="RGB",
                                  webcam_options=gr.WebcamOptions(constraints=CAMERA_CONSTRAINTS))
            max_side = gr.Slider(*SIDE_RANGE, value=STREAM_MAX_SIDE, step=32,
                                 label="Downscale frames to (longest side, px)")
            choice, custom, status = model_panel()
        with gr.Column(min_width=300):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            depth = gr.Image(label="Live depth (near is warm)", type="numpy", format="jpeg", elem_id="webcam-depth")
            bar = gr.HTML(elem_classes="colourbar-box")
            rate = gr.Markdown("Not streaming yet.", elem_id="webcam-rate")
    # One frame at a time: the browser sends the next frame only when the worker is free, so frames
    # captured meanwhile are dropped rather than queued. (trigger_mode="always_last" would stop the
    # stream after its first frame in this Gradio version.) No progress overlay on a live picture.
    camera.stream(
        guarded(stream_depth),
        [camera, timing, max_side, choice, custom],
        [depth, bar, rate, line, timing],
        stream_every=STREAM_EVERY_S,
        time_limit=300,
        concurrency_limit=1,
        show_progress="hidden",
        api_name="webcam_depth",
    )
    # The same work for a single frame, as a named endpoint for API clients.
    frame_in = PictureInput(visible=False)
    frame_out = gr.Image(type="numpy", visible=False)
    rate_out = gr.Markdown(visible=False)
    gr.Button(visible=False).click(guarded(single_frame), [frame_in, max_side, choice, custom], [frame_out, rate_out],
                                   api_name="webcam_frame")
    return line
