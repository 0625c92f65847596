"""Caps on every request body, as ASGI middleware in front of the whole app.

Gradio's own `max_file_size` bounds each uploaded file; this bounds the request as a whole, and
does so while the body streams in (a declared Content-Length over a cap is answered 413 before a
byte is read, and a body that grows past it without one is cut off there):

- a multipart body (files: Gradio's upload route) may be `max_bytes` long (APP_MAX_REQUEST_MB)
  and hold at most `max_files` parts (files or fields; Gradio's own parser takes 1000, each a file
  and a folder on disk);
- any other body (the JSON of an API call: a few kB here, since files go through the upload route;
  a webcam frame streamed by the page is a JPEG data URL of well under 1 MB at 1080p) at most
  `max_json_bytes` (APP_MAX_JSON_KB): the JSON parser's objects take about 20 times the body's
  bytes, so 57 MB of numbers cost over 1 GB.

Wired in demos.layout through `launch(app_kwargs={"middleware": ...})`; demos.upload_budget uses
the same cut-off (`serve_counted`).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.formparsers import MultiPartException

REFUSED = "The request is larger than this server accepts ({mb:g} MB). Send a smaller file."
REFUSED_JSON = ("The request is larger than this server accepts for an API call ({kb:g} kB). Files go through "
                "the upload route (the page and gradio_client do this); send smaller values.")
REFUSED_FILES = "An upload may hold at most {count} files. Send fewer files at a time, or a .zip of them."
MULTIPART = b"multipart/form-data"


class StreamCut(MultiPartException):
    """Raised from the body stream when a cap is reached. A multipart parse failure to the parsers
    reading the stream (Gradio's and Starlette's), so they close and delete the part files they
    wrote for this request (a plain exception left them on disk); whatever the route answers then
    is replaced by the middleware's own refusal."""

    def __init__(self):
        super().__init__("request body over a limit")


async def send_plain(send, status: int, text: str) -> None:
    """A complete plain-text HTTP response that closes the connection."""
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def serve_counted(app, scope, receive, send, check: Callable[[bytes], Callable[[], Awaitable[None]] | None]) -> None:
    """Runs `app` with every body chunk passed to `check` as it arrives; when `check` returns a
    refusal (an async callable that sends one), the stream is cut there (StreamCut) and that
    refusal is the answer, whatever the route would have said."""
    refusal = None
    started = False

    async def counted_receive():
        nonlocal refusal
        message = await receive()
        if message["type"] == "http.request" and refusal is None:
            refusal = check(message.get("body", b""))
            if refusal is not None:
                raise StreamCut
        return message

    async def tracked_send(message):
        nonlocal started
        if refusal is not None:  # the route answered the cut-off body itself (400/413 in its words): ours goes instead
            if message["type"] == "http.response.start" and not started:
                started = True
                await refusal(send)
            return
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, counted_receive, tracked_send)
    except StreamCut:
        if not started:
            started = True
            await refusal(send)


def _boundary(content_type: bytes) -> bytes | None:
    """The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1), quotes removed."""
    for parameter in content_type.split(b";")[1:]:
        key, _, value = parameter.strip().partition(b"=")
        if key.strip().lower() == b"boundary" and value.strip():
            return value.strip().strip(b'"')
    return None


class PartCounter:
    """Counts the delimiter lines of a multipart body as it streams in (each part starts after one;
    RFC 2046 §5.1.1), across chunk borders. After the whole body, parts = delimiters - 1 (the last
    one closes the body); while it streams, delimiters seen is an upper bound on parts started."""

    def __init__(self, boundary: bytes):
        self.delimiter = b"--" + boundary
        self.delimiters = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        """Adds `chunk`; the delimiters seen so far."""
        data = self._tail + chunk
        start = 0
        while (found := data.find(self.delimiter, start)) != -1:
            self.delimiters += 1
            start = found + len(self.delimiter)
        self._tail = data[max(start, len(data) - len(self.delimiter) + 1):]
        return self.delimiters


def part_counter(scope) -> PartCounter | None:
    """A PartCounter for a multipart/form-data request; None for any other body."""
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    if not content_type.lower().startswith(MULTIPART):
        return None
    boundary = _boundary(content_type)
    return PartCounter(boundary) if boundary else None


class BodyLimit:
    """ASGI middleware: a multipart body over `max_bytes` or with more than `max_files` parts, or
    any other body over `max_json_bytes`, gets 413 and a plain sentence."""

    def __init__(self, app, max_bytes: int, max_json_bytes: int | None = None, max_files: int | None = None):
        self.app = app
        self.max_bytes = int(max_bytes)
        self.max_json_bytes = int(max_json_bytes) if max_json_bytes else self.max_bytes
        self.max_files = int(max_files) if max_files else None

    def _refusal(self, multipart: bool, files: bool = False):
        if files:
            text = REFUSED_FILES.format(count=self.max_files)
        elif multipart:
            text = REFUSED.format(mb=round(self.max_bytes / 2**20, 1))
        else:
            text = REFUSED_JSON.format(kb=round(self.max_json_bytes / 2**10, 1))
        return lambda send: send_plain(send, 413, text)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        counter = part_counter(scope)
        limit = self.max_bytes if counter is not None else self.max_json_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._refusal(counter is not None)(send)
        received = 0

        def check(chunk: bytes):
            nonlocal received
            received += len(chunk)
            if received > limit:
                return self._refusal(counter is not None)
            if counter is not None and self.max_files and counter.feed(chunk) > self.max_files + 1:
                return self._refusal(True, files=True)
            return None

        await serve_counted(self.app, scope, receive, send, check)
