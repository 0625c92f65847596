"""Tiny runs for the grid runner's tests (tests/test_grid.py): a real, seeded training run of a
fraction of a second, and runs that fail on purpose. They live in a module of their own so that
spawned processes and Ray workers import them by name."""
from __future__ import annotations

import json
import os
from pathlib import Path

TRUE_WEIGHTS = (1.5, -2.0, 0.5)  # the line every fit_line run learns
TRUE_BIAS = 0.25


def fit_line(folder: str, seed: int, steps: int = 300, threads: int = 1) -> dict:
    """Least squares by SGD on 64 noisy samples of y = TRUE_WEIGHTS . x + TRUE_BIAS (data and
    initial weights from `seed`); writes FOLDER/result.json (relative to the working directory)
    and returns it: the final training loss, the learned weights and the thread count used."""
    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=generator)
    y = x @ torch.tensor(TRUE_WEIGHTS) + TRUE_BIAS + 0.01 * torch.randn(64, generator=generator)
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    result = {"seed": seed, "loss": loss.item(), "weights": model.weight.detach()[0].tolist(),
              "bias": float(model.bias.detach()[0]), "threads": torch.get_num_threads()}
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "result.json").write_text(json.dumps(result) + "\n")
    return result


def saved_fit(folder: str) -> dict | None:
    """A finished fit_line run's result, read where the driver reads it; None when missing."""
    path = Path(folder) / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _attempt(record: str) -> int:
    """Appends one line to RECORD (one per attempt, whichever process makes it); returns how many
    attempts there were before this one."""
    path = Path(record)
    before = len(path.read_text().splitlines()) if path.is_file() else 0
    with path.open("a") as handle:
        handle.write(f"attempt by process {os.getpid()}\n")
    return before


def fail_always(record: str) -> str:
    _attempt(record)
    raise RuntimeError("failed on purpose")


def fail_first(record: str) -> str:
    if _attempt(record) == 0:
        raise RuntimeError("first attempt fails on purpose")
    return "done on a later attempt"


def kill_own_process(record: str) -> str:
    _attempt(record)
    os._exit(3)  # the process dies without a result or an exception, as when killed for memory
