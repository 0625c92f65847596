"""Live webcam tab: streaming depth on downscaled frames for several visitors at once, with a
colourbar, the achieved frame rate and each visitor's time left.

The page runs its own client (demos.webcam_client: one gr.HTML component) that captures the camera
on its frames and keeps FRAMES_IN_FLIGHT frames on their way to `live_frame`, a server function of
that component; Stop calls `live_stop`. Where a live frame's time goes, and what this tab does
about it (figures: docs/app.md):

- with one frame in flight the server, the page's download of the answer and its decode and paint
  follow one another (~43 + 22 + 35 ms); with two, the page's work on one answer overlaps the
  server's next frame, and the camera's frames pace the capture;
- the picture comes back inline, as a JPEG data URL in the answer: no file written to Gradio's
  cache per frame and no second request to fetch it;
- the picture is the depth's 8-bit colour index as a grey JPEG (half the bytes of a coloured one,
  no colouring here), painted in the page through the colour table as an SVG filter; the page
  keeps one <img> and only swaps its source;
- the camera frame is decoded here, at the scale it will be used (JPEG DCT scaling), not at full
  size and then shrunk;
- the rate line and the colourbar's range come a few times a second, not with every frame;
- streams share the model through demos.webcam_slots: several visitors at once (LIVE_SLOTS), one
  forward at a time with the frames that waited meanwhile batched together, turns of LIVE_TURN_S
  seconds when others wait, a plain message with the place in line while waiting, one stream per
  browser, at most FRAMES_IN_FLIGHT frames of a stream in the server.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import threading
import time
from dataclasses import dataclass

import gradio as gr
import numpy as np
from PIL import Image

from common.depth_io import colorize_depth, colormap_lut, colour_index, display_range

from .errors import guarded
from .inputs import PictureInput, as_rgb_image, choice, limit_size, max_upload_pixels, number, too_large_message
from .labels import output_line
from .model_panel import model_panel
from .models import MODEL_CHOICES, registry
from .webcam_client import FRAMES_IN_FLIGHT, LIVE_ELEM_ID, client_css, client_js, client_template
from .webcam_slots import BUSY, DUPLICATE, LIVE, WAITING, BatchTurns, LiveSlots, Pass

STREAM_MAX_SIDE = 320  # frames are downscaled to this before depth estimation
SIDE_RANGE = (96, 640)
# Ask the camera for small frames, so the browser uploads ~320x240 JPEGs instead of its full size.
CAMERA_CONSTRAINTS = {"video": {"width": {"ideal": 320}, "height": {"ideal": 240}, "facingMode": "user"}}
JPEG_QUALITY = 80  # the depth picture sent back: a smooth grey index, ~6 kB at 320x240
LIVE_CMAP = "turbo"  # the colours the page paints the index with (the colourbar's too)
LINE_EVERY_S = 0.25  # the rate line and colourbar's range are sent this often, not with every frame
WAIT_POLL_S = 0.5  # a stream without a live place asks again after this long (no depth, just its place in line)
BUSY_RETRY_S = 0.05  # a frame over the stream's in-flight limit: the page sends again after this long
# Several live streams; each holds its slot for turns of LIVE_TURN_S while others wait (env: APP_LIVE_SLOTS, APP_LIVE_TURN_S).
LIVE_SLOTS = int(os.environ.get("APP_LIVE_SLOTS", "") or 4)
LIVE_TURN_S = float(os.environ.get("APP_LIVE_TURN_S", "") or 180)
IDLE_S = 6.0  # a stream silent this long after its last answer loses its slot (tab closed without Stop, client gone quiet)
RATE_FORGET_S = 60.0  # the rate of a stream silent this long is forgotten (a tab closed without Stop)
MAX_ID_CHARS = 100  # stream and browser ids: the page's are 36 characters (a UUID)
# A live frame's most pixels: a 1080p camera frame sent as it comes (the page sends at most SIDE_RANGE[1]
# px on the longest side). The app's upload cap (25 MP) let a flat PNG of ~100 kB cost ~0.6 s to decode.
LIVE_FRAME_MAX_PIXELS = 1920 * 1080
LIVE_FRAME_TOO_LARGE = ("A live frame may have at most 1920x1080 pixels (the page sends at most "
                        f"{SIDE_RANGE[1]} px on the longest side). Send a smaller frame.")
INTRO = ("**Live depth from your camera:** each frame goes through the same model as the Image tab, downscaled for "
         "speed; the line under the picture shows the frames per second you actually get and your time left. Several "
         "visitors can stream at once; when all places are taken you see your place in line.")
START_HINT = ("**To start:** press **● Start** and allow the camera; depth streams beside the camera (below it on a "
              "phone) until you press **■ Stop**.")
DEPTH_FILTER_ID = "live-depth-colours"
UNREADABLE_FRAME = "The camera frame could not be read: the page sends JPEG frames; send a JPEG or PNG picture."
BAD_MESSAGE = ("A live frame must be sent as an object with a frame (a JPEG or PNG data URL) and a stream id (at most "
               f"{MAX_ID_CHARS} characters); the browser id, frame size and model are optional.")


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


SLOTS = LiveSlots(LIVE_SLOTS, LIVE_TURN_S, IDLE_S, max_in_flight=FRAMES_IN_FLIGHT)
TURNS = BatchTurns(max_batch=LIVE_SLOTS)


def decode_frame(frame, max_side: int, live: bool = False) -> np.ndarray:
    """A camera frame (a data: URL of a JPEG or PNG, or an image array) as RGB uint8 (H, W, 3),
    longest side at most `max_side`. A JPEG is decoded straight at the largest 1/2, 1/4 or 1/8
    scale that still covers `max_side` (Pillow's draft mode), then resized. Raises gr.Error with a
    plain sentence for anything unreadable or over the pixel cap (APP_MAX_IMAGE_PIXELS; a `live`
    frame: LIVE_FRAME_MAX_PIXELS, read from the header before anything is decoded)."""
    if not isinstance(frame, str) or not frame.startswith("data:"):  # an array or an uploaded file (API clients)
        return limit_size(as_rgb_image(frame, "camera frame"), int(max_side), warn=False)
    header, _, data = frame.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise gr.Error(UNREADABLE_FRAME)
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if live and width * height > LIVE_FRAME_MAX_PIXELS:
                raise gr.Error(LIVE_FRAME_TOO_LARGE)
            if width * height > max_upload_pixels():
                raise gr.Error(too_large_message())
            scale = min(1.0, max_side / max(width, height))
            image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
            rgb = np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError:  # Pillow's own cap, met at open before the check above
        raise gr.Error(too_large_message()) from None
    except gr.Error:  # a plain sentence from the checks above (gr.Error is a ValueError: not "unreadable")
        raise
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
    taken = "The only live place is in use" if SLOTS.slots == 1 else f"All {SLOTS.slots} live places are in use"
    return (f"{taken}. {ahead}; a place frees in about {clock_text(ticket.wait_s or 0)} "
            "at the latest. Keep this tab open: depth starts by itself.")


def live_depth(rgb: np.ndarray, loaded, stream: str | None = None):
    """Depth of one frame (of `stream`, if any: one of its frames per batch) through the shared
    model turns: (depth in metres (H, W), batch size, forward ms)."""
    def predict(frames):
        return loaded.predictor.predict(frames)

    depth, batch, seconds = TURNS.run(id(loaded.predictor), predict, rgb, stream)
    return depth, batch, seconds * 1000.0


@dataclass
class _Rate:
    frames: int = 0
    last: float | None = None  # when its last depth picture was answered (perf_counter s)
    interval: float | None = None  # running mean of the intervals between answers, s
    shown: float | None = None  # when its rate line was last sent


class LiveRates:
    """Each live stream's answered frames and rate, kept on the server (the page may have two
    frames in flight, so its answers come from different calls). Thread-safe."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self._lock = threading.Lock()
        self._streams: dict[str, _Rate] = {}

    def answered(self, stream: str) -> tuple[_Rate, bool]:
        """One more depth picture for `stream`: (a copy of its count and rate, whether its rate line
        is due: the first picture, then every LINE_EVERY_S)."""
        with self._lock:
            now = self.clock()
            for key in [k for k, r in self._streams.items() if r.last is not None and now - r.last > RATE_FORGET_S]:
                del self._streams[key]
            rate = self._streams.setdefault(stream, _Rate())
            if rate.last is not None:  # a running mean of the intervals (a mean of 1/interval would read too high)
                interval = now - rate.last
                rate.interval = interval if rate.interval is None else 0.8 * rate.interval + 0.2 * interval
            rate.last = now
            rate.frames += 1
            due = rate.shown is None or now - rate.shown >= LINE_EVERY_S
            if due:
                rate.shown = now
            return _Rate(rate.frames, rate.last, rate.interval, rate.shown), due

    def forget(self, stream: str) -> None:
        """`stream` stopped: its next frame starts a new count."""
        with self._lock:
            self._streams.pop(stream, None)


RATES = LiveRates()


def rate_line(rate: _Rate, model_ms: float, batch: int, width: int, height: int, left_s: float) -> str:
    """'24.8 fps · model 31 ms per frame (batch of 2) · 320x240 · 812 frames · 2:41 left'."""
    fps = f"{1.0 / max(rate.interval, 1e-6):.1f} fps" if rate.interval else "first frame"
    frames = "1 frame" if rate.frames == 1 else f"{rate.frames} frames"
    shared = f" (batch of {batch})" if batch > 1 else ""
    return f"{fps} · model {model_ms:.0f} ms per frame{shared} · {width}x{height} · {frames} · {clock_text(left_s)} left"


def _stream_id(value, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise gr.Error(BAD_MESSAGE)
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        raise gr.Error(BAD_MESSAGE)
    return value


def _answer_or_error(handler, message) -> dict:
    """`handler(message)`, or {"state": "error", "message": …} with the error boundary's plain
    sentence (demos.errors.guarded): a server function's exception would reach the page as a bare
    HTTP 500 and the server's log as a traceback."""
    try:
        return guarded(handler)(message)
    except gr.Error as error:
        return {"state": "error", "message": str(error.message)}


def live_frame(message) -> dict:
    """One live frame from the page's client (the gr.HTML server function it calls; API clients
    POST the same to /gradio_api/component_server/, see benchmarks.webcam_api_clients).

    `message`: {"frame": JPEG or PNG data URL, "stream": this stream's id (the page makes one per
    page load), "browser": the browser's id (one stream per browser; default: the stream's),
    "max_side": longest side in px (SIDE_RANGE; default STREAM_MAX_SIDE), "model" and "custom":
    the Model panel's choice and checkpoint}. Returns a dict:

    - a live place: {"state": "live", "picture": the depth's colour index as a grey JPEG data URL,
      "first": true on the stream's first picture}, and every LINE_EVERY_S also "line" (the rate
      line), "near" and "far" (the colourbar's range, metres);
    - no live place: {"state": "waiting" or "duplicate", "line": why and the place in line,
      "retry_s": WAIT_POLL_S}; over the stream's frames in flight: {"state": "busy", "retry_s"};
    - a bad frame or setting: {"state": "error", "message": a plain sentence}. Never raises."""
    return _answer_or_error(_live_frame, message)


def live_stop(message) -> dict:
    """The page's Stop: {"stream": id} leaves its live place (or place in line) at once and its
    rate starts again on its next frame. Returns {"state": "stopped"}, or an error as live_frame."""
    def stop(message):
        if not isinstance(message, dict):
            raise gr.Error(BAD_MESSAGE)
        stream = _stream_id(message.get("stream"), required=True)
        SLOTS.leave(stream)
        RATES.forget(stream)
        return {"state": "stopped"}

    return _answer_or_error(stop, message)


def _live_frame(message) -> dict:
    if not isinstance(message, dict):
        raise gr.Error(BAD_MESSAGE)
    stream = _stream_id(message.get("stream"), required=True)
    browser = _stream_id(message.get("browser"), required=False) or stream
    ticket = SLOTS.visit(stream, browser)
    if ticket.state == BUSY:
        return {"state": BUSY, "retry_s": BUSY_RETRY_S}
    if ticket.state not in (LIVE, WAITING):
        return {"state": ticket.state, "line": waiting_line(ticket), "retry_s": WAIT_POLL_S}
    try:
        if ticket.state == WAITING:
            return {"state": WAITING, "line": waiting_line(ticket), "retry_s": WAIT_POLL_S}
        return _depth_answer(message, stream, ticket)
    finally:
        SLOTS.answered(stream)


def _depth_answer(message: dict, stream: str, ticket: Pass) -> dict:
    max_side = number(message.get("max_side", STREAM_MAX_SIDE), "The frame size (longest side, px)", *SIDE_RANGE)
    model = choice(message.get("model"), "The depth model", [None] + [value for _, value in MODEL_CHOICES])
    custom = message.get("custom") or ""
    if not isinstance(custom, str):
        raise gr.Error(BAD_MESSAGE)
    frame = message.get("frame")
    if not isinstance(frame, str) or not frame.startswith("data:"):  # never a path: nothing on the server is read
        raise gr.Error(UNREADABLE_FRAME)
    rgb = decode_frame(frame, int(max_side), live=True)
    loaded = registry().get(model, custom)
    depth, batch, model_ms = live_depth(rgb, loaded, stream)
    vmin, vmax = display_range(depth)
    answer = {"state": LIVE, "picture": jpeg_data_url(colour_index(depth, vmin, vmax)[0])}  # the page paints it
    rate, due = RATES.answered(stream)
    if due:
        answer.update(line=rate_line(rate, model_ms, batch, rgb.shape[1], rgb.shape[0], ticket.left_s or 0.0),
                      near=round(float(vmin), 2), far=round(float(vmax), 2))
    if rate.frames == 1:
        answer["first"] = True
    return answer


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
# tabs opened together (a server round trip to make it let each tab make its own). Run when the
# page loads and again by the live client (demos.webcam_client), which sends it with every frame.
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

# The live view: one gr.HTML whose own script is the client (demos.webcam_client).
LIVE_TEMPLATE = client_template(colour_table_filter(), LIVE_CMAP)
LIVE_CSS = client_css(DEPTH_FILTER_ID)
LIVE_JS = client_js(BROWSER_ID_JS, CAMERA_CONSTRAINTS)


def live_settings(max_side, model_choice, model_custom) -> gr.HTML:
    """The settings the live client sends with every frame, as props of its component."""
    return gr.HTML(max_side=max_side, model_choice=model_choice, model_custom=model_custom)


def model_line_now(model_choice, model_custom) -> tuple[str, str]:
    """The model line and the Model panel's status for the model the stream now uses (loaded already
    by the frame that fired this): a model that could not be loaded is named in the line, and the
    panel says why, as in the Image and Video tabs."""
    loaded = registry().get(model_choice, model_custom)
    return output_line(loaded), loaded.status


def build() -> gr.Markdown:
    """Builds the tab; returns its model line (filled when the page loads)."""
    # The id is made when the page loads, not only when the client's script runs: Gradio mounts a
    # tab's components when the tab is first opened, and tabs opened together should agree early.
    gr.on(None, None, None, None, js=BROWSER_ID_JS, show_progress="hidden", api_visibility="private")
    gr.Markdown(INTRO, elem_classes="tab-intro")
    gr.Markdown(START_HINT, elem_classes="hint")
    line = gr.Markdown("**Model:** loading the bundled model…", elem_classes="model-line")
    # The client, with its settings as props (its script reads them for every frame; None and "" are
    # the default model, as the Model panel starts) and its server functions. No Gradio queue: each
    # frame is one POST, and the live places and the model turns do the scheduling.
    live = gr.HTML(None, html_template=LIVE_TEMPLATE, css_template=LIVE_CSS, js_on_load=LIVE_JS,
                   server_functions=[live_frame, live_stop], elem_id=LIVE_ELEM_ID, container=True, min_height=120,
                   max_side=STREAM_MAX_SIDE, model_choice=None, model_custom="")
    with gr.Row(equal_height=False):
        max_side = gr.Slider(*SIDE_RANGE, value=STREAM_MAX_SIDE, step=32, label="Downscale frames to (longest side, px)")
        with gr.Column():
            choice_box, custom, status = model_panel()
    gr.on([max_side.change, choice_box.change, custom.change], guarded(live_settings), [max_side, choice_box, custom],
          [live], show_progress="hidden", api_visibility="private", queue=False)
    # The stream's first picture and the first from a new model choice (demos.webcam_client).
    live.stream_started(guarded(model_line_now), [choice_box, custom], [line, status], show_progress="hidden",
                        api_visibility="private")
    # The same work for a single frame, as a named endpoint for API clients.
    frame_in = PictureInput(visible=False)
    frame_out = gr.Image(type="numpy", visible=False)
    rate_out = gr.Markdown(visible=False)
    gr.Button(visible=False).click(guarded(single_frame), [frame_in, max_side, choice_box, custom], [frame_out, rate_out],
                                   api_name="webcam_frame")
    return line
