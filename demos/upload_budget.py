"""A total budget for uploads, as ASGI middleware in front of Gradio's upload route.

Gradio keeps every uploaded file in its cache folder until its own cleanup; each file and each
request body is bounded (`max_file_size`, demos.body_limit), but their number is not. This
middleware keeps what uploads hold on disk (demos.storage.OutputStore.upload_bytes: tracked
uploads and part files of incoming ones, each file counted in whole disk blocks plus a block for
its folder) under a budget (APP_UPLOAD_BUDGET_MB, default 1024):

- an upload must state its size (Content-Length; the page and gradio_client do): one without it
  gets HTTP 411, so a chunked body cannot slip past the count;
- a new upload is admitted only when what is held, plus what admitted uploads still have to send,
  plus its own declared size fit the budget; admission reserves that size at once (under a lock),
  so concurrent uploads cannot all pass on the same measurement;
- while a body streams in, its bytes are counted as they arrive, and each file it holds costs two
  disk blocks more (its last partial block and its folder: 1000 five-byte files hold 8 MB of disk,
  not 5 kB); a body that goes over the budget that way is cut off there, and the parsers delete
  its part files (demos.body_limit.StreamCut).

Refusals are HTTP 507 with a plain sentence. Uploads are removed by the output sweep once unused for
APP_UPLOAD_RETENTION_S (600 s), so the space comes back. The folder is measured again at most every
`recheck_s` seconds (a walk per upload would cost more than the upload); between measurements the
bytes that arrive are added to the last one. Wired in demos.layout through
`launch(app_kwargs={"middleware": ...})`.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable

from .body_limit import part_counter, send_plain, serve_counted
from .storage import BLOCK_BYTES

BUDGET_ENV, DEFAULT_BUDGET_MB = "APP_UPLOAD_BUDGET_MB", 1024
REFUSED = ("The server holds as many uploads as it can right now ({mb:g} MB). Try again in a few minutes, "
           "or send a smaller file.")
NO_LENGTH = ("An upload must state its size (a Content-Length header; the page and gradio_client send one). "
             "Send it again with its size.")
PART_BYTES = 2 * BLOCK_BYTES  # each file of an upload: its last partial block and its folder on disk


def upload_budget_bytes() -> int:
    """APP_UPLOAD_BUDGET_MB in bytes (default 1024 MB)."""
    try:
        value = float(os.environ.get(BUDGET_ENV, "") or DEFAULT_BUDGET_MB)
    except ValueError:
        value = DEFAULT_BUDGET_MB
    return int((value if 0 < value < float("inf") else DEFAULT_BUDGET_MB) * 2**20)


def is_upload(scope) -> bool:
    return scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/upload")


class UploadBudget:
    """ASGI middleware: uploads (POST to a path ending in /upload) are held to `max_bytes` in
    total, counting `used_bytes()` (measured at most every `recheck_s` seconds), the bytes still
    to come of admitted uploads and each file's `part_bytes` (see the module's text)."""

    def __init__(self, app, used_bytes: Callable[[], int], max_bytes: int, recheck_s: float = 2.0,
                 part_bytes: int = PART_BYTES):
        self.app = app
        self.used_bytes = used_bytes
        self.max_bytes = int(max_bytes)
        self.recheck_s = float(recheck_s)
        self.part_bytes = int(part_bytes)
        self._lock = threading.Lock()
        self._measured_at = -float("inf")
        self._held = 0  # the last measurement, plus what arrived since
        self._pending: dict[int, int] = {}  # each admitted upload in flight: bytes it has yet to send
        self._ids = itertools.count()

    def _estimate(self) -> int:
        return self._held + sum(self._pending.values())

    def _admit(self, key: int, declared: int) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._measured_at > self.recheck_s:
                self._held, self._measured_at = int(self.used_bytes()), now
            if self._estimate() + declared + self.part_bytes > self.max_bytes:
                return False
            self._pending[key] = declared
            return True

    def _arrived(self, key: int, size: int, new_parts: int) -> bool:
        """Counts `size` bytes and `new_parts` files of upload `key`; whether all still fits."""
        with self._lock:
            self._held += size + new_parts * self.part_bytes
            self._pending[key] = max(0, self._pending.get(key, 0) - size)
            return self._estimate() <= self.max_bytes

    def _done(self, key: int) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def _refusal(self, send):
        return send_plain(send, 507, REFUSED.format(mb=round(self.max_bytes / 2**20, 1)))

    async def __call__(self, scope, receive, send):
        if not is_upload(scope):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is None or not declared.isdigit():
            return await send_plain(send, 411, NO_LENGTH)
        key = next(self._ids)
        if not self._admit(key, int(declared)):
            return await self._refusal(send)
        counter = part_counter(scope)
        parts = 0

        def check(chunk: bytes):
            nonlocal parts
            seen = counter.feed(chunk) if counter is not None else 0
            new_parts, parts = max(0, seen - parts), max(parts, seen)
            return None if self._arrived(key, len(chunk), new_parts) else self._refusal

        try:
            await serve_counted(self.app, scope, receive, send, check)
        finally:
            self._done(key)
