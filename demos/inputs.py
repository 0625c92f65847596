"""Checking and shaping what users upload, with messages they can act on."""
from __future__ import annotations

import gradio as gr
import numpy as np

MAX_IMAGE_SIDE = 1024  # larger uploads are downscaled (with a visible warning) to keep the app responsive
MIN_IMAGE_SIDE = 8


def as_rgb_image(image, what: str = "image") -> np.ndarray:
    """A gradio image value as RGB uint8 (H, W, 3); raises gr.Error with a readable message otherwise."""
    if image is None:
        raise gr.Error(f"No {what} given: upload one or pick an example below.")
    if isinstance(image, str):
        from mirror_model.image_io import load_rgb

        try:
            image = load_rgb(image)
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise gr.Error(f"The {what} has an unexpected shape {array.shape}; upload an RGB or grayscale picture.")
    array = array[..., :3]
    if array.dtype != np.uint8:
        scale = 255.0 / max(float(array.max()), 1.0) if array.max() > 255 else 1.0
        array = np.clip(array.astype(np.float64) * scale, 0, 255).astype(np.uint8)
    if min(array.shape[:2]) < MIN_IMAGE_SIDE:
        raise gr.Error(f"The {what} is only {array.shape[1]}x{array.shape[0]} pixels; use one at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}.")
    return np.ascontiguousarray(array)


def limit_size(rgb: np.ndarray, max_side: int = MAX_IMAGE_SIDE, warn: bool = True) -> np.ndarray:
    """Downscale so the longest side is at most `max_side`."""
    import cv2

    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return rgb
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if warn:
        gr.Warning(f"The image is {width}x{height}; it was downscaled to {size[0]}x{size[1]} for depth estimation.")
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


class PictureInput(gr.Image):
    """gr.Image whose unreadable uploads (a text file named .png, a truncated JPEG) give a plain
    message in the page instead of Gradio's generic preprocessing error."""

    def get_block_name(self) -> str:
        return "image"  # the browser side is the ordinary image component

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception as error:  # whatever the decoder raised, the user needs the same advice
            raise gr.Error(
                f"The uploaded file is not a readable picture ({type(error).__name__}). "
                "Upload a PNG, JPEG, WebP or BMP image."
            ) from None
