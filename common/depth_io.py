"""Reading, writing and colouring depth maps; shared by scenes, predict, analysis and the app.

Depth PNGs are 16-bit, 0 meaning "no depth": one unit per millimetre by default (NYU-style, up to
65.5 m), or 256 units per metre for far scenes (KITTI's convention, up to 256 m at 3.9 mm steps).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from common.validate import check_pixels, default_max_pixels

MM_PER_M = 1000.0
KITTI_UNITS_PER_M = 256.0
UINT16_MAX_M = 65.535


def depth_to_png16(depth_m: np.ndarray, scale: float = MM_PER_M) -> np.ndarray:
    """Metres (float) to uint16 at `scale` units per metre (millimetres by default); invalid values
    (nan, inf, <=0) become 0, values beyond 65535 units clip."""
    depth = np.asarray(depth_m, dtype=np.float32)  # float32 is exact to well under a millimetre up to 65 m
    mm = depth * np.float32(scale)
    mm[~(np.isfinite(mm) & (mm > 0))] = 0
    np.clip(mm, 0, 65535, out=mm)
    return np.round(mm, out=mm).astype(np.uint16)


def png16_to_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres to float32 metres (0 stays 0: no depth)."""
    return np.asarray(mm, dtype=np.float32) / np.float32(MM_PER_M)


def write_depth_png(path: str | Path, depth_m: np.ndarray, scale: float = MM_PER_M) -> Path:
    """Writes metres as a 16-bit PNG at `scale` units per metre (1000: millimetres; 256: KITTI)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), depth_to_png16(depth_m, scale)):
        raise OSError(f"could not write depth PNG {path}")
    return path


def read_depth_png(path: str | Path, scale: float = MM_PER_M, max_pixels: int | None = -1) -> np.ndarray:
    """A 16-bit depth PNG as float32 metres. `scale` is units per metre (1000 for mm, 256 for KITTI).

    `max_pixels` caps width x height from the PNG header before decoding (-1: the default cap,
    common.validate.default_max_pixels(); None or 0: no cap)."""
    import cv2

    from common.image_io import image_header_size

    path = Path(path)
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if max_pixels and image_header_size(path, max_pixels, f"depth map {path.name}") is None:
        raise ValueError(f"{path}: not a readable depth image (expected a 16-bit PNG)")
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


def read_depth_file(path: str | Path, max_pixels: int | None = -1) -> np.ndarray:
    """A depth map in metres from .npy or .npz (float metres) or a 16-bit PNG (millimetres).

    `max_pixels` caps the map's size, read from the .npy or PNG header before the data are loaded
    (-1: the default cap; None or 0: no cap)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path.name}")
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if path.suffix.lower() == ".npy":
        try:
            with open(path, "rb") as file:  # the header only: shape before any data are read
                version = np.lib.format.read_magic(file)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                header_shape, _, _ = read_header(file)
        except (ValueError, OSError, SyntaxError):
            raise ValueError(f"{path.name}: not a readable .npy array") from None
        shape = tuple(int(side) for side in header_shape)
        if len(shape) == 3 and 1 in (shape[0], shape[-1]):
            shape = tuple(side for side in shape if side != 1) if shape.count(1) < 3 else (1, 1)
        if len(shape) != 2:
            raise ValueError(f"{path.name}: expected an HxW depth array, got shape {tuple(header_shape)}")
        check_pixels(shape[1], shape[0], max_pixels, f"depth map {path.name}")
        try:
            depth = np.load(path, allow_pickle=False)
        except (ValueError, OSError):
            raise ValueError(f"{path.name}: not a readable .npy array") from None
        if depth.ndim == 3 and 1 in (depth.shape[0], depth.shape[-1]):
            depth = depth.squeeze()
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
            raise ValueError(f"{path.name}: expected an HxW depth array, got {depth.dtype} with shape {depth.shape}")
        return depth.astype(np.float32)
    if path.suffix.lower() == ".npz":  # compressed: the size is known only once loaded
        depth = _as_depth_map(load_array(path), path.name)
        check_pixels(depth.shape[1], depth.shape[0], max_pixels, f"depth map {path.name}")
        return depth
    if path.suffix.lower() == ".png":
        return read_depth_png(path, max_pixels=max_pixels)
    raise ValueError(f"{path.name}: depth maps must be .npy or .npz (metres) or 16-bit .png (millimetres)")


def colormap_lut(cmap: str) -> np.ndarray:
    """A matplotlib colormap as a (256, 3) uint8 table; a ValueError naming the problem for an unknown name."""
    from matplotlib import colormaps

    if not isinstance(cmap, str) or cmap not in colormaps:
        raise ValueError(f"unknown colormap {str(cmap)[:40]!r}; use a matplotlib colormap name such as 'turbo'")
    return (colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def display_range(depth_m: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> tuple[float, float]:
    """The metre range colorize_depth maps to its colours: given finite bounds, else the 2nd/98th
    percentiles of valid depth (0 and 1 for a bound missing when nothing is valid); never empty.
    A non-finite vmin or vmax (NaN, inf) is treated as not given."""
    depth = np.asarray(depth_m, dtype=np.float32)
    vmin = None if vmin is None or not np.isfinite(vmin) else float(vmin)
    vmax = None if vmax is None or not np.isfinite(vmax) else float(vmax)
    if vmin is None or vmax is None:
        valid = np.isfinite(depth) & (depth > 0)
        if valid.any():
            low, high = np.percentile(depth[valid], [2, 98], overwrite_input=True)  # one copy, partitioned in place
            vmin = float(low) if vmin is None else vmin
            vmax = float(high) if vmax is None else vmax
    lo, hi = (vmin if vmin is not None else 0.0), (vmax if vmax is not None else 1.0)
    if not hi > lo:
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

    vmin/vmax default to the 2nd/98th percentiles of valid depth, so outliers do not wash out the map;
    a non-finite vmin or vmax (NaN, inf) is treated as not given, so it never yields a black map.
    Invalid pixels (<=0 or non-finite) are black. Works in float32 and a 256-entry colour table, so a
    map needs about 11 bytes per pixel, not the 32 of a float64 RGBA image.
    """
    lut = colormap_lut(cmap)
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    lo, hi = display_range(depth, vmin, vmax)
    norm = depth - np.float32(lo)
    norm *= np.float32(1.0 / (hi - lo))
    np.clip(norm, 0.0, 1.0, out=norm)
    if invert:
        np.subtract(np.float32(1.0), norm, out=norm)
    norm[~valid] = 0.0
    norm *= np.float32(256.0)  # matplotlib's own binning: int(x * N), the top value in the last bin
    index = np.minimum(norm.astype(np.uint16), 255)
    del norm
    rgb = lut[index]
    rgb[~valid] = 0
    return rgb

