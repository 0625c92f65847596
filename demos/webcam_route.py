"""A guard in front of Gradio's component-server route (`/gradio_api/component_server/`), where the
live webcam's page calls its server functions `live_frame` and `live_stop` (demos.webcam_client).

Gradio's route (6.x) looks the component up in its table of blocks unchecked, so an unknown
component id is a bare "Internal Server Error" and a KeyError traceback in the server's log; a
missing key or a wrong type gets JSON `{"detail": "Invalid JSON body."}`; and it takes multipart
bodies, whose files it reads into memory, though no server function here takes a file.

`ComponentServerGuard` (ASGI middleware, wired in demos.layout behind demos.body_limit, so the body
is already size-capped) reads a POST to that route first and answers anything but a JSON call of a
server function that exists with a short plain sentence: 400 for a malformed call, 404 for a
function that is not there, 415 for a multipart body. A good call goes on to Gradio unchanged.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping

from .body_limit import MULTIPART, send_plain

ROUTE_ENDS = ("/component_server", "/component_server/")
MAX_SESSION_CHARS = 100  # Gradio's page makes session hashes of about 11 characters
BAD_CALL = ("A server-function call must be a JSON object with data, component_id (a whole number), fn_name and "
            f"session_hash (text of at most {MAX_SESSION_CHARS} characters).")
NO_FUNCTION = "This page has no such server function: check component_id and fn_name."
NOT_JSON = "A server-function call is sent as JSON; no server function of this page takes a file."


def server_functions(blocks) -> dict[int, frozenset[str]]:
    """{component id: names of its server functions} for every component of `blocks` (a built
    gr.Blocks) that offers any (gr.HTML's `server_functions`)."""
    return {block_id: frozenset(fn.__name__ for fn in block.server_fns)
            for block_id, block in blocks.blocks.items() if getattr(block, "server_fns", None)}


def call_problem(body: bytes, functions: Mapping[int, Collection[str]]) -> tuple[int, str] | None:
    """What is wrong with a component-server call's JSON `body`, as (HTTP status, plain sentence),
    or None for a call of a function in `functions` ({component id: function names})."""
    try:
        call = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return 400, BAD_CALL
    if not isinstance(call, dict) or "data" not in call:
        return 400, BAD_CALL
    component, name, session = call.get("component_id"), call.get("fn_name"), call.get("session_hash")
    if (not isinstance(component, int) or isinstance(component, bool) or not isinstance(name, str)
            or not isinstance(session, str) or not session or len(session) > MAX_SESSION_CHARS):
        return 400, BAD_CALL
    if name not in functions.get(component, ()):
        return 404, NO_FUNCTION
    return None


class ComponentServerGuard:
    """ASGI middleware: a POST to the component-server route is checked (call_problem) before
    Gradio sees it; `functions()` gives {component id: function names} (read once, at the first
    call: the app's blocks are built by then)."""

    def __init__(self, app, functions: Callable[[], Mapping[int, Collection[str]]]):
        self.app = app
        self.functions = functions
        self._known: Mapping[int, Collection[str]] | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").endswith(ROUTE_ENDS):
            return await self.app(scope, receive, send)
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        if content_type.lower().startswith(MULTIPART):
            return await send_plain(send, 415, NOT_JSON)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if self._known is None:
            self._known = self.functions()
        problem = call_problem(body, self._known)
        if problem is not None:
            return await send_plain(send, *problem)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:  # after the body, the route only waits for a disconnect
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
