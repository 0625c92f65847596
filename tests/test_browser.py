"""A real browser (Debian's headless Chromium driven by Playwright) opens every tab, runs an offline
example and checks what the page shows. The live-webcam tab gets Chromium's synthetic camera.

Every wait is for a condition on the page (a bounded `expect`/`wait_for`), never a fixed sleep.

Screenshots go to $SCREENSHOT_DIR when set (the README's come from
`SCREENSHOT_DIR=docs/screenshots .venv/bin/python -m pytest tests/test_browser.py`), else to a temp folder.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from analysis.ablation import ABLATION_SOURCES, ZEROSHOT
from demos.examples import EXAMPLE_TEXTS


class PageDidNotLoad(AssertionError):
    """The app's page never finished loading (a script error, or the loading overlay stayed)."""


pytestmark = [pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",  # a synthetic webcam
]
RESULT_TIMEOUT_MS = 180_000
LOAD_TIMEOUT_MS = 60_000
STEP_TIMEOUT_MS = 30_000

# The first image example is examples/scenes/rgb/scene_00000.png, 320x240, at the tab's default FOV of 63°.
IMAGE_SUMMARY = re.compile(
    r"^Depth 320x240: min \d+\.\d\d m, median \d+\.\d\d m, max \d+\.\d\d m · point cloud \d{1,3}(,\d{3})* points \(FOV 63°\)$")


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `bash scripts/setup.sh --dev`, which installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["camera"])
            page = context.new_page()
            script_errors: list[str] = []
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            page.goto(app_url)
            page.get_by_role("tab", name="Image depth").wait_for(timeout=LOAD_TIMEOUT_MS)
            try:
                # Loaded: the first tab's picture input is drawn and the page's loading overlay is gone.
                expect(page.get_by_role("tabpanel").get_by_text("Picture", exact=True)).to_be_visible(
                    timeout=LOAD_TIMEOUT_MS)
                expect(page.get_by_text("Loading...", exact=True)).to_have_count(0, timeout=LOAD_TIMEOUT_MS)
            except AssertionError as error:
                raise PageDidNotLoad(f"the app's page did not finish loading; script errors: {script_errors}") from error
            if script_errors:
                raise PageDidNotLoad(f"script errors while the page loaded: {script_errors}")
            yield page
        finally:
            browser.close()


def open_tab(page, name: str):
    """Select a tab and return its panel (the page shows one tab panel at a time)."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true", timeout=STEP_TIMEOUT_MS)
    panel = page.get_by_role("tabpanel")
    expect(panel).to_have_count(1)
    return panel


def run_first_example(panel, button: str, loaded) -> None:
    """Click the first offline example, wait until `loaded` (a locator in the inputs) shows it, then run."""
    # One-input examples render as a gallery, several-input ones as a table.
    panel.locator("button.gallery-item:visible, tr.tr-body:visible").first.click()
    expect(loaded).to_be_visible(timeout=STEP_TIMEOUT_MS)
    panel.get_by_role("button", name=button).click()


def test_image_tab_shows_slider_summary_and_point_cloud(page, shots):
    panel = open_tab(page, "Image depth")
    run_first_example(panel, "Estimate depth", loaded=panel.get_by_test_id("image").locator("img"))
    expect(panel.get_by_text(IMAGE_SUMMARY)).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    # The before/after slider holds exactly two different 320x240 pictures: the input and its depth.
    sides = panel.get_by_test_id("imageslider-image")
    expect(sides).to_have_count(2)
    for side in (sides.nth(0), sides.nth(1)):
        expect(side).to_have_js_property("naturalWidth", 320)
        expect(side).to_have_js_property("naturalHeight", 240)
    assert sides.nth(0).get_attribute("src") != sides.nth(1).get_attribute("src")
    expect(panel.locator("canvas")).to_have_count(1)  # the point-cloud viewer
    downloads = {"Raw depth (.npy, metres)": "depth.npy", "Depth PNG (16-bit, millimetres)": "depth_mm.png",
                 "Point cloud (.ply)": "depth.ply"}
    for label, name in downloads.items():
        block = panel.locator(".block", has=page.get_by_text(label, exact=True))
        expect(block.locator("a[download]")).to_have_attribute("download", name)
    # The model panel (a closed accordion) says which model answered.
    panel.locator(".gr-accordion").get_by_role("button", name="Model").click()
    expect(panel.get_by_text(re.compile(r"^Loaded: synthetic-tiny \(mirror\) — "))).to_be_visible(
        timeout=STEP_TIMEOUT_MS)
    page.screenshot(path=str(shots / "image_depth.png"), full_page=True)


def test_webcam_tab_streams_depth_from_a_fake_camera(page, shots):
    panel = open_tab(page, "Live webcam")
    panel.get_by_text("Click to Access Webcam").click()
    record = panel.locator("button.capture-button").first  # "Record" (aria-label "capture photo")
    record.wait_for(timeout=LOAD_TIMEOUT_MS)
    # Recording starts once the camera delivers frames.
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.videoWidth > 0)",
        timeout=LOAD_TIMEOUT_MS)
    rate = panel.get_by_text(re.compile(r"ms per frame"))
    for attempt in range(2):  # a user whose stream did not start presses Record again
        record.click()
        try:
            rate.wait_for(timeout=RESULT_TIMEOUT_MS // 2)
            break
        except Exception:
            page.screenshot(path=str(shots / f"live_webcam_not_started_{attempt}.png"), full_page=True)
            if attempt == 1:
                raise
    # More frames keep arriving, and the achieved rate is shown once there are two.
    panel.get_by_text(re.compile(r"^\d+\.\d fps · model \d+ ms per frame · \d+x\d+ · ([3-9]|\d\d+) frames$")).wait_for(
        timeout=RESULT_TIMEOUT_MS)
    page.screenshot(path=str(shots / "live_webcam.png"), full_page=True)
    stop = panel.get_by_role("button", name=re.compile("Stop"))
    if stop.count():
        stop.first.click()


def test_video_tab_analyses_the_example_walk(page, shots):
    panel = open_tab(page, "Video")
    # The input's player (the example gallery shows the same file as a thumbnail video).
    run_first_example(panel, "Analyse video", loaded=panel.locator("video[data-testid='Video-player'][src$='/video.mp4']"))
    expect(panel.get_by_text("Analysed 12 frames.", exact=True)).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(panel.get_by_text("⚠️")).to_have_count(0)  # the example is within every limit: no warning
    expect(panel.get_by_text("flicker_mean")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    expect(panel.locator("video[src$='/depth_video.mp4']")).to_have_count(1, timeout=STEP_TIMEOUT_MS)
    expect(panel.locator(".js-plotly-plot")).to_have_count(1, timeout=STEP_TIMEOUT_MS)  # the per-frame curves
    # The example brings its own ground truth: TAE is measured and the reference level shown.
    expect(panel.get_by_role("cell", name="TAE", exact=True).first).to_be_visible(timeout=STEP_TIMEOUT_MS)
    expect(panel.get_by_role("columnheader", name="reference (ground truth)").first).to_be_visible()
    page.screenshot(path=str(shots / "video.png"), full_page=True)


def test_video_tab_compares_an_uploaded_depth_sequence_and_downloads_the_report(page, shots, tmp_path):
    import numpy as np

    from common.depth_io import read_depth_png

    root = Path(__file__).resolve().parents[1] / "examples" / "video"
    truth = sorted((root / "depth").glob("*.png"))
    for i, path in enumerate(truth):  # depth made elsewhere: the true depth with a 10 % jump halfway
        np.save(tmp_path / f"{path.stem}.npy", read_depth_png(path) * (1.1 if i >= len(truth) // 2 else 1.0))
    page.reload()  # a clean page: the previous test loaded the example into these inputs
    page.get_by_role("tab", name="Video").wait_for(timeout=60_000)
    open_tab(page, "Video")
    page.get_by_text("Compare with depth made elsewhere, ground truth").click()
    depth_input = page.locator(".block", has_text="Depth sequence(s) for this video").locator("input[type=file]")
    depth_input.first.set_input_files([str(p) for p in sorted(tmp_path.glob("*.npy"))])
    gt_input = page.locator(".block", has_text="Ground truth: depth PNGs").locator("input[type=file]")
    gt_input.first.set_input_files([str(p) for p in truth] + [str(root / "intrinsics.json"), str(root / "poses.json")])
    page.locator("#video-input input[type=file]").set_input_files(str(root / "video.mp4"))
    page.locator("#video-input video").wait_for(timeout=60_000)
    page.get_by_role("button", name="Analyse video").click()
    page.get_by_role("columnheader", name="uploaded frames").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert page.get_by_role("columnheader", name="synthetic-tiny").first.is_visible()  # compared with the bundled model
    with page.expect_download(timeout=60_000) as download:
        page.locator("#video-files a[download='report.html']").click()
    report = Path(download.value.path()).read_text()
    assert "uploaded frames" in report and "synthetic-tiny" in report and "<script" not in report
    assert "data:image/png;base64," in report
    page.screenshot(path=str(shots / "video_compare.png"), full_page=True)


def test_ablation_tab_compares_sources_with_ground_truth(page, shots):
    panel = open_tab(page, "Mirror ablation")
    run_first_example(panel, "Run ablation", loaded=panel.get_by_test_id("image").locator("img"))
    differences = panel.locator("table", has=page.get_by_text("mean abs. difference to learned mirror (m)"))
    expect(differences).to_have_count(1, timeout=RESULT_TIMEOUT_MS)
    # The example has ground truth, so a metrics table comes first: one row per source and the zero-shot baseline.
    metrics = panel.locator("table", has=page.get_by_text("abs_rel ↓", exact=True))
    expect(metrics).to_have_count(1)
    variants = sorted([*ABLATION_SOURCES, ZEROSHOT])
    assert sorted(metrics.locator("tbody tr td:first-child").all_inner_texts()) == variants
    assert sorted(differences.locator("tbody tr td:first-child").all_inner_texts()) == variants
    page.screenshot(path=str(shots / "mirror_ablation.png"), full_page=True)


def test_attention_tab_shows_grid_heatmaps_and_summary(page, shots):
    panel = open_tab(page, "Attention viewer")
    run_first_example(panel, "Show attention", loaded=panel.get_by_label("Text"))
    expect(panel.get_by_label("Text")).to_have_value(EXAMPLE_TEXTS[0])
    # "GNU Emacs text editor with syntax highlighting": 7 words + [CLS] and [SEP]; the bundled model has v = 8.
    expect(panel.get_by_text("9 materials (with [CLS]/[SEP]), v = 8 bytes each, 3 layers x 8 heads.",
                             exact=True)).to_be_visible(timeout=RESULT_TIMEOUT_MS)
    expect(panel.get_by_text(re.compile(r"^head \d \(entropy \d+\.\d\d\): "))).to_have_count(8, timeout=STEP_TIMEOUT_MS)
    expect(panel.locator(".js-plotly-plot")).to_have_count(2, timeout=STEP_TIMEOUT_MS)  # heatmap, heads as positions
    page.screenshot(path=str(shots / "attention.png"), full_page=True)


def test_bad_input_shows_an_error_and_the_app_keeps_serving(page):
    panel = open_tab(page, "Attention viewer")
    box = panel.get_by_label("Text")
    box.fill("   ")
    panel.get_by_role("button", name="Show attention").click()
    expect(page.get_by_text(re.compile("text is empty", re.I)).first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    box.fill("the app still answers")
    panel.get_by_role("button", name="Show attention").click()
    expect(panel.get_by_text("6 materials (with [CLS]/[SEP]), v = 8 bytes each, 3 layers x 8 heads.",
                             exact=True)).to_be_visible(timeout=RESULT_TIMEOUT_MS)
