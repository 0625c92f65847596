"""Webcam visitors without a browser: each visitor is a thread that streams 320x240 JPEG frames to
the live webcam tab through Gradio's own HTTP stream protocol, the path the page's webcam uses.

One visitor, as the page does it (Gradio's JS client, read from its bundled source):

  POST /gradio_api/queue/join          the stream's first frame; answers the event id
  GET  /gradio_api/queue/data          server-sent events: one `process_streaming` per handled frame
  POST /gradio_api/stream/<event id>   the next frame, sent only once the previous answer arrived
  POST /gradio_api/stream/<event id>/close   Stop; the server ends the event (`process_completed`)

The frame travels as the page sends it (`{"url": "data:image/jpeg;base64,…"}`), so the server
runs exactly the page's path: the stream handler with its slots and model batching, every output's
postprocessing and the stream's messages. What the browser adds (capture, JPEG encode, page
update, paint) is left out: this measures the server. The clients share the server's process (and
its interpreter lock) when run from benchmarks.bench_webcam; their work per frame is one JSON
message of ~15 kB, small beside a forward of the model.

Every wait has a bound: the HTTP timeouts, the streaming deadline and a grace period for Stop
(`STOP_GRACE_S`) after which a visitor is reported as not stopped cleanly.
"""
from __future__ import annotations

import io
import json
import threading
import time
import uuid
from base64 import b64encode
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

FRAME_SIZE = (320, 240)  # width, height: what the tab asks the camera for
FRAME_QUALITY = 80  # the page's canvas.toDataURL("image/jpeg") default is 0.92; 80 gives ~12 kB frames like a webcam's
PAN_PX = 6  # the synthetic camera pans this far per frame, so consecutive frames (and depth images) differ
STOP_GRACE_S = 10.0  # after Stop, how long a visitor waits for the server to end its stream
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # the event stream sends a heartbeat at least every 15 s
STREAM_API_NAME = "webcam_depth"


def moving_frames(picture: np.ndarray, count: int, size: tuple[int, int] = FRAME_SIZE,
                  quality: int = FRAME_QUALITY) -> list[str]:
    """`count` JPEG data URLs of a camera panning over `picture` (RGB uint8 (H, W, 3)): the picture
    is scaled to 5/4 of `size` (width, height) and a `size` window slides across it and back by
    PAN_PX per frame. Raises ValueError for a picture that is not (H, W, 3) or a count below 1."""
    if picture.ndim != 3 or picture.shape[2] != 3 or count < 1:
        raise ValueError(f"need an RGB picture (H, W, 3) and count >= 1; got shape {picture.shape}, count {count}")
    width, height = size
    big = Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8)).resize((width * 5 // 4, height * 5 // 4))
    travel = big.width - width
    frames = []
    for k in range(count):
        step = (k * PAN_PX) % (2 * travel) if travel else 0
        x = step if step <= travel else 2 * travel - step
        y = (big.height - height) * x // max(travel, 1)
        buffer = io.BytesIO()
        big.crop((x, y, x + width, y + height)).save(buffer, format="JPEG", quality=quality)
        frames.append("data:image/jpeg;base64," + b64encode(buffer.getvalue()).decode("ascii"))
    return frames


def scene_frames(visitor: int, count: int) -> list[str]:
    """The moving frames of visitor number `visitor` (0-based): a pan over one of the example scene
    pictures (examples/scenes/rgb), a different one per visitor where there are several. Raises
    FileNotFoundError when the examples are missing (scripts/make_examples.py writes them)."""
    from demos.examples import example_images

    paths = example_images(limit=8)
    if not paths:
        raise FileNotFoundError("no example scene pictures in examples/scenes/rgb (run scripts/make_examples.py)")
    with Image.open(paths[visitor % len(paths)]) as image:
        return moving_frames(np.asarray(image.convert("RGB")), count)


@dataclass(frozen=True)
class StreamEndpoint:
    """The webcam stream as the page calls it: `fn_index`, `trigger_id` (the camera component) and
    the default input list (`inputs`), with the frame at `frame_at` and the browser id at `client_at`."""

    fn_index: int
    trigger_id: int
    inputs: tuple
    frame_at: int
    client_at: int | None

    def data(self, frame: str, client_id: str) -> list:
        values = list(self.inputs)
        values[self.frame_at] = {"url": frame}
        if self.client_at is not None:
            values[self.client_at] = client_id
        return values


BROWSER_ID_ELEM = "webcam-browser-id"  # demos.webcam_tab's hidden box with the browser's id


def find_stream_endpoint(config: dict, api_name: str = STREAM_API_NAME) -> StreamEndpoint:
    """The stream named `api_name` in an app's config (GET /config): its inputs' default values
    (None for session state), the frame being the trigger's. Raises LookupError if it is missing."""
    components = {c["id"]: c for c in config.get("components", [])}
    for dependency in config.get("dependencies", []):
        if dependency.get("api_name") != api_name:
            continue
        trigger = dependency["targets"][0][0]
        inputs = list(dependency["inputs"])
        values, client_at = [], None
        for index, component_id in enumerate(inputs):
            component = components.get(component_id, {})
            if component.get("type") == "state":
                values.append(None)
                continue
            if component.get("props", {}).get("elem_id") == BROWSER_ID_ELEM:  # the page's browser id
                client_at = index
            values.append(component.get("props", {}).get("value"))
        return StreamEndpoint(dependency["id"], trigger, tuple(values), inputs.index(trigger), client_at)
    raise LookupError(f"the app has no stream named {api_name!r}")


@dataclass
class VisitorRun:
    """What one visitor got. Times are time.monotonic() seconds; `images` are the arrival times of
    the answers that held a depth picture, `waits` the answers without one (a place in line, or
    another stream of the same client id still held), `sent` the frames sent."""

    joined: float = 0.0
    deadline: float = 0.0
    images: list[float] = field(default_factory=list)
    waits: int = 0
    sent: int = 0
    last_line: str = ""
    last_picture: str = ""
    stopped_cleanly: bool = False
    error: str | None = None

    def first_s(self) -> float | None:
        """Seconds from joining to the first depth picture; None if none came."""
        return self.images[0] - self.joined if self.images else None

    def rate(self) -> float:
        """Depth pictures per second after the first one, up to the end of streaming (Stop)."""
        shown = [t for t in self.images if t <= self.deadline]
        span = self.deadline - shown[0] if shown else 0.0
        return (len(shown) - 1) / span if len(shown) > 1 and span > 0 else 0.0


def _events(response: httpx.Response):
    """The decoded `data:` messages of a server-sent event stream."""
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield json.loads(line[5:])


def stream_visitor(url: str, endpoint: StreamEndpoint, frames: list[str], seconds: float, client_id: str,
                   run: VisitorRun, start: threading.Barrier | None = None) -> VisitorRun:
    """One visitor: streams `frames` (cycled) for `seconds`, each frame sent when the previous
    answer arrives, then Stop; fills and returns `run`. Never raises for the server's behaviour:
    an HTTP error or a timeout ends the visitor with `run.error` set."""
    base = url.rstrip("/") + "/gradio_api"
    session = uuid.uuid4().hex[:11]
    body = {"fn_index": endpoint.fn_index, "trigger_id": endpoint.trigger_id, "session_hash": session,
            "event_data": None}
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        try:
            if start is not None:
                start.wait(timeout=60)
            run.joined = time.monotonic()
            deadline = run.deadline = run.joined + seconds
            joined = http.post(f"{base}/queue/join", json=dict(body, data=endpoint.data(frames[0], client_id)))
            joined.raise_for_status()
            event_id = joined.json()["event_id"]
            run.sent = 1
            stop_by = None
            with http.stream("GET", f"{base}/queue/data", params={"session_hash": session}) as events:
                events.raise_for_status()
                for message in _events(events):
                    now = time.monotonic()
                    kind = message.get("msg")
                    if kind == "process_streaming":
                        output = (message.get("output") or {}).get("data") or []
                        picture = output[0] if output else None
                        if isinstance(picture, str) and picture.startswith("data:image/"):
                            run.images.append(now)
                            run.last_picture = picture
                        else:
                            run.waits += 1
                        if len(output) > 2 and isinstance(output[2], str):
                            run.last_line = output[2]
                    elif kind in ("process_completed", "close_stream", "unexpected_error"):
                        if kind != "close_stream" and not message.get("success", True):
                            run.error = str((message.get("output") or {}).get("error") or message.get("message"))
                        run.stopped_cleanly = stop_by is not None and run.error is None
                        break
                    if stop_by is None and now >= deadline:  # Stop (the answer in flight still counts if before the deadline)
                        stop_by = now + STOP_GRACE_S
                        http.post(f"{base}/stream/{event_id}/close", json={}).raise_for_status()
                    elif stop_by is None and kind == "process_streaming":
                        frame = frames[run.sent % len(frames)]
                        http.post(f"{base}/stream/{event_id}",
                                  json=dict(body, data=endpoint.data(frame, client_id))).raise_for_status()
                        run.sent += 1
                    elif stop_by is not None and now > stop_by:
                        run.error = f"the stream did not end within {STOP_GRACE_S:.0f} s of Stop"
                        break
        except (httpx.HTTPError, ValueError, KeyError, threading.BrokenBarrierError) as error:
            run.error = f"{type(error).__name__}: {error}"
    return run


def run_api_visitors(url: str, visitors: int, seconds: float, frames_each: int = 48) -> list[VisitorRun]:
    """`visitors` threads streaming at once for `seconds` (started together) against the app at
    `url`. Returns each visitor's run. Every thread is joined with a bound: one still running then
    is reported with an error. Raises httpx.HTTPError if the app's config cannot be read, LookupError
    if it has no webcam stream."""
    config = httpx.get(url.rstrip("/") + "/config", timeout=HTTP_TIMEOUT).raise_for_status().json()
    endpoint = find_stream_endpoint(config)
    frames = [scene_frames(i, frames_each) for i in range(visitors)]
    runs = [VisitorRun() for _ in range(visitors)]
    start = threading.Barrier(visitors)
    # each visitor its own browser id, new on every run, as a fresh browser context has
    clients = [f"api-visitor-{i + 1}-{uuid.uuid4().hex[:8]}" for i in range(visitors)]
    threads = [threading.Thread(target=stream_visitor, daemon=True, name=f"api-visitor-{i + 1}",
                                args=(url, endpoint, frames[i], seconds, clients[i], runs[i], start))
               for i in range(visitors)]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + seconds + STOP_GRACE_S + 2 * HTTP_TIMEOUT.read + 60
    for thread, run in zip(threads, runs):
        thread.join(timeout=max(0.0, give_up - time.monotonic()))
        if thread.is_alive():
            run.error = run.error or "still running when the benchmark gave up on it"
    return runs
