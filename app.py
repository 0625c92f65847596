"""Gradio entry point: builds the tabs from demos/ and launches.

    python app.py [--host 0.0.0.0] [--port 7860] [--model synthetic-tiny|PATH|HUB_ID] [--share]

Each flag has an environment variable: APP_HOST (or GRADIO_SERVER_NAME), APP_PORT (or
GRADIO_SERVER_PORT), MIRROR_MODEL, APP_SHARE=1. Uploads are bounded per file (APP_MAX_FILE_MB), per
request body (APP_MAX_REQUEST_MB; an API call's JSON: APP_MAX_JSON_KB), in files per request
(APP_MAX_FILES_PER_REQUEST) and in total (APP_UPLOAD_BUDGET_MB) before any handler runs (see docs/limits.md).
Refusals are logged at INFO, one line each, on stderr.

Threads: the server runs each request's model on one torch thread (APP_TORCH_THREADS, default 1).
Requests run side by side on their own threads, and on a few shared cores a model asking for two
threads spikes from ~30 ms to seconds per frame when the cores are busy (the live webcam test: 9.2
depth images per second at 2 threads, 17.9 at 1, same machine, same minute).

Memory: many handler threads each get their own glibc malloc arena, and freed memory stays in
those arenas, so a long-running server's resident size creeps up with every burst of requests. The
server caps the arenas (APP_MALLOC_ARENAS, default 2) and hands freed heap back to the system after
each sweep interval (malloc_trim). Neither changes any result; on other C libraries both are skipped.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import threading
import time

from demos.errors import configure_logging
from demos.layout import build_demo
from demos.models import DEFAULT_MODEL, MODEL_ENV_VAR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description="Mirror depth and elementwise embedding: demo and analysis app.")
    parser.add_argument("--host", default=env.get("APP_HOST", env.get("GRADIO_SERVER_NAME", "127.0.0.1")),
                        help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=int(env.get("APP_PORT", env.get("GRADIO_SERVER_PORT", "7860"))),
                        help="port to listen on")
    parser.add_argument("--model", default=env.get(MODEL_ENV_VAR, DEFAULT_MODEL),
                        help="default depth model: a preset name, a mirror checkpoint folder or a Hub repo id")
    parser.add_argument("--share", action="store_true", default=env.get("APP_SHARE", "") == "1",
                        help="create a public share link")
    return parser.parse_args(argv)


M_ARENA_MAX = -8  # glibc's mallopt parameter number for the arena cap
ARENAS_ENV, DEFAULT_ARENAS = "APP_MALLOC_ARENAS", 2
TRIM_EVERY_S = 60.0


def bound_allocator(arenas: int | None = None, trim_every_s: float = TRIM_EVERY_S) -> bool:
    """Caps glibc's malloc arenas and starts a daemon thread that returns freed heap to the system
    every `trim_every_s`; False (and nothing done) where the C library is not glibc. Call it before
    the server starts its threads: an arena cap applies to arenas created after it."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = libc.malloc_trim if libc is not None else None
    except (OSError, AttributeError):
        return False
    if trim is None:
        return False
    if arenas is None:
        text = os.environ.get(ARENAS_ENV, "")
        arenas = int(text) if text.strip().isdigit() and int(text) > 0 else DEFAULT_ARENAS
    libc.mallopt(M_ARENA_MAX, int(arenas))

    def trim_forever() -> None:
        while True:
            time.sleep(trim_every_s)
            trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()
    return True


TORCH_THREADS_ENV, DEFAULT_TORCH_THREADS = "APP_TORCH_THREADS", 1


def torch_threads() -> int:
    """Torch's intra-op threads for the server (APP_TORCH_THREADS, a positive whole number; default 1)."""
    text = os.environ.get(TORCH_THREADS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_TORCH_THREADS


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(torch_threads())
    configure_logging()  # each refusal one INFO line on stderr; unexpected errors with their traceback and id
    bound_allocator()
    demo = build_demo(args.model)
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, share=args.share,
                                                   **demo.launch_options)


if __name__ == "__main__":
    main()
