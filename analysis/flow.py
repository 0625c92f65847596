"""Dense optical flow (OpenCV DIS or Farneback), backward warping and occlusion masks.

Convention: flow_ab[y, x] = (dx, dy) moves pixel (x, y) of image a to its match (x+dx, y+dy) in b,
so warping b with flow_ab brings b into a's frame.
"""
from __future__ import annotations

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


def _sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + flow[..., 0], ys + flow[..., 1]


def warp_backward(image_b: np.ndarray, flow_ab: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Sample b at x + flow_ab(x): b seen from a's pixels. Returns (warped float32, in-bounds mask)."""
    map_x, map_y = _sample_grid(flow_ab.astype(np.float32))
    h, w = flow_ab.shape[:2]
    warped = cv2.remap(np.asarray(image_b, dtype=np.float32), map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return warped, inside


def consistency_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, rel_tol: float = 0.01, abs_tol: float = 0.5) -> np.ndarray:
    """Pixels of a whose forward flow is undone by the backward flow (not occluded in b).

    The usual forward-backward test: |f + b(x+f)|^2 < rel_tol * (|f|^2 + |b(x+f)|^2) + abs_tol.
    """
    back, inside = warp_backward(flow_ba, flow_ab)
    round_trip = np.sum((flow_ab + back) ** 2, axis=-1)
    bound = rel_tol * (np.sum(flow_ab**2, axis=-1) + np.sum(back**2, axis=-1)) + abs_tol
    return inside & (round_trip < bound)


def flow_pair(image_a: np.ndarray, image_b: np.ndarray, method: str = "dis", max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward (a->b) and backward (b->a) flow at the images' size, computed on copies downscaled
    so the longest side is at most `max_side` (None: full size) and scaled back up (vectors
    multiplied by the size ratio). Flow is smooth, so a reduced size changes the measures little
    and costs a fraction of the time (docs/analysis.md, temporal consistency)."""
    h, w = np.shape(image_a)[:2]
    if max_side is None or max(h, w) <= max_side:
        return optical_flow(image_a, image_b, method), optical_flow(image_b, image_a, method)
    scale = max_side / max(h, w)
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    small_a = cv2.resize(to_gray(image_a), size, interpolation=cv2.INTER_AREA)
    small_b = cv2.resize(to_gray(image_b), size, interpolation=cv2.INTER_AREA)
    ratio = np.array([w / size[0], h / size[1]], dtype=np.float32)

    def upscale(flow: np.ndarray) -> np.ndarray:
        return cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * ratio

    return upscale(optical_flow(small_a, small_b, method)), upscale(optical_flow(small_b, small_a, method))
