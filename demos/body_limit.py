"""A cap on the size of every request body, as ASGI middleware in front of the whole app.

Gradio's own `max_file_size` bounds each uploaded file; this bounds the request as a whole (many
files in one upload, or a huge JSON body sent to an endpoint), and does so while the body streams
in: a declared Content-Length over the cap is answered 413 before a byte is read, and a body that
grows past the cap without one is cut off at the cap. Wired in demos.layout through
`launch(app_kwargs={"middleware": ...})`.
"""
from __future__ import annotations

from starlette.formparsers import MultiPartException

REFUSED = "The request is larger than this server accepts ({mb:g} MB). Send a smaller file."


class _TooLarge(MultiPartException):
    """Raised from the body stream at the cap. A multipart parse failure to the parsers reading
    the stream (Gradio's and Starlette's), so they close and delete the part files they wrote for
    this request (a plain exception left them on disk); whatever the route answers then is
    replaced by the 413 below."""

    def __init__(self):
        super().__init__("request body over the limit")


class BodyLimit:
    """ASGI middleware: HTTP requests whose body exceeds `max_bytes` get 413 and a plain sentence."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send) -> None:
        body = REFUSED.format(mb=round(self.max_bytes / 2**20, 1)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        received = 0
        started = refused = False

        async def counted_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if refused:  # the route answered the cut-off body itself (400/413 in its words): ours goes instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)
