"""Shared test setup: the tests run offline and on few cores."""
import os

# Never wait on a network that is not there: model hubs answer "offline" at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

# One thread, as the app serves (app.py, APP_TORCH_THREADS): the in-process app and the browser share
# the cores, and a two-thread model spikes to seconds per frame when they are busy.
torch.set_num_threads(1)


import socket  # noqa: E402

import pytest  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The whole app, served once on a free local port for the API and browser tests."""
    from demos.layout import build_demo

    demo = build_demo("synthetic-tiny")
    demo.queue(default_concurrency_limit=2)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            **demo.launch_options)
    yield url
    demo.close()


import tempfile  # noqa: E402

# The app's per-request outputs go to a folder of this test session, never one shared with other runs.
os.environ.setdefault("APP_OUTPUT_DIR", tempfile.mkdtemp(prefix="app-outputs-"))
