"""Colour-mapped depth back to numbers: recognise which known colormap painted a frame and read each
pixel's position along it.

Depth tools often save their video depth colour-mapped (Video Depth Anything: inferno; Depth
Anything V2's video script: Spectral_r; many viewers: turbo or jet). Read as grey, such a frame
gives nonsense (the blue channel of inferno is not monotone in depth), so a colour frame is either
inverted through the colormap that fits it best or refused.

    name = detect_colormap(rgb)             # None: grey; raises ValueError: colour, but no known colormap fits
    values = invert_colormap(rgb, name)     # (H, W) float32 in [0, 1]: the position along the colormap

The inversion is an exact nearest-colour lookup in the colormap's 256-entry table (matplotlib's),
done once per distinct colour of the frame. A colormap fits when the median distance
between pixels and their nearest table colour stays below FIT_TOLERANCE (in 0-255 units, which
allows for video compression).
"""
from __future__ import annotations

import numpy as np

from common.depth_io import colormap_lut

# One orientation per palette: a reversed colormap holds the same colours, so the two cannot be told
# apart; which end is near is the polarity setting's job.
KNOWN_COLORMAPS = ("inferno", "magma", "plasma", "viridis", "cividis", "turbo", "jet", "Spectral_r")
# Mean |R-G| + |G-B| below this (0-255 units) is a grey frame. A grey frame stored as mp4 (mp4v or
# H.264, 4:2:0) decodes with about 5; the known colormaps average 68 (cividis) to 242 (jet) over their range.
GREY_TOLERANCE = 20.0
FIT_TOLERANCE = 12.0  # median RGB distance to the nearest colormap colour for a colormap to fit


def _nearest(colours: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) uint8 RGB -> (N,) index of the nearest colour of colormap `name` and its distance."""
    lut = colormap_lut(name).astype(np.float32)
    index = np.empty(len(colours), np.int64)
    distance = np.empty(len(colours), np.float32)
    for start in range(0, len(colours), 4096):
        block = colours[start:start + 4096].astype(np.float32)
        d2 = ((block[:, None, :] - lut[None, :, :]) ** 2).sum(-1)
        best = d2.argmin(axis=1)
        index[start:start + 4096] = best
        distance[start:start + 4096] = np.sqrt(d2[np.arange(len(block)), best])
    return index, distance


def is_grey(rgb: np.ndarray) -> bool:
    """Whether an (H, W, 3) uint8 frame is grey (its channels agree within GREY_TOLERANCE)."""
    frame = np.asarray(rgb, dtype=np.int16)
    if frame.ndim != 3 or frame.shape[2] < 3:
        return True
    spread = np.abs(frame[..., 0] - frame[..., 1]) + np.abs(frame[..., 1] - frame[..., 2])
    return float(spread.mean()) < GREY_TOLERANCE


def fit_residual(rgb: np.ndarray, name: str, sample: int = 20000) -> float:
    """Median distance (0-255 units) between the frame's pixels (a fixed subsample) and their
    nearest colour of colormap `name`."""
    pixels = np.asarray(rgb, dtype=np.uint8)[..., :3].reshape(-1, 3)
    if len(pixels) > sample:
        pixels = pixels[np.linspace(0, len(pixels) - 1, sample).astype(np.int64)]
    return float(np.median(_nearest(pixels, name)[1]))


def detect_colormap(rgb: np.ndarray) -> str | None:
    """None for a grey frame; else the known colormap that fits the (H, W, 3) uint8 RGB frame best.
    Raises ValueError naming the known colormaps when the frame is colour but none fits."""
    if is_grey(rgb):
        return None
    residuals = {name: fit_residual(rgb, name) for name in KNOWN_COLORMAPS}
    best = min(residuals, key=residuals.get)
    if residuals[best] > FIT_TOLERANCE:
        raise ValueError(f"its frames are in colour but not painted with a colormap this reader knows "
                         f"({', '.join(KNOWN_COLORMAPS)})")
    return best


def invert_colormap(rgb: np.ndarray, name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB painted with colormap `name` -> (H, W) float32 position along it in [0, 1]
    (0 = the colormap's first colour)."""
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., :3])
    packed = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1].astype(np.int32) << 8) | pixels[..., 2]
    unique, inverse = np.unique(packed.ravel(), return_inverse=True)  # compressed video: few distinct colours
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.uint8)
    index, _ = _nearest(colours, name)
    return (index[inverse].reshape(packed.shape) / 255.0).astype(np.float32)
