"""The webcam benchmark's browserless visitors (benchmarks.webcam_api_clients) against the real app,
their synthetic moving frames, and the browser mode's bounds (the process walk of its watchdog)."""
from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from benchmarks import bench_webcam, webcam_api_clients
from benchmarks.webcam_api_clients import PAN_PX, find_live_endpoint, moving_frames, run_api_visitors


def decode(url: str) -> np.ndarray:
    header, _, data = url.partition(",")
    assert header == "data:image/jpeg;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(np.int16)


def test_moving_frames_are_320x240_jpegs_of_a_camera_panning_by_a_known_step():
    rng = np.random.default_rng(0)
    # smooth texture (a low-resolution noise scaled up) so JPEG keeps it and a shift is measurable
    picture = np.asarray(Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((320, 240), Image.BICUBIC))
    first, second = (decode(url) for url in moving_frames(picture, 2))
    assert first.shape == second.shape == (240, 320, 3)
    # the picture is scaled to 400x300: 80 px of horizontal travel, 60 vertical; step 1 is at x=6, y=4
    dy = 60 * PAN_PX // 80
    shifted = np.abs(second[: -dy, : -PAN_PX] - first[dy:, PAN_PX:]).mean()
    unshifted = np.abs(second - first).mean()
    assert shifted < 4 and unshifted > 3 * shifted, (shifted, unshifted)


def test_moving_frames_refuse_a_grey_picture():
    with pytest.raises(ValueError, match="RGB picture"):
        moving_frames(np.zeros((240, 320), np.uint8), 3)


def test_the_live_view_is_read_from_the_app_config_as_the_page_calls_it(app_url):
    endpoint = find_live_endpoint(httpx.get(app_url.rstrip("/") + "/config", timeout=30).json())
    # the page starts with the frame size 320 and the default model (no choice, no checkpoint)
    assert (endpoint.max_side, endpoint.model_choice, endpoint.model_custom) == (320, None, "")
    data = endpoint.frame("data:image/jpeg;base64,AAAA", "stream-a", "visitor-a")
    assert data == {"frame": "data:image/jpeg;base64,AAAA", "stream": "stream-a", "browser": "visitor-a",
                    "max_side": 320, "model": None, "custom": ""}
    with pytest.raises(LookupError):
        find_live_endpoint({"components": [], "dependencies": []})


def test_two_api_visitors_get_depth_through_the_live_path_with_two_frames_in_flight(app_url):
    """The real server function, slots and batching behind the page's HTTP calls: each visitor gets
    a depth picture for every frame it sent (4 live places, so nobody waits), counted once each
    whether it came in order or late, its rate line, and Stop ends its stream cleanly and frees
    its place."""
    from demos.models import registry
    from demos.webcam_tab import SLOTS

    registry().get()  # the bundled model loaded (as the benchmark does before it serves), not timed here
    start = time.monotonic()
    runs = run_api_visitors(app_url, visitors=2, seconds=1.5, frames_each=4)
    took = time.monotonic() - start
    for run in runs:
        assert run.error is None and run.stopped_cleanly, run
        assert run.waits == 0 and len(run.images) + run.late == run.sent >= 3, run
        assert run.first_s() is not None and 0 < run.first_s() < 1.5
        assert run.rate() > 0
        assert decode(run.last_picture).shape == (240, 320, 3)  # a depth picture at the frame's size
        assert re.search(r"\d+ frames? · \d:\d\d left", run.last_line), run.last_line[:200]
    assert SLOTS.counts() == (0, 0)  # Stop freed both places at once
    assert took < 1.5 + 2 * webcam_api_clients.HTTP_TIMEOUT.read


def test_the_watchdog_finds_processes_started_below_this_one():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in bench_webcam.descendants(os.getpid())
        assert child.pid not in bench_webcam.descendants(child.pid)
    finally:
        child.kill()
        child.wait()


def test_clients_option_defaults_to_browser_and_refuses_others(capsys):
    assert bench_webcam.parse_args([]).clients == "browser"
    assert bench_webcam.parse_args(["--clients", "api", "--visitors", "1,2"]).counts == [1, 2]
    with pytest.raises(SystemExit) as exit_info:
        bench_webcam.parse_args(["--clients", "phone"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
