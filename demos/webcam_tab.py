"""Live webcam tab: streaming depth on downscaled frames, with the achieved frame rate."""
from __future__ import annotations

import time

import gradio as gr

from common.depth_io import colorize_depth

from .errors import guarded
from .inputs import PictureInput, as_rgb_image, limit_size, number
from .model_panel import model_panel
from .models import depth_caveat, registry

STREAM_MAX_SIDE = 320  # frames are downscaled to this before depth estimation
STREAM_EVERY_S = 0.1
SIDE_RANGE = (96, 640)


def stream_depth(frame, timing: dict | None, max_side: int, model_choice: str, model_custom: str):
    """One webcam frame → coloured depth and a frame-rate line.

    `timing` (session state) holds the time of the previous result, so the shown rate is what the
    user actually gets (frames delivered per second), not only the model's speed.
    """
    if frame is None:
        return None, "Waiting for the camera…", timing
    max_side = number(max_side, "The frame size (longest side, px)", *SIDE_RANGE)
    rgb = limit_size(as_rgb_image(frame, "camera frame"), int(max_side), warn=False)
    predictor = registry().get(model_choice, model_custom).predictor
    start = time.perf_counter()
    depth = predictor.predict(rgb)
    model_ms = (time.perf_counter() - start) * 1000.0
    now = time.perf_counter()
    timing = dict(timing or {})
    previous = timing.get("last")
    if previous is not None:
        instant_fps = 1.0 / max(now - previous, 1e-6)
        timing["fps"] = instant_fps if "fps" not in timing else 0.8 * timing["fps"] + 0.2 * instant_fps
    timing["last"] = now
    timing["frames"] = timing.get("frames", 0) + 1
    fps = f"{timing['fps']:.1f} fps" if "fps" in timing else "first frame"
    line = f"{fps} · model {model_ms:.0f} ms per frame · {rgb.shape[1]}x{rgb.shape[0]} · {timing['frames']} frames"
    caveat = depth_caveat(predictor.info)
    line = f"{line}\n\n{caveat}" if caveat else line
    return colorize_depth(depth), line, timing


def single_frame(frame, max_side: int, model_choice: str, model_custom: str):
    """One frame without a stream, for API clients (gradio_client cannot drive a webcam stream)."""
    if frame is None:
        raise gr.Error("No frame given: send one picture.")
    depth, line, _ = stream_depth(frame, None, max_side, model_choice, model_custom)
    return depth, line


def build() -> None:
    timing = gr.State(None)
    with gr.Row():
        with gr.Column():
            camera = PictureInput(label="Webcam", sources=["webcam"], streaming=True, type="numpy", image_mode="RGB")
            max_side = gr.Slider(*SIDE_RANGE, value=STREAM_MAX_SIDE, step=32, label="Downscale frames to (longest side, px)")
            choice, custom, status = model_panel()
        with gr.Column():
            depth = gr.Image(label="Live depth", type="numpy")
            rate = gr.Markdown("Start the webcam to stream depth.", elem_id="webcam-rate")
    # One frame at a time: the browser sends the next frame only when the worker is free, so frames
    # captured meanwhile are dropped rather than queued. (trigger_mode="always_last" would stop the
    # stream after its first frame in this Gradio version.)
    camera.stream(
        guarded(stream_depth),
        [camera, timing, max_side, choice, custom],
        [depth, rate, timing],
        stream_every=STREAM_EVERY_S,
        time_limit=300,
        concurrency_limit=1,
        api_name="webcam_depth",
    )
    # The same work for a single frame, as a named endpoint for API clients.
    frame_in = PictureInput(visible=False)
    frame_out = gr.Image(type="numpy", visible=False)
    rate_out = gr.Markdown(visible=False)
    gr.Button(visible=False).click(guarded(single_frame), [frame_in, max_side, choice, custom], [frame_out, rate_out],
                                   api_name="webcam_frame")
