"""Reading, writing and colouring depth maps; shared by scenes, predict, analysis and the app.

Depth PNGs are 16-bit, one unit per millimetre, 0 meaning "no depth" (the NYU/KITTI-style convention).
"""
from __future__ import annotations

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
        raise ValueError(f"{path}: not a readable depth image (expected a 16-bit PNG)")
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise ValueError(f"{path}: expected a single-channel 16-bit depth PNG, got {raw.dtype} with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(scale)


DEPTH_SUFFIXES = (".npy", ".png")


def read_depth_file(path: str | Path) -> np.ndarray:
    """A depth map in metres from .npy (float metres) or a 16-bit PNG (millimetres)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path.name}")
    if path.suffix.lower() == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            raise ValueError(f"{path.name}: not a readable .npy array") from None
        if depth.ndim == 3 and 1 in (depth.shape[0], depth.shape[-1]):
            depth = depth.squeeze()
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
            raise ValueError(f"{path.name}: expected an HxW depth array, got {depth.dtype} with shape {depth.shape}")
        return depth.astype(np.float32)
    if path.suffix.lower() == ".png":
        return read_depth_png(path)
    raise ValueError(f"{path.name}: depth maps must be .npy (metres) or 16-bit .png (millimetres)")


def display_range(depth_m: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> tuple[float, float]:
    """The metre range colorize_depth maps to its colours: given bounds, else the 2nd/98th percentiles
    of valid depth (0..1 when nothing is valid); never empty."""
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if valid.any():
        lo = float(np.percentile(depth[valid], 2)) if vmin is None else float(vmin)
        hi = float(np.percentile(depth[valid], 98)) if vmax is None else float(vmax)
    else:
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1e-6
    return lo, hi


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
    from matplotlib import colormaps

    depth = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    lo, hi = display_range(depth, vmin, vmax)
    norm = np.clip((depth - lo) / (hi - lo), 0.0, 1.0)
    if invert:
        norm = 1.0 - norm
    rgb = (colormaps[cmap](norm)[..., :3] * 255.0 + 0.5).astype(np.uint8)
    rgb[~valid] = 0
    return rgb
