"""Stored predictions of the claims comparison: small enough to commit, exact for every table.

Every decision the comparison makes compares a probability with a threshold on the grid of
metrics.THRESHOLDS (multiples of 1/20), and precision@1 needs only each text's top label. So a
run's probabilities are stored as
    <set>.level  uint8 (N, labels): floor(20 p), the grid cell each probability falls in
    <set>.top    uint16 (N,):       the label with the highest probability
in a compressed .npz (most levels are 0, which compresses to almost nothing). Read back, a
probability becomes its cell's middle, (level + 0.5) / 20: p >= k/20 exactly when level >= k, so
every global and per-label threshold decision, and so every F1, interval and verdict, comes out as
from the full probabilities.

The gold labels go beside them (packed bits), so the tables can be rebuilt from the folder alone:
    python -m eembed_model.compare --recompute docs/results/eembed-claims
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

GRID = 20            # cells per unit of probability: metrics.THRESHOLDS are k / GRID
GOLD_FILE = "gold.npz"


def save_predictions(path: str | Path, probs: dict[str, torch.Tensor]) -> Path:
    """probs: set name -> (N, labels) probabilities in [0, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, values in probs.items():
        values = torch.as_tensor(values, dtype=torch.float32)
        arrays[f"{name}.level"] = np.clip(np.floor(values.numpy() * GRID + 1e-6), 0, GRID).astype(np.uint8)
        arrays[f"{name}.top"] = values.argmax(1).numpy().astype(np.uint16) if values.numel() else np.zeros(0, np.uint16)
    np.savez_compressed(path, **arrays)
    return path


def load_predictions(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(probabilities at their cells' middles, top label per text), each by set name."""
    stored = np.load(Path(path))
    names = sorted({key.rsplit(".", 1)[0] for key in stored.files})
    if not names or any(f"{n}.level" not in stored.files or f"{n}.top" not in stored.files for n in names):
        raise ValueError(f"{path} is not a predictions file of this version (expected <set>.level and <set>.top); "
                         "rerun python -m eembed_model.compare to write it")
    probs = {n: torch.from_numpy((stored[f"{n}.level"].astype(np.float32) + 0.5) / GRID) for n in names}
    top = {n: torch.from_numpy(stored[f"{n}.top"].astype(np.int64)) for n in names}
    return probs, top


def save_golds(path: str | Path, golds: dict[str, torch.Tensor]) -> Path:
    """Gold label matrices (N, labels) of every set, as packed bits."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, gold in golds.items():
        gold = gold.bool().numpy()
        arrays[f"{name}.bits"] = np.packbits(gold, axis=1)
        arrays[f"{name}.shape"] = np.asarray(gold.shape, dtype=np.int64)
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_golds(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}: not a folder written by python -m eembed_model.compare")
    stored = np.load(path)
    out = {}
    for key in stored.files:
        if key.endswith(".bits"):
            name = key[:-len(".bits")]
            rows, labels = stored[f"{name}.shape"].tolist()
            out[name] = torch.from_numpy(np.unpackbits(stored[key], axis=1, count=labels).astype(bool)).reshape(rows, labels)
    return out
