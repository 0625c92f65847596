"""Shared test setup: the tests run offline and on few cores."""
import os

# Never wait on a network that is not there: model hubs answer "offline" at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))
