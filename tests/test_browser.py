"""A real browser (Debian's headless Chromium driven by Playwright) opens every tab, runs an offline
example by clicking it and checks what the page shows, at desktop (1400x900) and phone (390x844)
width. The webcam tab gets Chromium's synthetic camera and its frame rate is measured.

Screenshots go to $SCREENSHOT_DIR when set (those in docs/app.md and the README come from
`SCREENSHOT_DIR=docs/screenshots .venv/bin/python -m pytest tests/test_browser.py`), else to a temp folder.
Every wait is for a condition on the page, each with its own bound; none is a fixed pause.
"""
from __future__ import annotations

import io
import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.ablation import ABLATION_SOURCES, ZEROSHOT
from benchmarks import webcam_page
from benchmarks.runtime import load_average
from demos.examples import EXAMPLE_TEXTS


class PageDidNotLoad(AssertionError):
    """The app's page never finished loading (a script error, or the loading overlay stayed)."""


pytestmark = [pytest.mark.browser]

CHROMIUM, CHROMIUM_ARGS = webcam_page.CHROMIUM, webcam_page.CHROMIUM_ARGS  # the benchmark's browser: a 30 fps synthetic camera
RESULT_TIMEOUT_MS = 180_000
PAGE_TIMEOUT_MS = 60_000
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
TABS = {"Image": "image", "Webcam": "webcam", "Video": "video", "Ablation": "mirror_ablation",
        "Attention": "attention"}  # tab name → screenshot name
FPS_WINDOW_S = 20
# The target is 30 depth images per second at 320 px. On the shared 2-core test machine the browser,
# the server and the model share the cores (with other work), so the test asserts a floor reached
# there with margin; the figure is printed and kept in $SCREENSHOT_DIR/webcam_fps.txt (see docs/app.md).
FPS_TARGET = 30.0
FPS_FLOOR = float(os.environ.get("WEBCAM_FPS_FLOOR", "3"))
# The first image example is examples/scenes/rgb/scene_00000.png, 320x240, at the tab's default FOV of 63°.
IMAGE_SUMMARY = re.compile(
    r"^Depth 320x240: min \d+\.\d\d m, median \d+\.\d\d m, max \d+\.\d\d m · point cloud \d{1,3}(,\d{3})* points \(FOV 63°\)$")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `bash scripts/setup.sh --dev`, which installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, app_url, viewport):
    """A new session, returned once the page-load events are done (the model line is filled)."""
    context = browser.new_context(viewport=viewport, permissions=["camera"])
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto(app_url)
    wait_until_loaded(page, script_errors)
    return page


def wait_until_loaded(page, script_errors: list[str] | None = None) -> None:
    """The page's load events are done: the model line is filled, nothing is pending, no script error."""
    try:
        page.locator(".model-line:visible").filter(has_text="synthetic-tiny").first.wait_for(timeout=RESULT_TIMEOUT_MS)
        wait_until_idle(page)
    except Exception as error:
        raise PageDidNotLoad(f"the app's page did not finish loading; script errors: {script_errors}") from error
    if script_errors:
        raise PageDidNotLoad(f"script errors while the page loaded: {script_errors}")


def wait_until_idle(page, timeout: int = RESULT_TIMEOUT_MS) -> None:
    """Until no Gradio progress overlay or pending output is shown anywhere on the page."""
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.wrap.pending, .progress-text, .eta-bar')]
                   .some(e => e.offsetParent !== null)""", timeout=timeout)


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = open_page(browser, app_url, DESKTOP)
    yield page
    page.context.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    page.locator(f"[role=tab][aria-selected=true]:has-text('{name}')").wait_for(timeout=PAGE_TIMEOUT_MS)


def click_first_example(page) -> None:
    """Examples run when clicked: no button press after it."""
    page.locator("button.gallery-item:visible, tr.tr-body:visible").first.click()


def canvas_drawn_share(canvas) -> float:
    """Share of a 3D view's pixels that show the cloud: 0 unless the view's dark clear colour (26, 26, 26)
    fills much of it (a blank, not yet rendered canvas is white), else the pixels that are neither that
    background nor near-white (the view's label)."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    background = np.abs(pixels - np.array([26, 26, 26])).sum(axis=2) <= 12
    if background.mean() < 0.3:
        return 0.0
    light = (pixels > 215).all(axis=2)
    return float((~background & ~light).mean())


def wait_for_drawn_canvas(canvas, share: float = 0.02, timeout_s: float = 60.0) -> float:
    """WebGL draws the cloud a little after the result arrives; its pixels are read back until they show it.

    (The canvas is read through screenshots: the view's WebGL buffer cannot be read from the page's script.)"""
    deadline = time.monotonic() + timeout_s
    drawn = canvas_drawn_share(canvas)
    while drawn <= share and time.monotonic() < deadline:
        drawn = canvas_drawn_share(canvas)
    return drawn


def screenshot(page, path: Path) -> None:
    """The whole page, taken with a viewport as tall as the page: a full-page capture (which scrolls
    and stitches) loses the 3D views' WebGL drawing. The 3D views are waited for until drawn again."""
    size = page.viewport_size
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    try:
        for canvas in page.locator(".cloud-view canvas:visible").all():
            wait_for_drawn_canvas(canvas)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def assert_full_name_shown(page, name: str) -> None:
    """The downloads list shows the file's whole name: visible, and its stem not clipped."""
    cell = page.locator(f".downloads td.filename[aria-label='{name}']").first
    cell.wait_for(timeout=PAGE_TIMEOUT_MS)
    clipped = cell.locator(".stem").evaluate("e => e.scrollWidth > e.clientWidth + 1")
    assert not clipped, f"the download name {name} is cut: {cell.inner_text()!r}"


@pytest.fixture()
def model_calls(monkeypatch):
    """Counts calls of the bundled model in the app's process (the server runs inside the test process)."""
    from demos.models import registry

    predictor = registry().get("synthetic-tiny").predictor
    calls = []
    original = predictor.predict
    monkeypatch.setattr(predictor, "predict", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_image_example_runs_on_click_with_model_line_colourbar_and_3d_view(page, shots, model_calls):
    open_tab(page, "Image")
    line = page.locator(".model-line:visible").first
    assert "synthetic-tiny" in line.inner_text()  # filled when the page loads; no panel to open
    assert "procedural" in line.inner_text() and "real photo" in line.inner_text()
    click_first_example(page)
    summary = page.get_by_text(IMAGE_SUMMARY)
    summary.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert len(model_calls) == 1
    # The before/after slider holds exactly two different 320x240 pictures: the input and its depth.
    sides = page.get_by_test_id("imageslider-image").and_(page.locator(":visible"))
    sides.nth(1).wait_for(timeout=RESULT_TIMEOUT_MS)  # the slider may draw after the summary text on a busy machine
    assert sides.count() == 2
    for side in (sides.nth(0), sides.nth(1)):
        assert side.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 240]
    assert sides.nth(0).get_attribute("src") != sides.nth(1).get_attribute("src")
    bar = page.locator(".colourbar:visible").first
    assert re.search(r"near \d+\.\d\d m.*far \d+\.\d\d m", bar.inner_text(), re.S)
    assert "turbo" in bar.inner_text()
    # Range fields are disabled while the automatic range is on.
    assert page.get_by_label("Range min (m)").is_disabled() and page.get_by_label("Range max (m)").is_disabled()
    # One download list, full names, the coloured PNG included.
    for name in ("scene_00000_depth_metres.npy", "scene_00000_depth_turbo.png", "scene_00000_point_cloud.ply"):
        assert_full_name_shown(page, name)
    # The 3D view draws the cloud (WebGL on SwiftShader).
    canvas = page.locator(".cloud-view#image-cloud canvas").first
    canvas.wait_for(timeout=PAGE_TIMEOUT_MS)
    drawn = wait_for_drawn_canvas(canvas)
    assert drawn > 0.02, f"the 3D canvas shows only background ({drawn:.1%} drawn pixels)"
    screenshot(page, shots / "image.png")
    # A new colour map re-colours at once, without a model call; the bar and the download follow.
    page.get_by_label("Colour map").click()
    page.get_by_role("option", name="viridis").click()
    page.locator(".colourbar:visible", has_text="viridis").first.wait_for(timeout=30_000)
    assert_full_name_shown(page, "scene_00000_depth_viridis.png")
    assert len(model_calls) == 1, "re-colouring ran the model again"


def start_webcam(page):
    """On the open webcam tab: Start pressed, the synthetic camera's frames flowing to the server.
    Returns the Stop button (offered while streaming)."""
    page.locator(f"{webcam_page.START}:visible").first.click(timeout=PAGE_TIMEOUT_MS)
    stop = page.locator(f"{webcam_page.STOP}:visible").first
    stop.wait_for(timeout=PAGE_TIMEOUT_MS)
    return stop


def colour_table_share(png: bytes, cmap: str = "turbo") -> tuple[float, float]:
    """Of a screenshot's pixels: the share within 24 (RGB distance) of an entry of the colour table,
    and the share that is grey (channels within 12): the page paints the streamed grey index
    through that table, so a picture shown grey means the page's colouring failed."""
    from PIL import Image

    from common.depth_io import colormap_lut

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32).reshape(-1, 3)[::5]  # a sample is enough
    lut = colormap_lut(cmap).astype(np.float32)
    nearest = np.sqrt(((rgb[:, None, :] - lut[None, :, :]) ** 2).sum(-1)).min(1)
    grey = (rgb.max(1) - rgb.min(1)) <= 12
    return float((nearest <= 24).mean()), float(grey.mean())


def test_webcam_streams_at_least_the_floor_rate(page, shots):
    open_tab(page, "Webcam")
    assert page.get_by_text("To start:").first.is_visible()
    stop = start_webcam(page)
    page.get_by_text(re.compile(r"ms per frame")).wait_for(timeout=RESULT_TIMEOUT_MS)
    frames_before = webcam_page.server_frames(page)
    # Every new depth image the page shows, counted as it is set (not sampled), for FPS_WINDOW_S seconds.
    images = page.evaluate(
        """(ms) => new Promise(resolve => {
            const box = document.querySelector('#webcam-depth');
            const seen = new Set();
            const note = () => box.querySelectorAll('img').forEach(img => img.src && seen.add(img.src));
            const observer = new MutationObserver(note);
            observer.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
            setTimeout(() => { observer.disconnect(); resolve(seen.size); }, ms);
        })""",
        FPS_WINDOW_S * 1000,
    )
    fps = images / FPS_WINDOW_S
    served = (webcam_page.server_frames(page) - frames_before) / FPS_WINDOW_S
    rate = webcam_page.rate_line(page)
    load = load_average()
    (shots / "webcam_fps.txt").write_text(
        f"{images} distinct depth images in {FPS_WINDOW_S} s = {fps:.1f} per second; the server answered {served:.1f} frames per second "
        f"(target {FPS_TARGET:g}, "
        f"{os.cpu_count()} cores, load average {load}); server line: {rate}\n")
    print(f"webcam: {fps:.1f} depth images per second in the browser, {served:.1f} answered by the server "
          f"({rate}; load {load})")
    assert re.search(r"near \d+\.\d\d m", page.locator(".colourbar:visible").first.inner_text())
    screenshot(page, shots / "webcam.png")
    painted = page.locator("#webcam-depth img.live-depth").screenshot()
    share, grey = colour_table_share(painted)
    assert share > 0.9 and grey < 0.5, f"{share:.0%} of the painted depth in turbo's colours, {grey:.0%} grey"
    assert fps >= FPS_FLOOR, f"{fps:.1f} depth images per second, under the floor {FPS_FLOOR} (target {FPS_TARGET})"
    assert page.locator("video.live-camera").evaluate("v => !!v.srcObject")  # the camera preview runs
    stop.click()
    page.locator(f"{webcam_page.START}:visible").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert page.locator("video.live-camera").evaluate("v => !v.srcObject")  # Stop ends the camera too
    assert page.locator(f"{webcam_page.LIVE} img.live-depth[src]").count() == 1  # the last picture stays


TWO_VISITOR_IMAGES = 8  # depth images each visitor must see; their rates are measured over them


class ServerLog(logging.Handler):
    """Every record the server's loggers (the app's, Gradio's, uvicorn's) emit with a traceback."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.tracebacks: list[str] = []

    def emit(self, record):
        if record.exc_info:
            self.tracebacks.append(f"{record.name}: {record.getMessage()} ({record.exc_info[0].__name__})")


@pytest.fixture()
def server_log():
    log = ServerLog()
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "gradio", "demos", "starlette", "fastapi"]
    for name in names:
        logging.getLogger(name).addHandler(log)
    yield log
    for name in names:
        logging.getLogger(name).removeHandler(log)


def test_webcam_two_visitors_stream_at_once_and_no_traceback_is_logged(browser, app_url, shots,
                                                                                            server_log, capfd):
    """Two browser sessions stream together and both get depth, each with its time left in the rate
    line; their Stop frees their live places at once (the page tells the server), not after the
    idle limit; the server's log holds no traceback. (The one-stream-per-browser rule is tested in
    tests/test_webcam_slots.py.)"""
    from demos.webcam_tab import IDLE_S, SLOTS

    first = webcam_page.open_visitor(browser, app_url)
    pressed = [webcam_page.start_recording(first)]
    # A second visitor (another browser session) streams at the same time.
    visitors = [first, webcam_page.open_visitor(browser, app_url)]
    pressed.append(webcam_page.start_recording(visitors[1]))
    for page in visitors:  # each sees TWO_VISITOR_IMAGES depth images after the second visitor's Record
        page.wait_for_function("([n, t]) => window.__live.shown.filter(s => s[0] >= t).length >= n",
                               arg=[TWO_VISITOR_IMAGES, pressed[1]], timeout=RESULT_TIMEOUT_MS)
    lines = []
    for index, (page, press) in enumerate(zip(visitors, pressed), 1):
        shown = sorted(s[0] for s in webcam_page.probes(page)["shown"] if s[0] >= press)
        together = [t for t in shown if t >= pressed[1]]
        first_s = (shown[0] - press) / 1000.0
        rate = (len(together) - 1) / max((together[-1] - together[0]) / 1000.0, 1e-3)
        lines.append(f"visitor {index}: {rate:.1f} depth images per second while both streamed ({len(together)} images), "
                     f"first image {first_s:.2f} s after its Start; server line: {webcam_page.rate_line(page)}")
        assert re.search(r"\d+ frames · \d:\d\d left", webcam_page.rate_line(page)), webcam_page.rate_line(page)
    load = load_average()
    report = "\n".join(lines) + f"\n({os.cpu_count()} cores, load average {load})\n"
    (shots / "webcam_two_visitors.txt").write_text(report)
    print(report)
    for page in visitors:
        webcam_page.stop_recording(page)
    stopped = time.monotonic()
    while SLOTS.counts() != (0, 0) and time.monotonic() - stopped < IDLE_S:
        time.sleep(0.05)
    freed_s = time.monotonic() - stopped
    assert SLOTS.counts() == (0, 0) and freed_s < IDLE_S / 3, f"the places were freed {freed_s:.1f} s after Stop"
    for page in visitors:
        page.context.close()
    stderr = capfd.readouterr().err
    assert "Traceback" not in stderr and "LocalProtocolError" not in stderr, stderr[-3000:]
    assert not server_log.tracebacks, server_log.tracebacks


WEBCAM_OVERLAP_IMAGES = 30  # depth images the in-flight test waits for


def test_webcam_keeps_two_frames_in_flight_and_shows_only_newer_answers(browser, app_url):
    """The page's client sends the next camera frame while an answer is still on its way (its
    uploads overlap), never more than FRAMES_IN_FLIGHT at once; a new frame size reaches its
    frames while it streams (the slider's change sets the component's props)."""
    from demos.webcam_client import FRAMES_IN_FLIGHT

    page = webcam_page.open_visitor(browser, app_url)
    try:
        press = webcam_page.start_recording(page)
        page.wait_for_function("([n, t]) => window.__live.shown.filter(s => s[0] >= t).length >= n",
                               arg=[WEBCAM_OVERLAP_IMAGES, press], timeout=RESULT_TIMEOUT_MS)
        assert " · 320x240 · " in webcam_page.rate_line(page)
        size = page.get_by_label("number input for Downscale frames to (longest side, px)")
        size.fill("128")
        size.press("Enter")
        page.locator(f"{webcam_page.LIVE} .live-rate", has_text=" · 128x96 · ").wait_for(timeout=PAGE_TIMEOUT_MS)
        webcam_page.stop_recording(page)
        seen = webcam_page.probes(page)
    finally:
        page.context.close()
    uploads = sorted((start, end) for kind, start, end, _ in seen["requests"] if kind == "upload" and start >= press)
    overlapping = webcam_page.overlapping_uploads({"requests": [["upload", *u, 0] for u in uploads]})
    most = max(sum(1 for s, e in uploads if s <= start < e) for start, _ in uploads)
    assert overlapping >= len(uploads) // 4, f"{overlapping} of {len(uploads)} frames sent before the previous answer"
    assert most <= FRAMES_IN_FLIGHT + 1, f"{most} requests at once"  # the frames in flight, or those and Stop's call


def test_webcam_camera_refused_shows_a_plain_message(browser, app_url):
    """A browser that refuses the camera (no permission granted, no automatic yes: Chromium then
    denies it) gets a plain sentence in the live view, and Start is offered again."""
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    refusing = browser.browser_type.launch(executable_path=CHROMIUM, args=args)  # a second Chromium, same driver
    try:
        page = refusing.new_context(viewport=DESKTOP).new_page()
        page.goto(app_url)
        page.locator(".model-line:visible").first.wait_for(timeout=RESULT_TIMEOUT_MS)
        open_tab(page, "Webcam")
        page.locator(f"{webcam_page.START}:visible").first.click()
        page.get_by_text("The camera was not allowed").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert page.locator(f"{webcam_page.START}:visible").is_enabled()
        assert "Error" not in webcam_page.rate_line(page)
    finally:
        refusing.close()


def test_webcam_model_changed_mid_stream_is_named_in_the_model_line_and_the_panel(browser, app_url):
    """A model chosen in the Model panel while the camera streams reaches the next frames; the model
    line then names what the pictures come from: here DepthCLIP, whose pretrained CLIP weights this
    offline machine lacks, so the line says the chosen model could not be loaded and the panel says
    why (the line points there), as in the Image tab."""
    page = webcam_page.open_visitor(browser, app_url)
    try:
        webcam_page.start_recording(page)
        page.locator(f"{webcam_page.LIVE} .live-rate", has_text="ms per frame").wait_for(timeout=RESULT_TIMEOUT_MS)
        line = page.locator(".model-line:visible").first
        assert "could not be loaded" not in line.inner_text()
        page.get_by_text("Model", exact=True).and_(page.locator(":visible")).last.click()
        page.get_by_label("Depth model").and_(page.locator(":visible")).first.click()
        page.get_by_role("option", name=re.compile("RN50")).click()
        page.locator(".model-line:visible", has_text="The chosen model could not be loaded").first.wait_for(
            timeout=RESULT_TIMEOUT_MS)
        page.get_by_text("Could not load").and_(page.locator(":visible")).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert webcam_page.recording(page)  # the stream goes on, on the bundled model
        webcam_page.stop_recording(page)
    finally:
        page.context.close()


def test_video_example_runs_on_click_with_its_ground_truth(page, shots):
    open_tab(page, "Video")
    click_first_example(page)
    page.get_by_text("Analysed 12 frames: the whole clip (2.4 s) at 5 fps.", exact=True).first.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.get_by_text(re.compile("^⚠️")).and_(page.locator(":visible")).count() == 0  # within every limit
    page.locator("video[src$='/depth_video.mp4']").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.locator(".js-plotly-plot:visible").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    # The example brings its own ground truth: TAE is measured and the reference level shown.
    page.get_by_role("cell", name="TAE", exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_role("columnheader", name="reference (ground truth)").first.is_visible()
    assert page.locator(".colourbar:visible", has_text="depth video").count() == 1
    assert page.locator(".colourbar:visible", has_text="analysed frame 1 of").count() == 1
    # The depth to take away, at the analysed size; the table's numbers are not repeated as raw JSON.
    for name in ("depth_16bit_mm.zip", "depth_float16_m.npz"):
        assert_full_name_shown(page, name)
    assert page.get_by_text("flicker_mean").and_(page.locator(":visible")).count() == 0
    # With ground truth, each measure is judged against the true depth (or a published range).
    verdicts = measure_verdicts(page)
    assert verdicts["flicker"].endswith("the true depth") and verdicts["AbsRel"] in VERDICT_WORDS["AbsRel"]
    screenshot(page, shots / "video.png")


VERDICT_WORDS = {"AbsRel": ("close to the truth", "rough", "far from the truth"),
                 "δ1": ("close to the truth", "rough", "far from the truth")}
VERDICT_WITHOUT_TRUTH = re.compile(r"^(steady: )?(flickers|changes|wanders|drifts)( about as much| less| more)?"
                                   r"( along the motion)? (than|as) the video itself$"
                                   r"|^(steady|changes a little|changes a lot) over the clip$")


def measure_verdicts(page) -> dict[str, str]:
    """The measures table's verdict per measure, read from the page (the verdict column's cells)."""
    table = page.locator("#video-measures table").first
    table.wait_for(timeout=PAGE_TIMEOUT_MS)
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    column = headers.index("verdict")
    verdicts = {}
    for row in table.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        verdicts[cells[0].strip()] = cells[column].strip().removeprefix("verdict:").strip()
    return verdicts


def test_video_without_ground_truth_judges_every_measure_against_the_video_itself(page, shots):
    page.reload()  # a clean page: no ground truth left in the inputs
    wait_until_loaded(page)
    open_tab(page, "Video")
    page.locator("button.gallery-item:visible, tr.tr-body:visible").nth(1).click()  # the real clip: no ground truth
    page.get_by_text(re.compile(r"^Analysed 25 frames: the whole clip")).first.wait_for(timeout=RESULT_TIMEOUT_MS)
    wait_until_idle(page)
    verdicts = measure_verdicts(page)
    assert set(verdicts) == {"flicker", "OPW", "median-depth range", "scale onto first frame, last"}
    for measure, words in verdicts.items():
        assert VERDICT_WITHOUT_TRUTH.match(words), f"{measure}: {words!r} is no verdict"
    assert page.get_by_role("columnheader", name="the video itself (brightness)").first.is_visible()


def test_video_result_reads_on_a_phone(browser, app_url, shots):
    """At 390 px the measures become one card each (no column narrower than a phrase) and the depth
    video shows its depth panel at the screen's width, not input and depth squeezed side by side."""
    page = open_page(browser, app_url, PHONE)
    try:
        open_tab(page, "Video")
        click_first_example(page)
        page.get_by_text(re.compile(r"^Analysed 12 frames")).first.wait_for(timeout=RESULT_TIMEOUT_MS)
        wait_until_idle(page)
        cells = page.locator("#video-measures td:visible")
        assert cells.count() >= 8 * 4  # every measure, with its name, verdict, value and meaning
        narrowest = min(box["width"] for box in (cells.nth(i).bounding_box() for i in range(cells.count())))
        assert narrowest > 250, f"a measures cell is {narrowest:.0f} px wide at 390 px"
        first = cells.first.bounding_box()
        verdict = page.locator("#video-measures td:visible", has=page.locator(".verdict")).first.bounding_box()
        assert verdict["y"] > first["y"] and verdict["y"] - first["y"] < 60, "the verdict is not under the measure's name"
        video = page.locator("#video-depth video").first
        video.wait_for(timeout=PAGE_TIMEOUT_MS)
        box = video.bounding_box()
        assert box["height"] > 200, f"the depth video is {box['height']:.0f} px tall at 390 px"
        assert video.evaluate("v => getComputedStyle(v).objectPosition") == "100% 50%"  # the depth panel, not the input
        page.screenshot(path=str(shots / "phone_video_result.png"), full_page=True)  # the layout; the 3D view may be blank
    finally:
        page.context.close()


def test_video_tab_compares_an_uploaded_depth_sequence_and_downloads_the_report(page, shots, tmp_path):
    from common.depth_io import read_depth_png

    root = Path(__file__).resolve().parents[1] / "examples" / "video"
    truth = sorted((root / "depth").glob("*.png"))
    for i, path in enumerate(truth):  # depth made elsewhere: the true depth with a 10 % jump halfway
        np.save(tmp_path / f"{path.stem}.npy", read_depth_png(path) * (1.1 if i >= len(truth) // 2 else 1.0))
    page.reload()  # a clean page: the previous test loaded the example into these inputs
    wait_until_loaded(page)
    open_tab(page, "Video")
    page.get_by_text("Compare with depth from another tool, or with the true depth").click()
    depth_input = page.locator(".block", has_text="Depth from another tool for this video").locator("input[type=file]")
    depth_input.first.set_input_files([str(p) for p in sorted(tmp_path.glob("*.npy"))])
    gt_input = page.locator(".block", has_text="The true depth of this clip").locator("input[type=file]")
    gt_input.first.set_input_files([str(p) for p in truth] + [str(root / "intrinsics.json"), str(root / "poses.json")])
    page.locator("#video-input input[type=file]").set_input_files(str(root / "video.mp4"))
    page.locator("#video-input video").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.get_by_role("button", name="Analyse video").click()
    page.get_by_role("columnheader", name="uploaded frames").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.get_by_role("columnheader", name="synthetic-tiny").first.is_visible()  # compared with the bundled model
    # Two panels in the depth video (the model and the upload), one colourbar each.
    assert page.locator(".colourbar:visible", has_text="fixed from the first frame").count() == 2
    with page.expect_download(timeout=PAGE_TIMEOUT_MS) as download:
        page.locator("#video-files a[download='report.html']").click()
    report = Path(download.value.path()).read_text()
    assert "uploaded frames" in report and "synthetic-tiny" in report and "<script" not in report
    assert "data:image/png;base64," in report
    screenshot(page, shots / "video_compare.png")


def test_ablation_example_runs_on_click(page, shots):
    open_tab(page, "Ablation")
    click_first_example(page)
    page.get_by_text("mean abs. difference to learned mirror").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    # The example has ground truth, so a metrics table comes first: one row per source and the zero-shot baseline.
    metrics = page.locator("table:visible", has=page.get_by_text("abs_rel ↓", exact=True))
    assert metrics.count() == 1
    differences = page.locator("table:visible", has=page.get_by_text("mean abs. difference to learned mirror (m)"))
    variants = sorted([*ABLATION_SOURCES, ZEROSHOT])
    assert sorted(metrics.locator("tbody tr td:first-child").all_inner_texts()) == variants
    assert sorted(differences.locator("tbody tr td:first-child").all_inner_texts()) == variants
    assert page.locator(".colourbar:visible", has_text="every map").count() == 1
    assert page.locator(".colourbar:visible", has_text="nearer").count() == 1
    # A sentence states the conclusion from the numbers shown, and the table's columns fit the page.
    assert page.get_by_text(re.compile(r"^What this shows:")).first.is_visible()
    headers = metrics.locator("thead th").all_inner_texts()
    assert [h.split()[0] for h in headers[1:]] == ["abs_rel", "rmse", "d1"]
    table_box, viewport = metrics.bounding_box(), page.viewport_size
    assert table_box["x"] + table_box["width"] <= viewport["width"], "the metrics table runs off the page"
    screenshot(page, shots / "mirror_ablation.png")


def test_attention_example_runs_on_click_and_sliders_keep_their_range(page, shots):
    open_tab(page, "Attention")
    layer = page.get_by_label("range slider for Layer")
    before = layer.get_attribute("max")
    click_first_example(page)
    assert page.get_by_label("Text").input_value() == EXAMPLE_TEXTS[0]
    # "GNU Emacs text editor with syntax highlighting": 7 words + [CLS] and [SEP]; the bundled model has v = 8.
    # The bundled model cuts long words ("highlighting"), so the notice goes on with that warning.
    page.get_by_text(re.compile(r"^9 materials \(with \[CLS\]/\[SEP\]\), v = 8 bytes each, 3 layers x 8 heads\.")
                     ).first.wait_for(timeout=RESULT_TIMEOUT_MS)
    page.get_by_text(re.compile(r"head 0 \(entropy")).first.wait_for(timeout=30_000)
    assert page.get_by_text(re.compile(r"^head \d \(entropy \d+\.\d\d, reads byte \d: \d+ %\): ")).count() == 8
    assert page.get_by_text(re.compile("free to read every byte")).count() == 1  # no alignment claimed
    plots = page.locator(".js-plotly-plot:visible")
    plots.nth(1).wait_for(timeout=30_000)  # the heatmap and the heads-as-positions view
    assert layer.get_attribute("max") == before
    screenshot(page, shots / "attention.png")


def test_bad_input_shows_an_error_and_the_app_keeps_serving(page):
    open_tab(page, "Attention")
    box = page.get_by_label("Text")
    box.fill("   ")
    page.get_by_role("button", name="Show attention").click()
    page.get_by_text(re.compile("text is empty", re.I)).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    box.fill("the app still answers")
    page.get_by_role("button", name="Show attention").click()
    # The earlier example's result (9 materials) is still on the page: wait for this text's own count.
    page.get_by_text(re.compile(r"^6 materials \(with")).first.wait_for(timeout=RESULT_TIMEOUT_MS)


def test_phone_width_shows_every_tab_and_the_result_within_two_screens(browser, app_url, shots):
    page = open_page(browser, app_url, PHONE)
    try:
        header = page.locator("div.block.app-header").bounding_box()
        assert header["height"] < PHONE["height"] / 3, f"the header is {header['height']:.0f} px high"
        for name in TABS:
            box = page.get_by_role("tab", name=name, exact=True).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], \
                f"the {name} tab is not on the screen at 390 px"
        click_first_example(page)
        page.get_by_text(re.compile(r"Depth \d+x\d+: min")).wait_for(timeout=RESULT_TIMEOUT_MS)
        bar = page.locator(".colourbar:visible").first.bounding_box()
        assert bar["y"] + bar["height"] <= 2 * PHONE["height"], f"the depth result ends at {bar['y'] + bar['height']:.0f} px"
        screenshot(page, shots / "phone_image.png")
        for name, shot in list(TABS.items())[1:]:
            open_tab(page, name)  # each tab is reached by a tap on its own button, not through a menu
            run_on_phone(page, name)  # every tab is shown after a run, as a visitor sees it
            screenshot(page, shots / f"phone_{shot}.png")
    finally:
        page.context.close()


# What each tab shows once its first example (or the camera) has run.
PHONE_RESULTS = {"Webcam": r"ms per frame", "Video": r"Analysed \d+ ", "Ablation": r"^What this shows:",
                 "Attention": r"^\d+ materials \(with"}


def run_on_phone(page, name: str) -> None:
    """Runs the open tab's first example (the webcam: camera on, Record, one depth frame, Stop) and
    waits for its result."""
    if name == "Webcam":
        record = start_webcam(page)
        page.get_by_text(re.compile(PHONE_RESULTS[name])).first.wait_for(timeout=RESULT_TIMEOUT_MS)
        record.click()  # stop: the last depth image stays on the page
        return
    click_first_example(page)
    page.get_by_text(re.compile(PHONE_RESULTS[name])).first.wait_for(timeout=RESULT_TIMEOUT_MS)
