"""Gradio entry point: builds the tabs from demos/ and launches.

    python app.py [--host 0.0.0.0] [--port 7860] [--model synthetic-tiny|PATH|HUB_ID] [--share]

Each flag has an environment variable: APP_HOST (or GRADIO_SERVER_NAME), APP_PORT (or
GRADIO_SERVER_PORT), MIRROR_MODEL, APP_SHARE=1.
"""
from __future__ import annotations

import argparse
import os

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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    demo = build_demo(args.model)
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, share=args.share,
                                                   **demo.launch_options)


if __name__ == "__main__":
    main()
