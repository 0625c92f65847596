"""Checking and shaping what users upload, with messages they can act on."""
from __future__ import annotations

import gradio as gr
import numpy as np

from common.image_io import load_rgb, to_rgb_uint8

MAX_IMAGE_SIDE = 1024  # larger uploads are downscaled (with a visible warning) to keep the app responsive


def as_rgb_image(image, what: str = "image") -> np.ndarray:
    """A gradio image value (a file path or an array) as RGB uint8 (H, W, 3), read by the same
    loader as the command-line tools; raises gr.Error with a readable message otherwise."""
    if image is None:
        raise gr.Error(f"No {what} given: upload one or pick an example below.")
    try:
        if isinstance(image, str):
            return load_rgb(image)
        return to_rgb_uint8(np.asarray(image), name=f"the {what}")
    except (ValueError, OSError) as error:
        raise gr.Error(_without_paths(str(error), image)) from None


def _without_paths(message: str, image) -> str:
    """Loader messages name the file; an upload's server-side path means nothing to the user."""
    if isinstance(image, str):
        message = message.replace(image, "the uploaded file")
    return message[0].upper() + message[1:] if message else message


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
    message in the page instead of Gradio's generic preprocessing error.

    Create it with type="filepath" and image_mode=None: the handler then gets the uploaded file
    untouched (no mode conversion by Gradio) and reads it with the same loader as the command-line
    tools: same alpha rule, same EXIF orientation, same depth. (No __init__ override here: Gradio
    builds a component's page settings from its class's __init__ signature.)"""

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
