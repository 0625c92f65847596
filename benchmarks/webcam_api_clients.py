"""Webcam visitors without a browser: each visitor streams 320x240 JPEG frames to the live webcam
tab through the same HTTP calls the page's client makes (demos.webcam_client):

  POST /gradio_api/component_server/   {"data": {"frame": data URL, "stream", "browser", "max_side",
                                        "model", "custom"}, "component_id": the live view,
                                        "fn_name": "live_frame", "session_hash": the visitor's session}
                                        answers the depth picture, or a place in line with `retry_s`
  POST /gradio_api/component_server/   {"data": {"stream"}, "fn_name": "live_stop", ...}: Stop

As the page does, a visitor keeps `in_flight` frames on their way (the page's FRAMES_IN_FLIGHT):
one thread per frame in flight, each sending its next frame when its answer arrives, and counts
only an answer newer than the last one it counted (the page shows only those). The frame travels
as the page sends it (a JPEG data URL), so the server runs exactly the page's path: the server
function with its slots and model batching. What the browser adds (capture, JPEG encode, paint)
and the camera's pacing are left out: this measures the server. The clients run in a process of
their own when run from benchmarks.bench_webcam.

Every wait has a bound: the HTTP timeouts and the streaming deadline; Stop is one call.
"""
from __future__ import annotations

import io
import threading
import time
import uuid
from base64 import b64encode
from dataclasses import dataclass, field

import httpx
import numpy as np
from PIL import Image

from demos.webcam_client import CAPTURE_QUALITY, FRAMES_IN_FLIGHT

FRAME_SIZE = (320, 240)  # width, height: what the tab asks the camera for
FRAME_QUALITY = round(100 * CAPTURE_QUALITY)  # the JPEG quality the page's client captures at (~12 kB at 320x240)
PAN_PX = 6  # the synthetic camera pans this far per frame, so consecutive frames (and depth images) differ
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # one frame's answer, even on a loaded server


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


FRAME_FN, STOP_FN = "live_frame", "live_stop"
IN_FLIGHT = FRAMES_IN_FLIGHT  # as the page (demos.webcam_client imports neither gradio nor torch)


@dataclass(frozen=True)
class LiveEndpoint:
    """The live view's server functions as the page calls them: the component's `component_id` and
    its settings props (`max_side`, `model_choice`, `model_custom`) as the page starts with them."""

    component_id: int
    max_side: int | None
    model_choice: str | None
    model_custom: str

    def frame(self, frame: str, stream: str, browser: str) -> dict:
        """The data of one live_frame call."""
        return {"frame": frame, "stream": stream, "browser": browser, "max_side": self.max_side,
                "model": self.model_choice, "custom": self.model_custom}


def find_live_endpoint(config: dict) -> LiveEndpoint:
    """The live view in an app's config (GET /config): the component offering the server function
    `live_frame`. Raises LookupError if there is none."""
    for component in config.get("components", []):
        props = component.get("props", {})
        if FRAME_FN in (props.get("server_fns") or []):
            settings = props.get("props") or {}
            return LiveEndpoint(component["id"], settings.get("max_side"), settings.get("model_choice"),
                                settings.get("model_custom") or "")
    raise LookupError(f"the app has no component with the server function {FRAME_FN!r}")


@dataclass
class VisitorRun:
    """What one visitor got. Times are time.monotonic() seconds; `images` are the arrival times of
    the answers that held a depth picture newer than any counted before, `late` the pictures
    that came after a newer one (the page would not show them), `waits` the answers without one
    (a place in line, another stream of the same browser id, over the frames in flight), `sent`
    the frames sent."""

    joined: float = 0.0
    deadline: float = 0.0
    images: list[float] = field(default_factory=list)
    late: int = 0
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


def _call(http: httpx.Client, base: str, endpoint: LiveEndpoint, session: str, fn_name: str, data: dict) -> dict:
    """One server-function call as the page's Gradio client makes it; its answer (a dict)."""
    response = http.post(f"{base}/component_server/", json={"data": data, "component_id": endpoint.component_id,
                                                            "fn_name": fn_name, "session_hash": session})
    response.raise_for_status()
    answer = response.json()
    if not isinstance(answer, dict):
        raise ValueError(f"{fn_name} answered {type(answer).__name__}, not an object")
    return answer


def stream_visitor(url: str, endpoint: LiveEndpoint, frames: list[str], seconds: float, client_id: str,
                   run: VisitorRun, start: threading.Barrier | None = None, in_flight: int = IN_FLIGHT) -> VisitorRun:
    """One visitor: streams `frames` (cycled) for `seconds` with `in_flight` frames on their way,
    then Stop; fills and returns `run`. Never raises for the server's behaviour: an HTTP error, a
    timeout or an error answer ends the visitor with `run.error` set."""
    base = url.rstrip("/") + "/gradio_api"
    session, stream = uuid.uuid4().hex[:11], uuid.uuid4().hex
    lock = threading.Lock()
    newest = [-1]  # the number of the newest answer counted

    def sender(http: httpx.Client) -> None:
        while run.error is None and time.monotonic() < run.deadline:
            with lock:
                number = run.sent
                run.sent += 1
            answer = _call(http, base, endpoint, session, FRAME_FN, endpoint.frame(frames[number % len(frames)],
                                                                                   stream, client_id))
            now = time.monotonic()
            with lock:
                picture = answer.get("picture")
                if answer.get("state") == "error":
                    run.error = str(answer.get("message"))
                elif isinstance(picture, str) and picture.startswith("data:image/"):
                    if number > newest[0]:
                        newest[0] = number
                        run.images.append(now)
                        run.last_picture = picture
                    else:
                        run.late += 1
                else:
                    run.waits += 1
                if isinstance(answer.get("line"), str) and number >= newest[0]:
                    run.last_line = answer["line"]
            if answer.get("retry_s"):
                time.sleep(min(float(answer["retry_s"]), max(0.0, run.deadline - time.monotonic())))

    def guarded_sender(http: httpx.Client) -> None:
        try:
            sender(http)
        except (httpx.HTTPError, ValueError) as error:
            with lock:
                run.error = run.error or f"{type(error).__name__}: {error}"

    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        try:
            if start is not None:
                start.wait(timeout=60)
            run.joined = time.monotonic()
            run.deadline = run.joined + seconds
            senders = [threading.Thread(target=guarded_sender, args=(http,), daemon=True) for _ in range(in_flight)]
            for thread in senders:
                thread.start()
            for thread in senders:  # each ends after its answer in flight at the deadline, or by an HTTP timeout
                thread.join(timeout=seconds + HTTP_TIMEOUT.read + 5)
            stopped = _call(http, base, endpoint, session, STOP_FN, {"stream": stream})
            run.stopped_cleanly = stopped.get("state") == "stopped" and run.error is None
        except (httpx.HTTPError, ValueError, threading.BrokenBarrierError) as error:
            run.error = run.error or f"{type(error).__name__}: {error}"
    return run


def run_api_visitors(url: str, visitors: int, seconds: float, frames_each: int = 48) -> list[VisitorRun]:
    """`visitors` threads streaming at once for `seconds` (started together) against the app at
    `url`. Returns each visitor's run. Every thread is joined with a bound: one still running then
    is reported with an error. Raises httpx.HTTPError if the app's config cannot be read, LookupError
    if it has no live view."""
    config = httpx.get(url.rstrip("/") + "/config", timeout=HTTP_TIMEOUT).raise_for_status().json()
    endpoint = find_live_endpoint(config)
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
    give_up = time.monotonic() + seconds + 2 * HTTP_TIMEOUT.read + 60
    for thread, run in zip(threads, runs):
        thread.join(timeout=max(0.0, give_up - time.monotonic()))
        if thread.is_alive():
            run.error = run.error or "still running when the benchmark gave up on it"
    return runs
