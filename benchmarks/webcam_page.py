"""Driving the webcam tab in Chromium and reading back what the page saw, for the browser
benchmark (benchmarks.bench_webcam) and the browser tests.

The tab's live view is the page-side client of demos.webcam_client (Start and Stop buttons, frames
sent to the server function `live_frame`). The helpers also drive the tab as it was before that
client (Gradio's webcam component with its Record button, frames sent through Gradio's stream), so
one benchmark can time both in an A/B run: each helper looks for the client's Start button first.

The page gets probes before its own scripts run (`PROBES`, an init script): every frame of a
camera stream a video element shows (`requestVideoFrameCallback`), every canvas
JPEG capture (`toDataURL`, which both pages use) with its start and end, every request's
resource timing (a frame's upload: the POST to /component_server/, or to /stream/ before; and the
depth picture's fetch where it is a file), and, once `watch_depth` is called, every new depth
picture the page shows, when it was set, when it was decoded and when the next frame was painted
after that. All times are the page's `performance.now()` plus `performance.timeOrigin`:
milliseconds since the epoch, on the clock the server's time.time() also reads on this machine.
"""
from __future__ import annotations

import json
import re
import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # A synthetic webcam at 30 fps: without "fps=30" Chromium's fake camera gives 20 frames a second,
    # which caps the distinct depth images a page can show at 20.
    "--use-fake-device-for-media-stream=fps=30", "--use-fake-ui-for-media-stream",
]
PAGE_TIMEOUT_MS = 60_000
RESULT_TIMEOUT_MS = 180_000
READ_TIMEOUT_MS = 20_000  # reading the probes or the rate line back after streaming
STOP_TIMEOUT_MS = 15_000  # pressing Stop and seeing Start (Record) again
LIVE = "#webcam-depth"  # the live view (both pages)
START, STOP = "button.live-start", "button.live-stop"  # the page-side client's buttons
CAPTURE = "button.capture-button"  # Gradio's webcam component: Record, then Stop (the page before the client)
UPLOADS = ("/component_server", "/stream/")  # a frame's POST: the client's, Gradio's stream's

PROBES = """
(() => {
  const live = window.__live = {capture: [], requests: [], shown: []};
  const epoch = t => performance.timeOrigin + t;
  const toDataURL = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (...args) {
    const start = performance.now();
    const url = toDataURL.apply(this, args);
    live.capture.push([epoch(start), epoch(performance.now()), url.length]);
    return url;
  };
  // The camera's own frames (each video showing a camera stream, counted with requestVideoFrameCallback):
  // the rate the depth images are compared with.
  live.camera = [];
  const counted = new WeakSet();
  setInterval(() => document.querySelectorAll('video').forEach(video => {
    const stream = video.srcObject;
    if (!stream || counted.has(stream) || !video.requestVideoFrameCallback) return;
    counted.add(stream);
    const tick = now => { if (video.srcObject !== stream) return;
                          live.camera.push(epoch(now)); video.requestVideoFrameCallback(tick); };
    video.requestVideoFrameCallback(tick);
  }), 100);
  performance.setResourceTimingBufferSize(1000000);
  new PerformanceObserver(list => list.getEntries().forEach(e => {
    const upload = e.name.includes('/component_server') || e.name.includes('/stream/');
    if (upload || e.name.includes('/file=') || e.name.includes('/file/'))
      live.requests.push([upload ? 'upload' : 'fetch', epoch(e.startTime), epoch(e.responseEnd), e.transferSize || 0]);
  })).observe({type: 'resource', buffered: true});
})();
"""

WATCH_DEPTH = """(selector) => {
  const live = window.__live, box = document.querySelector(selector), seen = new Set();
  const epoch = t => performance.timeOrigin + t;
  const note = () => box.querySelectorAll('img').forEach(img => {
    if (!img.src || seen.has(img.src)) return;
    seen.add(img.src);
    const record = [epoch(performance.now()), null, null, img.src.length];
    live.shown.push(record);
    img.decode().then(() => { record[1] = epoch(performance.now());
                              requestAnimationFrame(() => { record[2] = epoch(performance.now()); }); }, () => {});
  });
  new MutationObserver(note).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  note();
}"""


def has_client(page) -> bool:
    """Whether the page's webcam tab is the page-side client (else Gradio's webcam component)."""
    return page.locator(START).count() > 0


def open_visitor(browser, url: str, viewport=None):
    """A new browser context (one visitor) with the probes, on the app's webcam tab, ready to
    start (the client's Start button shown; before the client: the camera on, not recording).
    Returns the page."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 900}, permissions=["camera"])
    context.add_init_script(PROBES)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)  # every action and wait of this page has a bound
    page.goto(url)
    page.locator(".model-line:visible").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    page.get_by_role("tab", name="Webcam", exact=True).click()
    page.locator(f"{START}:visible, {CAPTURE}:visible, button:has-text('Click to Access Webcam'):visible").first.wait_for(
        timeout=PAGE_TIMEOUT_MS)
    if not has_client(page):
        page.get_by_role("button", name="Click to Access Webcam").and_(page.locator(":visible")).click()
        page.locator(CAPTURE).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.currentTime > 0.5; }",
                               timeout=PAGE_TIMEOUT_MS)
    page.evaluate(WATCH_DEPTH, LIVE)
    return page


def start_recording(page, timeout_ms: float = PAGE_TIMEOUT_MS) -> float:
    """Presses Start (Record); the page's epoch time (ms) of the press. Raises Playwright's
    TimeoutError if the button cannot be pressed within `timeout_ms`."""
    stamp = page.evaluate("() => performance.timeOrigin + performance.now()")
    page.locator(START if has_client(page) else CAPTURE).first.click(timeout=timeout_ms)
    return stamp


def stop_recording(page, timeout_ms: float = STOP_TIMEOUT_MS) -> None:
    """Presses Stop and waits until Start (Record) is offered again. Raises Playwright's
    TimeoutError after `timeout_ms` for each of the two steps."""
    if has_client(page):
        page.locator(STOP).first.click(timeout=timeout_ms)
        page.locator(f"{START}:visible").first.wait_for(timeout=timeout_ms)
        return
    page.locator(CAPTURE).first.click(timeout=timeout_ms)
    page.locator(CAPTURE, has_text="Record").first.wait_for(timeout=timeout_ms)


def recording(page, timeout_ms: float = READ_TIMEOUT_MS) -> bool:
    """Whether the page streams (its Stop button is offered)."""
    if has_client(page):
        return page.locator(STOP).first.is_visible(timeout=timeout_ms)
    return "Record" not in page.locator(CAPTURE).first.inner_text(timeout=timeout_ms)


def probes(page, timeout_ms: float = READ_TIMEOUT_MS) -> dict:
    """What the probes recorded so far: capture, requests, shown (see the module's text). Read as
    a page function with a time limit (page.evaluate has none, and a page busy with a stream can
    take long to answer); raises Playwright's TimeoutError after `timeout_ms`."""
    handle = page.wait_for_function("() => JSON.stringify(window.__live)", timeout=timeout_ms, polling=100)
    return json.loads(handle.json_value())


def rate_line(page, timeout_ms: float = READ_TIMEOUT_MS) -> str:
    """The live view's rate line (or its message: a place in line, a camera error)."""
    selector = f"{LIVE} .live-rate" if has_client(page) else "#webcam-rate p"
    return page.locator(selector).first.inner_text(timeout=timeout_ms)


def server_frames(page) -> int:
    """Frames the server has answered so far in this stream, from the tab's rate line (0 before any)."""
    found = re.search(r"(\d+) frames?\b", rate_line(page))
    return int(found.group(1)) if found else 0


def overlapping_uploads(page_probes: dict) -> int:
    """How many frame uploads started before the previous upload's answer had come back (frames
    in flight together)."""
    uploads = sorted((start, end) for kind, start, end, _ in page_probes["requests"] if kind == "upload")
    return sum(1 for before, after in zip(uploads, uploads[1:]) if after[0] < before[1])
