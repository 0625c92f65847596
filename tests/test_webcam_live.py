"""The live webcam's server functions (demos.webcam_tab.live_frame and live_stop), called as the
page's client calls them: in this process with the real model, places and batching, and over HTTP
through Gradio's /component_server/ route (which the request body limit covers)."""
from __future__ import annotations

import base64
import io
import re

import httpx
import numpy as np
import pytest
from PIL import Image

from demos import webcam_tab
from demos.webcam_slots import LiveSlots
from demos.webcam_tab import BAD_MESSAGE, UNREADABLE_FRAME, jpeg_data_url, live_frame, live_stop

# A 128x96 camera frame: a horizontal ramp, so the depth has a range.
FRAME = jpeg_data_url(np.tile(np.linspace(0, 255, 128, dtype=np.uint8), (96, 1))[..., None].repeat(3, 2))


def message(stream: str, browser: str, **settings) -> dict:
    return {"frame": FRAME, "stream": stream, "browser": browser, "max_side": 96, **settings}


@pytest.fixture
def one_place(monkeypatch):
    """The tab with one live place (a real LiveSlots, the tab's other settings), so a second browser waits."""
    slots = LiveSlots(1, 60.0, webcam_tab.IDLE_S, max_in_flight=webcam_tab.FRAMES_IN_FLIGHT)
    monkeypatch.setattr(webcam_tab, "SLOTS", slots)
    yield slots
    for stream in ("tab-a", "tab-b", "tab-c"):
        live_stop({"stream": stream})


def test_a_live_frame_gets_the_depth_index_the_rate_line_and_the_range(one_place):
    first = live_frame(message("tab-a", "browser-a"))
    assert first["state"] == "live" and first["first"] is True
    picture = Image.open(io.BytesIO(base64.b64decode(first["picture"].split(",", 1)[1])))
    assert picture.mode == "L" and picture.size == (96, 72)  # the grey index at the frame size asked for
    assert re.fullmatch(r"first frame · model \d+ ms per frame · 96x72 · 1 frame · 1:00 left", first["line"]), first["line"]
    assert 0 < first["near"] < first["far"]
    second = live_frame(message("tab-a", "browser-a"))
    assert second["state"] == "live" and "first" not in second and second["picture"].startswith("data:image/jpeg;base64,")
    assert one_place.counts() == (1, 0)


def test_stop_frees_the_live_place_at_once_and_the_count_starts_again(one_place):
    assert live_frame(message("tab-a", "browser-a"))["state"] == "live"
    waiting = live_frame(message("tab-b", "browser-b"))
    assert (waiting["state"], waiting["retry_s"]) == ("waiting", webcam_tab.WAIT_POLL_S) and "picture" not in waiting
    assert waiting["line"].startswith("The only live place is in use. You are next;")  # not "All 1 live places"
    assert live_stop({"stream": "tab-a"}) == {"state": "stopped"}
    assert live_frame(message("tab-b", "browser-b"))["state"] == "live"  # right after Stop, not after IDLE_S
    # tab-a comes back: it waits now, and after tab-b's Stop it starts a new count.
    assert live_frame(message("tab-a", "browser-a"))["state"] == "waiting"
    live_stop({"stream": "tab-b"})
    again = live_frame(message("tab-a", "browser-a"))
    assert again["state"] == "live" and again["first"] is True and "· 1 frame ·" in again["line"]


def test_a_second_tab_of_the_same_browser_is_told_why_it_gets_no_depth(one_place):
    live_frame(message("tab-a", "browser-a"))
    second = live_frame(message("tab-c", "browser-a"))
    assert second["state"] == "duplicate" and "already streams live depth in another tab" in second["line"]


@pytest.mark.parametrize("sent, expected", [
    ("a picture", BAD_MESSAGE),
    ({"frame": FRAME}, BAD_MESSAGE),  # no stream id
    (dict(message("tab-a", "b"), stream="x" * 500), BAD_MESSAGE),
    (dict(message("tab-a", "b"), frame="/etc/hostname"), UNREADABLE_FRAME),  # a path is never read
    (dict(message("tab-a", "b"), frame="data:image/jpeg;base64,AAAA"), UNREADABLE_FRAME),
    (dict(message("tab-a", "b"), max_side=5), "The frame size (longest side, px) must be between 96 and 640; got 5."),
    (dict(message("tab-a", "b"), model="nonsense"), "The depth model must be one of"),
], ids=["not-an-object", "no-stream", "long-id", "path", "bad-jpeg", "frame-size", "model"])
def test_a_bad_message_gets_a_plain_sentence_and_frees_its_frame(one_place, sent, expected):
    answer = live_frame(sent)
    assert answer["state"] == "error" and answer["message"].startswith(expected), answer
    assert "Traceback" not in answer["message"] and "/etc" not in answer["message"]
    for _ in range(webcam_tab.FRAMES_IN_FLIGHT + 1):  # a refused frame is not left in flight
        assert live_frame(message("tab-a", "b"))["state"] == "live"


def png_data_url(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def test_a_live_frame_larger_than_a_camera_frame_is_refused_before_it_is_decoded(one_place):
    """A flat 25-megapixel PNG is ~100 kB (well within the request limit) yet took ~0.6 s of the
    server's CPU to decode, 25 times a camera frame's whole cost: a live frame may be at most
    LIVE_FRAME_MAX_PIXELS (a 1080p frame, more than the page ever sends), checked on the header."""
    over = png_data_url(webcam_tab.LIVE_FRAME_MAX_PIXELS // 1000 + 1, 1000)
    assert len(over) < 200_000
    answer = live_frame(dict(message("tab-a", "browser-a"), frame=over))
    assert answer == {"state": "error", "message": webcam_tab.LIVE_FRAME_TOO_LARGE}
    assert "1920x1080" in answer["message"]
    within = live_frame(dict(message("tab-a", "browser-a"), frame=png_data_url(1920, 1080)))
    assert within["state"] == "live" and within["first"] is True


def test_the_page_route_serves_frames_and_the_body_limit_covers_it(app_url):
    """What the page's `server.live_frame(...)` sends (Gradio's client: a JSON POST to
    /gradio_api/component_server/) gets the depth; a body over the JSON cap gets 413 and the plain
    sentence from demos.body_limit before anything is parsed."""
    from benchmarks.webcam_api_clients import find_live_endpoint
    from demos.inputs import max_json_bytes

    base = app_url.rstrip("/")
    endpoint = find_live_endpoint(httpx.get(base + "/config", timeout=30).json())

    def post(fn_name: str, data) -> httpx.Response:
        body = {"data": data, "component_id": endpoint.component_id, "fn_name": fn_name, "session_hash": "test-route"}
        return httpx.post(base + "/gradio_api/component_server/", json=body, timeout=60)

    answer = post("live_frame", endpoint.frame(FRAME, "route-stream", "route-browser"))
    assert answer.status_code == 200 and answer.json()["state"] == "live"
    assert answer.json()["picture"].startswith("data:image/jpeg;base64,")
    assert post("live_stop", {"stream": "route-stream"}).json() == {"state": "stopped"}
    huge = post("live_frame", endpoint.frame("data:image/jpeg;base64," + "A" * max_json_bytes(), "route-stream", "b"))
    assert huge.status_code == 413 and huge.text.startswith("The request is larger than this server accepts")
    assert post("no_such_function", {}).status_code == 404  # only the component's own server functions
