"""The attention tab in a real browser: it explains itself before any run, and after a run its
all-layers x all-heads overview opens any head with one click, at desktop and phone width.

Uses test_browser.py's Chromium, page and screenshot helpers (screenshots go to $SCREENSHOT_DIR when set).
"""
from __future__ import annotations

import re

import pytest
import test_browser as shared
from test_browser import PAGE_TIMEOUT_MS, PHONE, RESULT_TIMEOUT_MS, click_first_example, open_page, open_tab, screenshot

browser, page, shots = shared.browser, shared.page, shared.shots  # test_browser.py's fixtures, used here by name

pytestmark = [pytest.mark.browser]

LAYERS, HEADS = 3, 8  # the bundled eembed model
THUMBNAILS = "#attention-overview .gallery-item"
HEAD_LABEL = "Head n (shown beside each material's n-th character)"


def wait_for_overview(page) -> None:
    """Until the overview holds one thumbnail per layer and head of the run just made."""
    page.wait_for_function(f"() => document.querySelectorAll('{THUMBNAILS}').length === {LAYERS * HEADS}",
                           timeout=RESULT_TIMEOUT_MS)


def open_head_from_overview(page, layer: int, head: int) -> None:
    """Click the overview's thumbnail of (layer, head); return once both sliders and the detailed view show it."""
    thumbnail = page.locator(THUMBNAILS).filter(has=page.locator(".caption-label", has_text=re.compile(
        rf"^L{layer} H{head}$")))
    assert thumbnail.count() == 1
    thumbnail.locator("button").first.click()
    page.locator(".js-plotly-plot:visible .gtitle", has_text=f"Layer {layer}, head {head}").first.wait_for(
        timeout=PAGE_TIMEOUT_MS)
    assert page.get_by_label("range slider for Layer").input_value() == str(layer)
    assert page.get_by_label(f"range slider for {HEAD_LABEL}").input_value() == str(head)


def test_attention_tab_states_the_claim_before_any_run(page):
    open_tab(page, "Attention")
    intro = page.locator("#attention-intro")
    assert intro.is_visible()  # on the page itself, not inside a closed accordion
    text = intro.inner_text()
    assert "Elementwise Language Representation" in text and "head n is meant to read" in text
    assert "12.5 %" in text and "not what it reads" in text  # how to read the result, before it exists
    # It comes first: above the text box, within the first screen.
    box, text_box = intro.bounding_box(), page.get_by_label("Text").bounding_box()
    assert box["y"] + box["height"] <= text_box["y"] and box["y"] + box["height"] <= page.viewport_size["height"]
    assert page.locator(THUMBNAILS).count() == 0  # nothing has run yet


def test_overview_shows_layers_by_heads_and_a_click_opens_that_head(page, shots):
    open_tab(page, "Attention")
    click_first_example(page)
    wait_for_overview(page)
    captions = page.locator(f"{THUMBNAILS} .caption-label").all_inner_texts()
    assert captions == [f"L{layer} H{head}" for layer in range(LAYERS) for head in range(HEADS)]
    # Rows are layers and columns heads: head 1 sits right of head 0, layer 1 below layer 0.
    boxes = [page.locator(THUMBNAILS).nth(i).bounding_box() for i in (0, 1, HEADS)]
    assert boxes[1]["x"] > boxes[0]["x"] and boxes[1]["y"] == pytest.approx(boxes[0]["y"], abs=2)
    assert boxes[2]["y"] > boxes[0]["y"] and boxes[2]["x"] == pytest.approx(boxes[0]["x"], abs=2)
    open_head_from_overview(page, 2, 3)
    page.locator(".js-plotly-plot:visible .gtitle", has_text="Layer 2:").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    page.get_by_text(re.compile(r"^Layer 2 — ")).first.wait_for(timeout=PAGE_TIMEOUT_MS)  # the per-head summary
    screenshot(page, shots / "attention_overview.png")


def test_overview_is_readable_at_phone_width(browser, app_url, shots):
    page = open_page(browser, app_url, PHONE)
    try:
        open_tab(page, "Attention")
        assert page.locator("#attention-intro").is_visible()
        click_first_example(page)
        wait_for_overview(page)
        overview = page.locator("#attention-overview")
        assert overview.is_visible()
        widths = [page.locator(THUMBNAILS).nth(i).bounding_box()["width"] for i in range(LAYERS * HEADS)]
        assert min(widths) >= 40, f"overview thumbnails squeezed to {min(widths):.0f} px"
        # The grid scrolls inside its own box; the page itself does not get wider than the phone.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        # The heads-as-positions plot gets the full width instead of half of it.
        plots = page.locator(".js-plotly-plot:visible")
        plots.nth(1).wait_for(timeout=PAGE_TIMEOUT_MS)
        assert plots.nth(1).bounding_box()["width"] >= 0.8 * PHONE["width"]
        # The byte table's column headers (b0 … b7) each stay on one line ("byt / e 0" before).
        lines = page.evaluate("""() => [...document.querySelectorAll('th')]
            .filter(th => /^b(yte )?\\d$/.test(th.innerText.trim()))
            .map(th => { const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
                         let node, rects = 0;
                         while ((node = walker.nextNode())) if (node.textContent.trim()) {
                           const range = document.createRange(); range.selectNodeContents(node);
                           rects += range.getClientRects().length; }
                         return [th.innerText.trim(), rects]; })""")
        assert len(lines) >= 8 and all(rects == 1 for _, rects in lines), lines
        page.locator(THUMBNAILS).nth(LAYERS * HEADS - 1).scroll_into_view_if_needed()
        open_head_from_overview(page, LAYERS - 1, HEADS - 1)
        screenshot(page, shots / "phone_attention_overview.png")
    finally:
        page.context.close()
