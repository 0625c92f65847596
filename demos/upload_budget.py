"""A total budget for uploads, as ASGI middleware in front of Gradio's upload route.

Gradio keeps every uploaded file in its cache folder until its own cleanup; each file and each
request body is bounded (`max_file_size`, demos.body_limit), but their number is not. This
middleware refuses a new upload with HTTP 507 and a plain sentence while the uploads held now
(demos.storage.OutputStore.upload_bytes: tracked uploads and part files of incoming ones) plus the
new request's declared size exceed the budget (APP_UPLOAD_BUDGET_MB, default 1024). Uploads are
removed by the output sweep once unused for APP_UPLOAD_RETENTION_S (600 s), so the space comes
back. The size is measured at most every `recheck_s` seconds (a walk of the folder per upload
would cost more than the upload) and grown by each admitted request's declared size meanwhile.
Wired in demos.layout through `launch(app_kwargs={"middleware": ...})`.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

BUDGET_ENV, DEFAULT_BUDGET_MB = "APP_UPLOAD_BUDGET_MB", 1024
REFUSED = ("The server holds as many uploads as it can right now ({mb:g} MB). Try again in a few minutes, "
           "or send a smaller file.")


def upload_budget_bytes() -> int:
    """APP_UPLOAD_BUDGET_MB in bytes (default 1024 MB)."""
    try:
        value = float(os.environ.get(BUDGET_ENV, "") or DEFAULT_BUDGET_MB)
    except ValueError:
        value = DEFAULT_BUDGET_MB
    return int((value if 0 < value < float("inf") else DEFAULT_BUDGET_MB) * 2**20)


class UploadBudget:
    """ASGI middleware: POST requests to an upload route (path ending in /upload) get 507 while
    `used_bytes()` plus the request's Content-Length would exceed `max_bytes`."""

    def __init__(self, app, used_bytes: Callable[[], int], max_bytes: int, recheck_s: float = 2.0):
        self.app = app
        self.used_bytes = used_bytes
        self.max_bytes = int(max_bytes)
        self.recheck_s = float(recheck_s)
        self._lock = threading.Lock()
        self._measured_at = -float("inf")
        self._used = 0

    def _admit(self, declared: int) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._measured_at > self.recheck_s:
                self._used, self._measured_at = int(self.used_bytes()), now
            if self._used + declared > self.max_bytes:
                return False
            self._used += declared  # until the next measurement, admitted requests count as held
            return True

    async def _refuse(self, send) -> None:
        body = REFUSED.format(mb=round(self.max_bytes / 2**20, 1)).encode()
        await send({"type": "http.response.start", "status": 507,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/upload"):
            declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
            if not self._admit(int(declared) if declared.isdigit() else 0):
                return await self._refuse(send)
        return await self.app(scope, receive, send)
