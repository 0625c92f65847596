"""Robust RGB loading: any common image file or array becomes (H, W, 3) uint8, bad input a one-line error.

This is the one RGB normaliser of the project: the command-line tools and the app both read
pictures through `load_rgb` and arrays through `to_rgb_uint8`, so one picture gives one depth map
everywhere. Grayscale is repeated to three channels, alpha is composited over black, 16-bit and
float images are rescaled to 8 bits, palette images are expanded, and the EXIF orientation of
photographs is applied. Non-images, empty files and images smaller than MIN_SIDE pixels on a side
are rejected with a ValueError naming the file and the problem. Files with more pixels than a cap
(`max_pixels`, by default common.validate.default_max_pixels()) are refused from their header,
before anything is decoded, with an ImageTooLargeError.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.validate import ImageTooLargeError, ImageTooSmallError, check_pixels, default_max_pixels

MIN_SIDE = 8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An image array (H, W), (H, W, 1|3|4) of uint8/uint16/float/bool -> RGB uint8 (H, W, 3).

    Channel order is taken as RGB(A); callers holding OpenCV BGR arrays convert first.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array.astype(np.uint32) * 255 + 32767) // 65535  # full 16-bit range onto 0..255
    elif np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        finite = finite * 255.0 if peak <= 1.0 else finite  # [0, 1] floats vs. [0, 255] floats
        array = np.clip(finite + 0.5, 0, 255)
    elif array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name}: unsupported pixel type {array.dtype}")
        array = np.clip(array, 0, 255)
    array = array.astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.uint16)
        array = ((array[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    height, width = array.shape[:2]
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ImageTooSmallError(f"{name}: image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed",
                                 width, height)
    return np.ascontiguousarray(array)


def _decode_with_opencv(data: bytes) -> np.ndarray | None:
    import cv2

    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        return None
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    return decoded


def _decode_with_pillow(path: Path) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.seek(0)  # first frame of animations
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            elif img.mode not in ("L", "RGB", "RGBA", "I;16", "I", "F"):
                img = img.convert("RGB")
            return np.array(img)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation tag (1..8) of an encoded image; 1 (as stored) when there is none."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            value = int(img.getexif().get(0x0112, 1))
    except Exception:  # no EXIF block, or one Pillow cannot parse: show the pixels as stored
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright for an EXIF orientation value (the same result as Pillow's
    ImageOps.exif_transpose)."""
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return image if transform is None else np.ascontiguousarray(transform(image))


def write_rgb(path: str | Path, rgb: np.ndarray) -> Path:
    """RGB uint8 (H, W, 3) to an image file (format from the suffix); the folder is created."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(to_rgb_uint8(rgb, name=path.name), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path.name}")
    return path


def image_header_size(path: str | Path, max_pixels: int | None = None, what: str | None = None,
                      hint: str = "") -> tuple[int, int] | None:
    """(width, height) read from an image file's header only (Pillow opens lazily), None when
    Pillow cannot identify the file; an ImageTooLargeError above `max_pixels` (None or 0: no cap)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    what = what or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except Image.DecompressionBombError as error:  # Pillow's own guard fired first: its message holds the count
        import re

        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(found.group(1)) / 1e6:.1f} megapixels)" if found else ""
        raise ImageTooLargeError(
            f"{what} has too many pixels{size}; the limit is {(max_pixels or 0) / 1e6:.1f} megapixels. "
            f"Downscale it first{hint}.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    check_pixels(width, height, max_pixels, what, hint)
    return width, height


def load_rgb(path: str | Path, max_pixels: int | None = -1, hint: str = "") -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); FileNotFoundError/ValueError with one-line messages
    that name the file, never its folder.

    `max_pixels` caps width x height, checked from the header before decoding (-1: the default cap,
    common.validate.default_max_pixels(); None or 0: no cap). A file whose header Pillow cannot read
    is refused when a cap applies, since its size cannot be known before decoding."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path.name}: no such file")
    if path.is_dir():
        raise ValueError(f"{path.name}: is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path.name}: file is empty (0 bytes), not an image")
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if image_header_size(path, max_pixels, path.name, hint) is None and max_pixels:
        raise ValueError(f"{path.name}: not a readable image (supported: {', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
    data = path.read_bytes()
    # OpenCV first (keeps 16-bit colour PNG/TIFF exact); Pillow for what OpenCV cannot read (GIF, ...).
    array = _decode_with_opencv(data)
    if array is None:
        array = _decode_with_pillow(path)
    if array is None:
        raise ValueError(f"{path.name}: not a readable image (supported: {', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
    return to_rgb_uint8(apply_orientation(array, _exif_orientation(data)), name=path.name)
