"""The guard in front of Gradio's component-server route (demos.webcam_route), where the live
webcam's page calls live_frame and live_stop: hostile calls get a plain sentence, never a bare 500
or a traceback in the server's log, and the page's own calls still reach the server functions."""
from __future__ import annotations

import json

import httpx
import pytest

from demos.webcam_route import BAD_CALL, MAX_SESSION_CHARS, NO_FUNCTION, NOT_JSON, call_problem

FUNCTIONS = {7: frozenset({"live_frame", "live_stop"})}


def body(**fields) -> bytes:
    call = {"data": {"stream": "s"}, "component_id": 7, "fn_name": "live_stop", "session_hash": "abc"}
    call.update(fields)
    return json.dumps({k: v for k, v in call.items() if v is not ...}).encode()


@pytest.mark.parametrize("sent, expected", [
    (body(), None),
    (body(data=None), None),  # the function answers a bad message itself
    (b'{"data": {', (400, BAD_CALL)),
    (b"\xff\xfe", (400, BAD_CALL)),
    (b"[1, 2]", (400, BAD_CALL)),
    (b"[" * 100_000 + b"]" * 100_000, (400, BAD_CALL)),  # deeper than the JSON parser recurses
    (body(data=...), (400, BAD_CALL)),
    (body(component_id="7"), (400, BAD_CALL)),
    (body(component_id=7.0), (400, BAD_CALL)),
    (body(component_id=True), (400, BAD_CALL)),
    (body(fn_name=None), (400, BAD_CALL)),
    (body(session_hash=5), (400, BAD_CALL)),
    (body(session_hash=""), (400, BAD_CALL)),
    (body(session_hash="x" * (MAX_SESSION_CHARS + 1)), (400, BAD_CALL)),
    (body(component_id=10**30), (404, NO_FUNCTION)),
    (body(component_id=-1), (404, NO_FUNCTION)),
    (body(component_id=8), (404, NO_FUNCTION)),
    (body(fn_name="__init__"), (404, NO_FUNCTION)),
])
def test_a_call_is_checked_against_the_pages_server_functions(sent, expected):
    assert call_problem(sent, FUNCTIONS) == expected


def test_hostile_calls_get_a_plain_sentence_over_http_and_no_traceback_is_logged(app_url, capfd):
    from benchmarks.webcam_api_clients import find_live_endpoint

    base = app_url.rstrip("/")
    config = httpx.get(base + "/config", timeout=30).json()
    live = find_live_endpoint(config).component_id
    plain = next(c["id"] for c in config["components"] if not (c.get("props") or {}).get("server_fns"))
    url = base + "/gradio_api/component_server/"

    def post(**fields) -> httpx.Response:
        call = {"data": {"stream": "route-guard"}, "component_id": live, "fn_name": "live_stop", "session_hash": "guard"}
        return httpx.post(url, json=dict(call, **fields), timeout=30)

    for component in (10**30, -1, plain):  # Gradio's route: a bare 500 and a KeyError traceback
        answer = post(component_id=component)
        assert (answer.status_code, answer.text) == (404, NO_FUNCTION), (component, answer.status_code, answer.text)
    answer = httpx.post(url, content=b'{"data": {', headers={"content-type": "application/json"}, timeout=30)
    assert (answer.status_code, answer.text) == (400, BAD_CALL)
    answer = httpx.post(url, data={"component_id": str(live), "fn_name": "live_stop", "session_hash": "guard"},
                        files={"data": ("frame.jpg", b"\xff\xd8", "image/jpeg")}, timeout=30)
    assert (answer.status_code, answer.text) == (415, NOT_JSON)
    assert post().json() == {"state": "stopped"}  # the page's own call still reaches the function
    stderr = capfd.readouterr().err
    assert "Traceback" not in stderr, stderr[-3000:]
