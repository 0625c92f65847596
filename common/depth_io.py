"""Reading, writing and colouring depth maps; shared by scenes, predict, analysis and the app.

Depth PNGs are 16-bit, one unit per millimetre, 0 meaning "no depth" (the NYU/KITTI-style convention).
"""
from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

MM_PER_M = 1000.0
UINT16_MAX_M = 65.535


def depth_to_png16(depth_m: np.ndarray) -> np.ndarray:
    """Metres (float) to uint16 millimetres; invalid values (nan, inf, <=0) become 0, far values clip."""
    depth = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    mm = np.where(valid, np.round(depth * MM_PER_M), 0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def png16_to_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres to float32 metres (0 stays 0: no depth)."""
    return np.asarray(mm, dtype=np.float32) / np.float32(MM_PER_M)


def write_depth_png(path: str | Path, depth_m: np.ndarray) -> Path:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), depth_to_png16(depth_m)):
        raise OSError(f"could not write depth PNG {path}")
    return path


def read_depth_png(path: str | Path, scale: float = MM_PER_M) -> np.ndarray:
    """A 16-bit depth PNG as float32 metres. `scale` is units per metre (1000 for mm, 256 for KITTI)."""
    import cv2

    path = Path(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"{path.name}: not a readable depth image (expected a 16-bit PNG)")
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ValueError(f"{path.name}: expected a single-channel 16-bit depth PNG, got {raw.dtype} with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(scale)


DEPTH_SUFFIXES = (".npy", ".npz", ".png")
NPZ_DEPTH_KEYS = ("depth", "depths", "arr_0")  # which array of an .npz holds depth, when it has several


def npz_depth_key(keys: list[str], name: str) -> str:
    """The array of an .npz to read as depth: its only array, or the first of NPZ_DEPTH_KEYS."""
    if len(keys) == 1:
        return keys[0]
    for key in NPZ_DEPTH_KEYS:
        if key in keys:
            return key
    raise ValueError(f"{name}: holds arrays {', '.join(sorted(keys))}; name the depth array one of {', '.join(NPZ_DEPTH_KEYS)}")


def _as_depth_map(depth: np.ndarray, name: str) -> np.ndarray:
    if depth.ndim == 3 and 1 in (depth.shape[0], depth.shape[-1]):
        depth = depth.squeeze()
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
        raise ValueError(f"{name}: expected an HxW depth array, got {depth.dtype} with shape {depth.shape}")
    return depth.astype(np.float32)


def load_array(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of an .npy, or the depth array of an .npz (see npz_depth_key); mmap maps an .npy
    instead of reading it (an .npz is always read whole)."""
    unreadable = ValueError(f"{path.name}: not a readable {path.suffix.lower()} array")
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r" if mmap and path.suffix.lower() == ".npy" else None)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        raise unreadable from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        key = npz_depth_key(list(loaded.keys()), path.name)
        try:
            return loaded[key]
        except (OSError, EOFError, ValueError, zipfile.BadZipFile):
            raise unreadable from None


def read_depth_file(path: str | Path) -> np.ndarray:
    """A depth map in metres from .npy or .npz (float metres) or a 16-bit PNG (millimetres)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path.name}")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return _as_depth_map(load_array(path), path.name)
    if suffix == ".png":
        return read_depth_png(path)
    raise ValueError(f"{path.name}: depth maps must be .npy or .npz (metres) or 16-bit .png (millimetres)")


def colorize_depth(
    depth_m: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "turbo",
    invert: bool = True,
) -> np.ndarray:
    """Depth to an RGB uint8 image with a matplotlib colormap. Near is warm by default (invert=True).

    vmin/vmax default to the 2nd/98th percentiles of valid depth, so outliers do not wash out the map.
    Invalid pixels (<=0 or non-finite) are black.
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if valid.any():
        lo = float(np.percentile(depth[valid], 2)) if vmin is None else float(vmin)
        hi = float(np.percentile(depth[valid], 98)) if vmax is None else float(vmax)
    else:
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1e-6
    norm = np.clip((depth - lo) / (hi - lo), 0.0, 1.0)
    if invert:
        norm = 1.0 - norm
    # The colormap's own lookup (N entries, index floor(x * N), 1.0 -> last), done as one table read.
    table = _colour_table(cmap)
    index = np.minimum((np.nan_to_num(norm) * len(table)).astype(np.intp), len(table) - 1)
    rgb = table[index]
    rgb[~valid] = 0
    return rgb


@functools.lru_cache(maxsize=16)
def _colour_table(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    colormap = colormaps[cmap]
    return (colormap(np.arange(colormap.N))[:, :3] * 255.0 + 0.5).astype(np.uint8)
