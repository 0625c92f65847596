"""Driving the webcam tab in Chromium and reading back what the page saw, for the browser
benchmark (benchmarks.bench_webcam) and the browser tests.

The page gets probes before its own scripts run (`PROBES`, an init script): every canvas
JPEG capture (the webcam component's `toDataURL`) with its start and end, every request's
resource timing (the frame upload to /stream/, and the depth picture's fetch where it is a file),
and, once `watch_depth` is called, every new depth picture the page shows, when it was set, when
it was decoded and when the next frame was painted after that. All times are the page's
`performance.now()` plus `performance.timeOrigin`: milliseconds since the epoch, on the clock the
server's time.time() also reads on this machine.
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
STOP_TIMEOUT_MS = 15_000  # pressing Stop and seeing Record again

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
  performance.setResourceTimingBufferSize(1000000);
  new PerformanceObserver(list => list.getEntries().forEach(e => {
    if (e.name.includes('/stream/') || e.name.includes('/file=') || e.name.includes('/file/'))
      live.requests.push([e.name.includes('/stream/') ? 'upload' : 'fetch', epoch(e.startTime), epoch(e.responseEnd),
                          e.transferSize || 0]);
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


def open_visitor(browser, url: str, viewport=None):
    """A new browser context (one visitor) with the probes, on the app's webcam tab, camera on,
    not yet recording. Returns the page."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 900}, permissions=["camera"])
    context.add_init_script(PROBES)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)  # every action and wait of this page has a bound
    page.goto(url)
    page.locator(".model-line:visible").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    page.get_by_role("tab", name="Webcam", exact=True).click()
    page.get_by_role("button", name="Click to Access Webcam").and_(page.locator(":visible")).click()
    page.locator("button.capture-button").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.currentTime > 0.5; }",
                           timeout=PAGE_TIMEOUT_MS)
    page.evaluate(WATCH_DEPTH, "#webcam-depth")
    return page


def start_recording(page, timeout_ms: float = PAGE_TIMEOUT_MS) -> float:
    """Presses Record; the page's epoch time (ms) of the press. Raises Playwright's TimeoutError if
    the button cannot be pressed within `timeout_ms`."""
    stamp = page.evaluate("() => performance.timeOrigin + performance.now()")
    page.locator("button.capture-button").first.click(timeout=timeout_ms)
    return stamp


def stop_recording(page, timeout_ms: float = STOP_TIMEOUT_MS) -> None:
    """Presses Stop and waits until the button reads Record again. Raises Playwright's TimeoutError
    after `timeout_ms` for each of the two steps."""
    page.locator("button.capture-button").first.click(timeout=timeout_ms)
    page.locator("button.capture-button", has_text="Record").first.wait_for(timeout=timeout_ms)


def recording(page, timeout_ms: float = READ_TIMEOUT_MS) -> bool:
    """Whether the page's webcam is recording (its capture button does not offer Record)."""
    return "Record" not in page.locator("button.capture-button").first.inner_text(timeout=timeout_ms)


def probes(page, timeout_ms: float = READ_TIMEOUT_MS) -> dict:
    """What the probes recorded so far: capture, requests, shown (see the module's text). Read as
    a page function with a time limit (page.evaluate has none, and a page busy with a stream can
    take long to answer); raises Playwright's TimeoutError after `timeout_ms`."""
    handle = page.wait_for_function("() => JSON.stringify(window.__live)", timeout=timeout_ms, polling=100)
    return json.loads(handle.json_value())


def rate_line(page, timeout_ms: float = READ_TIMEOUT_MS) -> str:
    return page.locator("#webcam-rate p").first.inner_text(timeout=timeout_ms)


def server_frames(page) -> int:
    """Frames the server has answered so far in this stream, from the tab's rate line (0 before any)."""
    found = re.search(r"(\d+) frames?\b", rate_line(page))
    return int(found.group(1)) if found else 0
