"""Stored predictions of the claims comparison: small enough to commit, exact for every table.

Every decision the comparison makes compares a probability with a threshold on the grid of
metrics.THRESHOLDS (multiples of 1/20), and precision@1 needs only each text's top label. So a
run's probabilities are stored as
    <set>.level.xz  the uint8 (N, labels) matrix floor(20 p), the grid cell each probability falls
                    in, LZMA-compressed (2-3x smaller than the .npz's zlib: most levels are 0), with
    <set>.shape     its (N, labels)
    <set>.top       uint16 (N,): the label with the highest probability
in a .npz (files written before LZMA hold `<set>.level` itself, read as well). Read back, a
probability becomes its cell's middle, (level + 0.5) / 20: p >= k/20 exactly when level >= k, so
every global and per-label threshold decision, and so every F1, interval and verdict, comes out as
from the full probabilities.

The gold labels go beside them (packed bits), so the tables can be rebuilt from the folder alone:
    python -m eembed_model.compare --recompute docs/results/eembed-claims
"""
from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

GRID = 20            # cells per unit of probability: metrics.THRESHOLDS are k / GRID
GOLD_FILE = "gold.npz"


def save_predictions(path: str | Path, probs: dict[str, torch.Tensor]) -> Path:
    """probs: set name -> (N, labels) probabilities in [0, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    levels, top = {}, {}
    for name, values in probs.items():
        values = torch.as_tensor(values, dtype=torch.float32)
        levels[name] = np.clip(np.floor(values.numpy() * GRID + 1e-6), 0, GRID).astype(np.uint8)
        top[name] = values.argmax(1).numpy().astype(np.uint16) if values.numel() else np.zeros(0, np.uint16)
    return _write(path, levels, top)


def _write(path: Path, levels: dict[str, np.ndarray], top: dict[str, np.ndarray]) -> Path:
    arrays = {}
    for name, level in levels.items():
        arrays[f"{name}.level.xz"] = np.frombuffer(lzma.compress(np.ascontiguousarray(level).tobytes()), np.uint8)
        arrays[f"{name}.shape"] = np.asarray(level.shape, dtype=np.int64)
        arrays[f"{name}.top"] = top[name]
    np.savez_compressed(path, **arrays)
    return path


# What numpy, zipfile, zlib and lzma raise for a truncated or overwritten .npz.
UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, lzma.LZMAError)


def _unreadable(path: str | Path, exc: BaseException) -> ValueError:
    return ValueError(f"{path} cannot be read ({type(exc).__name__}: the file is truncated or not one written by "
                      "python -m eembed_model.compare); copy it again from the comparison's --out folder or rerun it")


def _read(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(levels, top) by set name, from either format. Raises ValueError for another file or a
    truncated or corrupt one."""
    try:
        return _read_arrays(path)
    except UNREADABLE as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
            raise  # _read_arrays' own message
        raise _unreadable(path, exc) from None


def _read_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    stored = np.load(Path(path))
    top = {key[:-len(".top")]: stored[key] for key in stored.files if key.endswith(".top")}
    levels = {}
    for name in top:
        if f"{name}.level.xz" in stored.files and f"{name}.shape" in stored.files:
            shape = tuple(stored[f"{name}.shape"].tolist())
            levels[name] = np.frombuffer(lzma.decompress(stored[f"{name}.level.xz"].tobytes()), np.uint8).reshape(shape)
        elif f"{name}.level" in stored.files:
            levels[name] = stored[f"{name}.level"]
    if not top or set(levels) != set(top):
        raise ValueError(f"{path} is not a predictions file of this version (expected <set>.level.xz, <set>.shape "
                         "and <set>.top); rerun python -m eembed_model.compare to write it")
    return levels, top


def repack_predictions(source: str | Path, target: str | Path) -> Path:
    """A predictions file (either format) written again at `target` in this version's format,
    every level and top label unchanged."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return _write(target, *_read(source))


def load_predictions(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(probabilities at their cells' middles, top label per text), each by set name."""
    levels, top = _read(path)
    probs = {n: torch.from_numpy((level.astype(np.float32) + 0.5) / GRID) for n, level in sorted(levels.items())}
    return probs, {n: torch.from_numpy(t.astype(np.int64)) for n, t in sorted(top.items())}


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
    out = {}
    try:
        stored = np.load(path)
        for key in stored.files:
            if key.endswith(".bits"):
                name = key[:-len(".bits")]
                rows, labels = stored[f"{name}.shape"].tolist()
                out[name] = torch.from_numpy(np.unpackbits(stored[key], axis=1, count=labels).astype(bool)).reshape(
                    rows, labels)
    except UNREADABLE as exc:
        raise _unreadable(path, exc) from None
    return out
