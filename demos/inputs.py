"""Checking and shaping what users upload, with messages they can act on."""
from __future__ import annotations

import logging
import os
import warnings

import gradio as gr
import numpy as np
from PIL import Image

from common.depth_sequence import UploadLimits
from common.image_io import BYTES_PER_CAPPED_PIXEL, MIN_SIDE, check_metadata_size, image_header_size, load_rgb, to_rgb_uint8
from common.validate import ImageTooLargeError, ImageTooSmallError, InputError, PictureMetadataError, check_number

from .errors import UNREADABLE_INPUT

log = logging.getLogger(__name__)

MAX_IMAGE_SIDE = 1024  # larger uploads are downscaled (with a visible warning) to keep the app responsive
MAX_PIXELS_ENV = "APP_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 25_000_000
READABLE_FORMATS = "Upload a PNG, JPEG, WebP, BMP, GIF, TIFF, PPM or PGM picture."  # what common.image_io reads


def max_upload_pixels() -> int:
    """The pixel cap on every uploaded picture and ground-truth map (APP_MAX_IMAGE_PIXELS, 25 MP)."""
    try:
        value = int(float(os.environ.get(MAX_PIXELS_ENV, "") or DEFAULT_MAX_PIXELS))
    except ValueError:
        return DEFAULT_MAX_PIXELS
    return value if value > 0 else DEFAULT_MAX_PIXELS


# Upload sizes (MB), each with its environment variable; see docs/limits.md.
FILE_MB_ENV, DEFAULT_FILE_MB = "APP_MAX_FILE_MB", 100  # one uploaded file (Gradio's max_file_size)
REQUEST_MB_ENV, DEFAULT_REQUEST_MB = "APP_MAX_REQUEST_MB", 256  # one multipart request body (demos.body_limit)
JSON_KB_ENV, DEFAULT_JSON_KB = "APP_MAX_JSON_KB", 2048  # any other request body: an API call's JSON (demos.body_limit)
FILES_ENV, DEFAULT_FILES = "APP_MAX_FILES_PER_REQUEST", 256  # parts of one multipart request: 240 loose depth frames fit
UNPACKED_MB_ENV, DEFAULT_UNPACKED_MB = "APP_MAX_UNPACKED_MB", 512  # what one uploaded .zip unpacks to
ZIP_FILES_ENV, DEFAULT_ZIP_FILES = "APP_MAX_ZIP_FILES", 2000  # members of one uploaded .zip
# Sessions whose page state (last depth, video study, attention result) the server keeps; the oldest
# beyond it are dropped (Gradio's state_session_capacity, 10000 by default: a fresh session alone
# costs ~0.26 MB, one holding a depth map a few MB).
STATE_SESSIONS_ENV, DEFAULT_STATE_SESSIONS = "APP_STATE_SESSIONS", 500
JSON_BYTES = 2**20  # an uploaded intrinsics.json or poses.json
DEPTH_VIDEO_PIXELS = 3840 * 2160  # a depth video's frame (4K UHD): each frame is decoded whole, as BGR and as float32


def _env_positive(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def max_file_bytes() -> int:
    return int(_env_positive(FILE_MB_ENV, DEFAULT_FILE_MB) * 2**20)


def max_request_bytes() -> int:
    return int(_env_positive(REQUEST_MB_ENV, DEFAULT_REQUEST_MB) * 2**20)


def max_json_bytes() -> int:
    return int(_env_positive(JSON_KB_ENV, DEFAULT_JSON_KB) * 2**10)


def max_state_sessions() -> int:
    return max(1, int(_env_positive(STATE_SESSIONS_ENV, DEFAULT_STATE_SESSIONS)))


def max_files_per_request() -> int:
    return max(1, int(_env_positive(FILES_ENV, DEFAULT_FILES)))


def upload_limits() -> UploadLimits:
    """The bounds on uploaded depth sequences and ground truth (pixels per frame, zip members and
    unpacked size, JSON size), checked before anything is decoded or extracted."""
    return UploadLimits(max_pixels=max_upload_pixels(), zip_members=int(_env_positive(ZIP_FILES_ENV, DEFAULT_ZIP_FILES)),
                        zip_bytes=int(_env_positive(UNPACKED_MB_ENV, DEFAULT_UNPACKED_MB) * 2**20), json_bytes=JSON_BYTES,
                        video_pixels=min(max_upload_pixels(), DEPTH_VIDEO_PIXELS))


# Gradio decodes some inputs itself (numpy images); Pillow then refuses anything over the cap at open.
Image.MAX_IMAGE_PIXELS = max_upload_pixels() // 2  # Pillow errors above twice this, before decoding
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def too_large_message(detail: str | None = None) -> str:
    """What a user sees for a picture over the cap; `detail` (ImageTooLargeError.detail) says why
    for a picture within the pixel cap whose 16-bit or float channels are too many bytes."""
    if detail:
        return f"The picture is too large: {detail}. Save it with 8 bits per channel or downscale it, and upload it again."
    return (f"The picture is too large: the limit is {max_upload_pixels() / 1e6:.0f} megapixels. "
            "Downscale it and upload it again.")


def number(value, name: str, minimum: float | None = None, maximum: float | None = None, integer: bool = False):
    """A numeric input checked at the boundary (NaN, infinity, range): an InputError naming it otherwise."""
    return check_number(value, name, minimum, maximum, integer)


def choice(value, name: str, allowed) -> str:
    """A dropdown value that must be one of `allowed` (API clients can send anything)."""
    allowed = list(allowed)
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}; got {str(value)[:40]!r}.")
    return value


def as_rgb_image(image, what: str = "picture") -> np.ndarray:
    """A gradio image value (a file path or an array) as RGB uint8 (H, W, 3), read by the same
    loader as the command-line tools; raises gr.Error with a plain sentence otherwise (never the
    upload's server path or the decoder's own words)."""
    if image is None:
        raise gr.Error(f"No {what} given: upload one or pick an example below.")
    try:
        if isinstance(image, str):
            return load_rgb(image, max_pixels=max_upload_pixels())
        array = np.asarray(image)
        if array.ndim >= 2 and (array.shape[0] * array.shape[1] > max_upload_pixels()
                                or array.nbytes > max_upload_pixels() * BYTES_PER_CAPPED_PIXEL):
            raise gr.Error(too_large_message())
        return to_rgb_uint8(array, name=f"the {what}")
    except ImageTooLargeError as error:
        raise gr.Error(too_large_message(error.detail)) from None
    except PictureMetadataError as error:
        raise gr.Error(metadata_message(error)) from None
    except ImageTooSmallError as error:
        raise gr.Error(f"The {what} is {error.width}x{error.height} pixels; depth estimation needs at least "
                       f"{MIN_SIDE}x{MIN_SIDE}. Upload a larger picture.") from None
    except (ValueError, OSError):
        raise gr.Error(f"The uploaded file is not a readable picture. {READABLE_FORMATS}") from None


def metadata_message(error: PictureMetadataError) -> str:
    return f"The picture holds too much besides its pixels: {error}. Save it again without its metadata and upload it again."


def limit_size(rgb: np.ndarray, max_side: int = MAX_IMAGE_SIDE, warn: bool = True) -> np.ndarray:
    """Downscale so the longest side is at most `max_side`; an InputError when the shorter side
    would then fall under the models' minimum (a picture far longer than wide)."""
    import cv2

    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return rgb
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if min(size) < MIN_SIDE:
        raise InputError(
            f"The picture is {width}x{height} pixels: downscaled to {max_side} px on its longest side it would be "
            f"{min(size)} px on the other, and depth estimation needs at least {MIN_SIDE}. Crop it to at most "
            f"{max_side // MIN_SIDE}:1 and upload it again.")
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
        path = getattr(payload, "path", None)
        inline = str(getattr(payload, "url", None) or "").startswith("data:")  # a streamed webcam frame, decoded here
        if payload is not None and (not (path or inline) or "://" in str(path or "")):  # a URL or nothing: no file here
            raise gr.Error(UNREADABLE_INPUT)
        if path and self.type != "filepath":  # Gradio decodes this one itself: its size first, from the header
            try:
                check_metadata_size(path)
                image_header_size(path, max_upload_pixels())
            except PictureMetadataError as error:
                raise gr.Error(metadata_message(error)) from None
            except ImageTooLargeError as error:
                raise gr.Error(too_large_message(error.detail)) from None
        try:
            return super().preprocess(payload)
        except Image.DecompressionBombError:
            raise gr.Error(too_large_message()) from None
        except Exception as error:  # whatever the decoder raised, the user needs the same advice
            log.info("picture upload refused by the decoder: %s", type(error).__name__)
            raise gr.Error(f"The uploaded file is not a readable picture. {READABLE_FORMATS}") from None


def _inside_upload_folder(path: str) -> bool:
    """Whether `path` is a file Gradio stored for an upload (an event payload could name any path)."""
    from pathlib import Path

    folder = Path(gr.utils.get_upload_folder()).resolve()
    try:
        return Path(path).resolve().is_relative_to(folder) and Path(path).is_file()
    except (OSError, ValueError):
        return False


def check_uploaded_picture(payload):
    """Runs the moment a picture is uploaded (before any button): an unreadable, empty, too small or
    too large file is cleared from the input and the reason shown as a warning, so a broken picture
    never sits in the page waiting for a click. `payload` is the raw upload (FileData as a dict).
    Returns None (clear the input) or gr.skip() (keep it)."""
    path = payload.get("path") if isinstance(payload, dict) else None
    if not path or not _inside_upload_folder(str(path)):
        return gr.skip()  # nothing uploaded here to check (the run's own checks still apply)
    try:
        as_rgb_image(str(path))  # the very reader a run uses, so the verdict cannot differ from the run's
    except gr.Error as error:
        gr.Warning(error.message)
        return None
    except InputError as error:
        gr.Warning(str(error))
        return None
    return gr.skip()


def reject_unreadable_uploads(picture: gr.Image) -> None:
    """Wires check_uploaded_picture to `picture`'s upload event (hidden from the API)."""
    picture.upload(check_uploaded_picture, picture, picture, preprocess=False, api_visibility="private",
                   show_progress="hidden")
