"""Live webcam tab: streaming depth on downscaled frames for several visitors at once, with a
colourbar, the achieved frame rate and each visitor's time left.

Where a live frame's time goes, and what this tab does about it (figures: docs/app.md):

- the picture comes back inline, as a JPEG data URL in the stream's own message: no file written
  to Gradio's cache per frame and no second request to fetch it (that file was also what the
  server's log complained about: a frame whose bytes equal an earlier one's is saved under the
  same name, and rewriting it while the page fetched it sent more bytes than the response had
  declared);
- the picture is the depth's 8-bit colour index as a grey JPEG (half the bytes of a coloured one,
  no colouring here), painted in the page through the colour table as an SVG filter; the page
  keeps one <img> and only swaps its source (a template holding the picture would be parsed, and
  its picture decoded, once more per frame);
- the camera frame is decoded here, at the scale it will be used (JPEG DCT scaling), not at full
  size and then shrunk;
- the rate line and the colourbar change a few times a second, not with every frame (each update
  is a Markdown render in the page);
- streams share the model through demos.webcam_slots: several visitors at once (LIVE_SLOTS), one
  forward at a time with the frames that waited meanwhile batched together, turns of LIVE_TURN_S
  seconds when others wait, a plain message with the place in line while waiting, one stream per
  browser.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import time

import gradio as gr
import numpy as np
from PIL import Image

from common.depth_io import colorize_depth, colormap_lut, colour_index, display_range

from .errors import guarded
from .inputs import PictureInput, as_rgb_image, limit_size, max_upload_pixels, number, too_large_message
from .labels import colourbar, output_line
from .model_panel import model_panel
from .models import registry
from .webcam_slots import DUPLICATE, LIVE, BatchTurns, LiveSlots, Pass

STREAM_MAX_SIDE = 320  # frames are downscaled to this before depth estimation
SIDE_RANGE = (96, 640)
# The page captures a frame every STREAM_EVERY_S while no answer is pending, so after each answer
# the next frame leaves within this interval: short, so the round trip, not the timer, sets the rate.
STREAM_EVERY_S = 0.01
# Ask the camera for small frames, so the browser uploads ~320x240 JPEGs instead of its full size.
CAMERA_CONSTRAINTS = {"video": {"width": {"ideal": 320}, "height": {"ideal": 240}, "facingMode": "user"}}
JPEG_QUALITY = 80  # the depth picture sent back: a smooth grey index, ~6 kB at 320x240
LIVE_CMAP = "turbo"  # the colours the page paints the index with (the colourbar's too)
LINE_EVERY_S = 0.25  # the rate line and colourbar are refreshed this often, not every frame
RESTART_GAP_S = 2.0  # a live stream answers every ~0.05-0.2 s; a silence this long (and 5 intervals) means Stop, then Record
WAIT_POLL_S = 0.5  # a waiting stream's frames are answered this often (no depth, just its place in line)
# Several live streams; each holds its slot for turns of LIVE_TURN_S while others wait (env: APP_LIVE_SLOTS, APP_LIVE_TURN_S).
LIVE_SLOTS = int(os.environ.get("APP_LIVE_SLOTS", "") or 4)
LIVE_TURN_S = float(os.environ.get("APP_LIVE_TURN_S", "") or 180)
WAITING_LINE = 12  # streams that may wait for a slot; Gradio's own queue holds any more
IDLE_S = 6.0  # a stream silent this long after its last answer loses its slot (camera stopped, tab closed, API client gone quiet)
INTRO = ("**Live depth from your camera:** each frame goes through the same model as the Image tab, downscaled for "
         "speed; the line under the picture shows the frames per second you actually get and your time left. Several "
         "visitors can stream at once; when all places are taken you see your place in line.")
START_HINT = ("**To start:** press *Click to Access Webcam* and allow the camera, then the red **● Record** "
              "button under the picture; depth streams beside the camera (below it on a phone) until you press **■ Stop**.")
DEPTH_FILTER_ID = "live-depth-colours"


def colour_table_filter(cmap: str = LIVE_CMAP, filter_id: str = DEPTH_FILTER_ID) -> str:
    """An SVG filter that paints a grey picture whose level is a colour index (0-255) with the
    colours colorize_depth uses: one feComponentTransfer table of 256 entries per channel, so
    level k lands exactly on entry k (SVG 1.1, 15.11: a table of n values spans [0, 1] in n - 1
    steps). sRGB interpolation, or the browser would move the levels to linear light first."""
    lut = colormap_lut(cmap) / 255.0
    funcs = "".join(f'<feFunc{c} type="table" tableValues="{" ".join(f"{v:.4f}" for v in lut[:, i])}"/>'
                    for i, c in enumerate("RGB"))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" style="position:absolute" aria-hidden="true">'
            f'<filter id="{filter_id}" color-interpolation-filters="sRGB"><feComponentTransfer>{funcs}</feComponentTransfer>'
            '</filter></svg>')


# The depth picture: one <img> whose source the page swaps for each frame's data URL (DEPTH_JS); the
# template does not hold the picture, so a new frame re-renders nothing.
DEPTH_TEMPLATE = colour_table_filter() + '<img alt="Live depth, near is warm" class="live-depth">'
# The picture fills its column whatever the downscale size (a 128 px frame is not a thumbnail).
DEPTH_CSS = (".live-depth {display: block; width: 100%; height: auto; margin: 0 auto; "
             f"filter: url(#{DEPTH_FILTER_ID})}} .live-depth:not([src]) {{display: none}}")
DEPTH_JS = """
const img = element.querySelector('img.live-depth');
const show = () => { if (props.value) img.src = props.value; else img.removeAttribute('src'); };
show();
watch('value', show);
"""
UNREADABLE_FRAME = "The camera frame could not be read: the page sends JPEG frames; send a JPEG or PNG picture."

SLOTS = LiveSlots(LIVE_SLOTS, LIVE_TURN_S, IDLE_S)
TURNS = BatchTurns(max_batch=LIVE_SLOTS)


class LiveFrameInput(PictureInput):
    """The webcam picture: a streamed frame (an inline data: URL) is handed to the handler as that
    URL, which decodes it at the size it needs (decode_frame); anything else as PictureInput does."""

    def preprocess(self, payload):
        url = str(getattr(payload, "url", None) or "")
        if url.startswith("data:") and not getattr(payload, "path", None):
            return url
        return super().preprocess(payload)


def decode_frame(frame, max_side: int) -> np.ndarray:
    """A camera frame (a data: URL of a JPEG or PNG, or an image array) as RGB uint8 (H, W, 3),
    longest side at most `max_side`. A JPEG is decoded straight at the largest 1/2, 1/4 or 1/8
    scale that still covers `max_side` (Pillow's draft mode), then resized. Raises gr.Error with a
    plain sentence for anything unreadable or over the pixel cap (APP_MAX_IMAGE_PIXELS)."""
    if not isinstance(frame, str) or not frame.startswith("data:"):  # an array or an uploaded file (API clients)
        return limit_size(as_rgb_image(frame, "camera frame"), int(max_side), warn=False)
    header, _, data = frame.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise gr.Error(UNREADABLE_FRAME)
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if width * height > max_upload_pixels():
                raise gr.Error(too_large_message())
            scale = min(1.0, max_side / max(width, height))
            image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
            rgb = np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError:  # Pillow's own cap, met at open before the check above
        raise gr.Error(too_large_message()) from None
    except (OSError, ValueError, binascii.Error):
        raise gr.Error(UNREADABLE_FRAME) from None
    return limit_size(rgb, int(max_side), warn=False)


def jpeg_data_url(picture: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """A uint8 picture, RGB (H, W, 3) or grey (H, W), as a `data:image/jpeg;base64,…` URL
    (libjpeg-turbo through Pillow)."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def clock_text(seconds: float) -> str:
    """Seconds as m:ss (rounded up, so 0:00 shows only at the very end)."""
    whole = int(-(-max(0.0, seconds) // 1))
    return f"{whole // 60}:{whole % 60:02d}"


def waiting_line(ticket: Pass) -> str:
    """The rate line of a stream that gets no depth now: why, and what happens next."""
    if ticket.state == DUPLICATE:
        return ("This browser already streams live depth in another tab. Stop it there (or close that tab); "
                "this one starts by itself a few seconds later.")
    ahead = "You are next" if ticket.position == 1 else f"You are number {ticket.position} in line"
    return (f"All {SLOTS.slots} live places are in use. {ahead}; a place frees in about {clock_text(ticket.wait_s or 0)} "
            "at the latest. Keep this tab open: depth starts by itself.")


def live_depth(rgb: np.ndarray, loaded):
    """Depth of one frame through the shared model turns: (depth in metres (H, W), batch size, forward ms)."""
    def predict(frames):
        return loaded.predictor.predict(frames)

    depth, batch, seconds = TURNS.run(id(loaded.predictor), predict, rgb)
    return depth, batch, seconds * 1000.0


def stream_depth(frame, timing: dict | None, max_side: int, model_choice: str, model_custom: str,
                 client_id: str | None = None, request: gr.Request | None = None):
    """One webcam frame → (depth's colour index as a grey JPEG data URL, colourbar, rate line, model line, timing).

    A stream without a live place gets its rate line only (its place in line, or why not), after
    WAIT_POLL_S. `timing` (session state) holds the time of the previous result, so the shown rate
    is what the user actually gets (frames delivered per second), not only the model's speed."""
    stream = getattr(request, "session_hash", None) or "api"
    try:
        return _stream_depth(frame, timing, max_side, model_choice, model_custom, client_id, stream)
    finally:
        SLOTS.answered(stream)


def _stream_depth(frame, timing, max_side, model_choice, model_custom, client_id, stream: str):
    if frame is None:
        return gr.skip(), gr.skip(), "Waiting for the camera…", gr.skip(), timing
    ticket = SLOTS.visit(stream, client_id or stream)
    if ticket.state != LIVE:
        time.sleep(WAIT_POLL_S)  # its next frame comes after this answer: a waiting tab asks twice a second
        return gr.skip(), gr.skip(), waiting_line(ticket), gr.skip(), dict(timing or {}, shown=None)
    max_side = number(max_side, "The frame size (longest side, px)", *SIDE_RANGE)
    rgb = decode_frame(frame, int(max_side))
    loaded = registry().get(model_choice, model_custom)
    depth, batch, model_ms = live_depth(rgb, loaded)
    vmin, vmax = display_range(depth)
    picture = jpeg_data_url(colour_index(depth, vmin, vmax)[0])  # the page paints it (colour_table_filter)
    now = time.perf_counter()
    timing = dict(timing or {})
    # A silence much longer than this stream's own answers is a new recording (Stop, then Record) or a
    # new live turn: its count and rate start again. (Relative, so a very slow stream never resets.)
    if timing.get("last") is not None and now - timing["last"] > max(RESTART_GAP_S, 5.0 * timing.get("interval", 0.0)):
        timing = {}
    previous = timing.get("last")
    if previous is not None:  # a running mean of the intervals (a mean of 1/interval would read too high)
        interval = now - previous
        timing["interval"] = interval if "interval" not in timing else 0.8 * timing["interval"] + 0.2 * interval
        timing["fps"] = 1.0 / max(timing["interval"], 1e-6)
    timing["last"] = now
    timing["frames"] = timing.get("frames", 0) + 1
    first = timing["frames"] == 1
    if not first and timing.get("shown") is not None and now - timing["shown"] < LINE_EVERY_S:
        return picture, gr.skip(), gr.skip(), gr.skip(), timing
    timing["shown"] = now
    fps = f"{timing['fps']:.1f} fps" if "fps" in timing else "first frame"
    frames = "1 frame" if first else f"{timing['frames']} frames"
    shared = f" (batch of {batch})" if batch > 1 else ""
    line = (f"{fps} · model {model_ms:.0f} ms per frame{shared} · {rgb.shape[1]}x{rgb.shape[0]} · {frames} · "
            f"{clock_text(ticket.left_s)} left")
    model = output_line(loaded) if first else gr.skip()
    return picture, colourbar(vmin, vmax, LIVE_CMAP), line, model, timing


def single_frame(frame, max_side: int, model_choice: str, model_custom: str):
    """One frame without a stream, for API clients (gradio_client cannot drive a webcam stream):
    the coloured depth (RGB uint8) and a line with the model's time."""
    if frame is None:
        raise gr.Error("No frame given: send one picture.")
    max_side = number(max_side, "The frame size (longest side, px)", *SIDE_RANGE)
    rgb = decode_frame(frame, int(max_side))
    loaded = registry().get(model_choice, model_custom)
    depth, _, model_ms = live_depth(rgb, loaded)
    vmin, vmax = display_range(depth)
    return colorize_depth(depth, vmin=vmin, vmax=vmax), f"model {model_ms:.0f} ms per frame · {rgb.shape[1]}x{rgb.shape[0]}"


# This browser's id for the one-stream-per-browser rule, read and (the first time) made in the page
# itself, in one synchronous step on localStorage: every tab of the browser gets the same id, even
# tabs opened together (a server round trip to make it let each tab make its own).
BROWSER_ID_JS = """() => {
  const key = "webcam-browser-id";
  try {
    let id = window.localStorage.getItem(key);
    if (!id) {
      id = (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID()
        : Date.now().toString(36) + Math.random().toString(36).slice(2);
      window.localStorage.setItem(key, id);
    }
    return id;
  } catch (error) {
    return "";
  }
}"""


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    timing = gr.State(None)
    client_id = gr.Textbox(visible=False, elem_id="webcam-browser-id")  # filled in the page by BROWSER_ID_JS
    gr.on(None, None, None, [client_id], js=BROWSER_ID_JS, show_progress="hidden", api_visibility="private")
    gr.Markdown(INTRO, elem_classes="tab-intro")
    gr.Markdown(START_HINT, elem_classes="hint")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            camera = LiveFrameInput(label="Webcam", sources=["webcam"], streaming=True, type="numpy", image_mode="RGB",
                                    webcam_options=gr.WebcamOptions(constraints=CAMERA_CONSTRAINTS))
            max_side = gr.Slider(*SIDE_RANGE, value=STREAM_MAX_SIDE, step=32,
                                 label="Downscale frames to (longest side, px)")
            choice, custom, status = model_panel()
        with gr.Column(min_width=300):
            line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
            # The title above the picture, not Gradio's label badge, which lies over the picture's corner.
            gr.Markdown("**Live depth** (near is warm)", elem_classes="live-depth-title")
            depth = gr.HTML(None, label="Live depth (near is warm)", show_label=False, html_template=DEPTH_TEMPLATE,
                            css_template=DEPTH_CSS, js_on_load=DEPTH_JS, elem_id="webcam-depth", container=True,
                            min_height=120)
            bar = gr.HTML(elem_classes="colourbar-box")
            rate = gr.Markdown("Not streaming yet.", elem_id="webcam-rate")
    # The page sends the next frame only once the previous answer is back, so frames captured
    # meanwhile are dropped rather than queued. Gradio's limit counts streams that are live or
    # waiting for a place (demos.webcam_slots decides which get depth); no time limit of Gradio's:
    # the turns end a visitor's hold while others wait, and Gradio closes a stream silent for 30 s.
    camera.stream(
        guarded(stream_depth),
        [camera, timing, max_side, choice, custom, client_id],
        [depth, bar, rate, line, timing],
        stream_every=STREAM_EVERY_S,
        concurrency_limit=LIVE_SLOTS + WAITING_LINE,
        concurrency_id="webcam-live",
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
