"""Dense optical flow (OpenCV DIS or Farneback), backward warping and occlusion masks.

Convention: flow_ab[y, x] = (dx, dy) moves pixel (x, y) of image a to its match (x+dx, y+dy) in b,
so warping b with flow_ab brings b into a's frame.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

FLOW_METHODS = ("dis", "farneback")


def to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    else:
        raise ValueError(f"expected an RGB HxWx3 or grey HxW image, got shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return gray


def optical_flow(image_a: np.ndarray, image_b: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow from a to b, float32 HxWx2 in pixels."""
    gray_a, gray_b = to_gray(image_a), to_gray(image_b)
    if gray_a.shape != gray_b.shape:
        raise ValueError(f"optical flow needs equal image sizes, got {gray_a.shape} and {gray_b.shape}")
    if max(gray_a.shape) < 16:
        raise ValueError(f"frames of {gray_a.shape[1]}x{gray_a.shape[0]} px are too small for optical flow: use at least 16 px")
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(gray_a, gray_b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(gray_a, gray_b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown optical flow method {method!r}: use one of {', '.join(FLOW_METHODS)}")


@lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel (float32, read-only): built once per frame size, not once per warp."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def sampling_maps(flow_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of a samples b, x + flow_ab(x): (map_x, map_y) float32 HxW for cv2.remap,
    and the in-bounds mask. Computed once, they serve every image warped with the same flow."""
    flow_ab = np.asarray(flow_ab, dtype=np.float32)
    h, w = flow_ab.shape[:2]
    xs, ys = _pixel_grid(h, w)
    map_x, map_y = xs + flow_ab[..., 0], ys + flow_ab[..., 1]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return map_x, map_y, inside


def warp_with(image_b: np.ndarray, maps: tuple[np.ndarray, np.ndarray, np.ndarray], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample b (as float32) at the maps of sampling_maps; out-of-bounds samples repeat the border."""
    map_x, map_y, _ = maps
    return cv2.remap(np.asarray(image_b, dtype=np.float32), map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def warp_backward(image_b: np.ndarray, flow_ab: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Sample b at x + flow_ab(x): b seen from a's pixels. Returns (warped float32, in-bounds mask)."""
    maps = sampling_maps(flow_ab)
    return warp_with(image_b, maps, interpolation), maps[2]


def _squared_norm(vectors: np.ndarray) -> np.ndarray:
    """|v|^2 of an HxWx2 field, channel by channel: the same sum as np.sum(v**2, axis=-1) at a
    fraction of the time (numpy reduces a 2-long last axis slowly)."""
    return np.square(vectors[..., 0]) + np.square(vectors[..., 1])


def consistency_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, rel_tol: float = 0.01, abs_tol: float = 0.5,
                     maps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """Pixels of a whose forward flow is undone by the backward flow (not occluded in b).

    The usual forward-backward test: |f + b(x+f)|^2 < rel_tol * (|f|^2 + |b(x+f)|^2) + abs_tol.
    `maps`: sampling_maps(flow_ab), when the caller already has them.
    """
    maps = sampling_maps(flow_ab) if maps is None else maps
    back = warp_with(flow_ba, maps)
    round_trip = _squared_norm(flow_ab + back)
    bound = rel_tol * (_squared_norm(flow_ab) + _squared_norm(back)) + abs_tol
    return maps[2] & (round_trip < bound)


def flow_image(image: np.ndarray, max_side: int | None = None) -> np.ndarray:
    """The grey uint8 image optical flow is computed on: the image's grey levels, downscaled (area
    interpolation) so the longest side is at most `max_side` (None: full size), never under 16 px.
    A video's frame is the second image of one pair and the first of the next: made once, it
    serves both (flow_between)."""
    gray = to_gray(image)
    h, w = gray.shape
    if max_side is None or max(h, w) <= max_side:
        return gray
    scale = max_side / max(h, w)
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _upscale(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    """Flow computed at a reduced size, resized to h x w and its vectors multiplied by the size ratio."""
    if flow.shape[:2] == (h, w):
        return flow
    full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    ratio_x, ratio_y = np.float32(w / flow.shape[1]), np.float32(h / flow.shape[0])
    # One component at a time (or both at once when the ratios agree): the same float32 products as
    # multiplying by an (x, y) pair, which numpy broadcasts over a 2-long last axis slowly.
    if ratio_x == ratio_y:
        full *= ratio_x
    else:
        full[..., 0] *= ratio_x
        full[..., 1] *= ratio_y
    return full


def flow_between(gray_a: np.ndarray, gray_b: np.ndarray, size: tuple[int, int], method: str = "dis") -> tuple[np.ndarray, np.ndarray]:
    """Forward (a->b) and backward (b->a) flow of two flow_image results, at `size` (H, W) of the
    images they were made from."""
    h, w = size
    return _upscale(optical_flow(gray_a, gray_b, method), h, w), _upscale(optical_flow(gray_b, gray_a, method), h, w)


def flow_pair(image_a: np.ndarray, image_b: np.ndarray, method: str = "dis", max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward (a->b) and backward (b->a) flow at the images' size, computed on copies downscaled
    so the longest side is at most `max_side` (None: full size) and scaled back up (vectors
    multiplied by the size ratio). Flow is smooth, so a reduced size changes the measures little
    and costs a fraction of the time (docs/analysis.md, temporal consistency)."""
    gray_a, gray_b = flow_image(image_a, max_side), flow_image(image_b, max_side)
    if gray_a.shape != gray_b.shape:
        raise ValueError(f"optical flow needs equal image sizes, got {np.shape(image_a)[:2]} and {np.shape(image_b)[:2]}")
    return flow_between(gray_a, gray_b, np.shape(image_a)[:2], method)
