"""What a first-time visitor meets before and around a run, in a real browser: every tab says what
it is for before anything runs, an unreadable picture is refused the moment it is uploaded, and the
3D view says it is loading until the cloud is drawn. (The fixtures and helpers are test_browser's.)"""
from __future__ import annotations

import re
import time

import pytest

from tests.test_browser import (  # noqa: F401
    PAGE_TIMEOUT_MS,
    RESULT_TIMEOUT_MS,
    browser,
    click_first_example,
    open_tab,
    page,
    start_webcam,
)

pytestmark = [pytest.mark.browser]

# A phrase from each tab's opening sentences (the tab's INTRO), visible before any run.
INTROS = {"Image": "What it does:", "Webcam": "Live depth from your camera:", "Video": "Depth over time:",
          "Ablation": "The claim:", "Attention": "head"}


@pytest.mark.parametrize("tab", list(INTROS))
def test_each_tab_opens_with_what_it_is_for(page, tab):  # noqa: F811
    open_tab(page, tab)
    intro = page.locator("div.block.tab-intro:visible")
    assert intro.count() == 1, f"the {tab} tab has no opening sentences"
    assert INTROS[tab] in intro.inner_text()


@pytest.mark.parametrize("content", [b"this is text, renamed to .png", b""], ids=["text-as-png", "empty"])
def test_an_unreadable_picture_is_refused_when_uploaded_without_a_click(page, tmp_path, content):  # noqa: F811
    open_tab(page, "Image")
    bad = tmp_path / "holiday.png"
    bad.write_bytes(content)
    page.locator("#image-input input[type=file]").set_input_files(str(bad))
    toast = page.locator(".toast-body:visible", has_text="not a readable picture")
    toast.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert "Error" not in toast.first.inner_text() and "Unidentified" not in toast.first.inner_text()
    # The input is cleared: no broken picture waits in the page for a click.
    page.wait_for_function("() => !document.querySelector('#image-input img')", timeout=PAGE_TIMEOUT_MS)


def test_the_3d_view_says_it_is_loading_until_the_cloud_is_drawn(page):  # noqa: F811
    open_tab(page, "Image")
    click_first_example(page)
    canvas = page.locator(".cloud-view#image-cloud canvas").first
    canvas.wait_for(timeout=RESULT_TIMEOUT_MS)
    # The message is the canvas's own background: seen while the canvas is still transparent, covered
    # by the view's opaque clear colour once WebGL draws.
    background = canvas.evaluate("c => getComputedStyle(c).backgroundImage")
    assert "Loading" in re.sub(r"%20|\s", " ", background.replace("%E2%80%A6", "…"))


def test_every_tab_of_one_browser_streams_under_one_id(browser, app_url):  # noqa: F811
    """The one-stream-per-browser rule needs one id per browser: two tabs opened together read and
    make it in the page (localStorage), and the stream carries it to the server's places."""
    from demos.webcam_tab import SLOTS
    from tests.test_browser import DESKTOP

    context = browser.new_context(viewport=DESKTOP)
    try:
        first, second = context.new_page(), context.new_page()
        first.goto(app_url)
        second.goto(app_url)
        ids = []
        for tab in (first, second):
            tab.wait_for_function("() => !!localStorage.getItem('webcam-browser-id')", timeout=PAGE_TIMEOUT_MS)
            ids.append(tab.evaluate("() => localStorage.getItem('webcam-browser-id')"))
        assert ids[0] == ids[1], "two tabs of one browser hold different ids"
        first.bring_to_front()
        open_tab(first, "Webcam")
        record = start_webcam(first)
        first.get_by_text(re.compile(r"ms per frame")).first.wait_for(timeout=RESULT_TIMEOUT_MS)
        deadline = time.monotonic() + 30  # the page's stream holds a place while it streams
        clients = []
        while ids[0] not in clients and time.monotonic() < deadline:
            clients = [getattr(entry, "client", None) for _, entry in list(SLOTS._all())]
            first.wait_for_timeout(200)
        assert ids[0] in clients, f"the live streams carry {clients}, not this browser's id"
        record.click()
    finally:
        context.close()
