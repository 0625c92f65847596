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

from common.validate import ImageTooLargeError, ImageTooSmallError, PictureMetadataError, check_pixels, default_max_pixels

MIN_SIDE = 8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


CHUNK_BYTES = 4 * 2**20  # input rows converted at a time: temporaries stay a few MB whatever the picture's size


def to_rgb_uint8(image: np.ndarray, name: str = "image", bgr: bool = False) -> np.ndarray:
    """An image array (H, W), (H, W, 1|3|4) of uint8/uint16/float/bool -> RGB uint8 (H, W, 3).

    Channel order is taken as RGB(A), or BGR(A) (OpenCV's) with `bgr`. 16-bit values map onto
    0..255 with rounding, floats in [0, 1] are scaled by 255 (larger floats taken as 0..255), alpha
    is composited over black. The conversion runs over a few rows at a time into the output, so
    memory beyond the input is the (H, W, 3) result and a few MB (a 25-megapixel 16-bit RGBA
    picture once needed a 400 MB uint32 copy). An ImageTooSmallError under MIN_SIDE on a side.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"{name}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name}: unsupported pixel type {array.dtype}")
    height, width = array.shape[:2]
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ImageTooSmallError(f"{name}: image is {width}x{height} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed",
                                 width, height)
    rows = max(1, CHUNK_BYTES // max(1, array[:1].nbytes))
    floats_scale = 1.0
    if np.issubdtype(array.dtype, np.floating):  # [0, 1] floats vs. [0, 255] floats, from the finite peak
        peak = max(float(_finite_float32(array[start:start + rows]).max()) for start in range(0, height, rows))
        floats_scale = 255.0 if peak <= 1.0 else 1.0
    rgb = np.empty((height, width, 3), np.uint8)
    for start in range(0, height, rows):
        rgb[start:start + rows] = _rgb_rows(array[start:start + rows], floats_scale, bgr)
    return rgb


def _finite_float32(rows: np.ndarray) -> np.ndarray:
    return np.nan_to_num(rows.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _rgb_rows(rows: np.ndarray, floats_scale: float, bgr: bool) -> np.ndarray:
    """A slab of rows of any supported pixel type as RGB uint8 (see to_rgb_uint8)."""
    if rows.dtype == np.bool_:
        rows = rows.astype(np.uint8) * 255
    elif rows.dtype == np.uint16:
        rows = (rows.astype(np.uint32) * 255 + 32767) // 65535  # full 16-bit range onto 0..255
    elif np.issubdtype(rows.dtype, np.floating):
        rows = np.clip(_finite_float32(rows) * np.float32(floats_scale) + 0.5, 0, 255)
    elif rows.dtype != np.uint8:
        rows = np.clip(rows, 0, 255)
    rows = rows.astype(np.uint8)
    if rows.ndim == 2:
        return np.repeat(rows[..., None], 3, axis=2)
    colour = rows[..., 2::-1] if bgr else rows[..., :3]
    if rows.shape[2] == 4:
        alpha = rows[..., 3:4].astype(np.uint16)
        colour = (colour.astype(np.uint16) * alpha + 127) // 255
    return colour


def _decode_with_opencv(path: Path) -> np.ndarray | None:
    """The file's pixels as OpenCV stores them (BGR(A) order), read from the file itself (no copy of
    its bytes is held while decoding); None when OpenCV cannot read it."""
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


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


def _exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1..8) of an image file; 1 (as stored) when there is none."""
    from PIL import Image

    try:
        with Image.open(path) as img:
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


BYTES_PER_CAPPED_PIXEL = 4  # the pixel cap holds for 8-bit RGBA; deeper pictures get as many bytes, not pixels


def decoded_bytes_per_pixel(img) -> tuple[int, int, int]:
    """(channels, bits per channel, bytes per pixel) a decoder produces for an opened Pillow image,
    from its mode, its raw mode (a 16-bit PNG opens as mode RGB(A) with raw mode 'RGBA;16B') and
    TIFF's BitsPerSample (258) and SamplesPerPixel (277) tags; palette pictures count as RGBA."""
    channels = 4 if img.mode in ("P", "PA") else len(img.getbands())
    bits = 32 if img.mode in ("I", "F") else 16 if img.mode.startswith("I;16") else 8
    tile = img.tile[0] if getattr(img, "tile", None) else None
    args = getattr(tile, "args", None) if tile is not None else None
    rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else ""
    if ";16" in rawmode:
        bits = max(bits, 16)
    elif ";32" in rawmode or ";64" in rawmode:
        bits = max(bits, 64 if ";64" in rawmode else 32)
    tags = getattr(img, "tag_v2", None)
    if tags is not None:
        samples, per_sample = tags.get(277), tags.get(258)
        channels = max(channels, int(samples)) if isinstance(samples, int) else channels
        if per_sample:
            bits = max(bits, max(per_sample) if isinstance(per_sample, tuple) else int(per_sample))
    return channels, bits, channels * -(-bits // 8)


def image_header_size(path: str | Path, max_pixels: int | None = None, what: str | None = None,
                      hint: str = "") -> tuple[int, int] | None:
    """(width, height) read from an image file's header only (Pillow opens lazily), None when
    Pillow cannot identify the file. An ImageTooLargeError above `max_pixels` (None or 0: no cap),
    and also when the decoded pixels would take more than `max_pixels` x BYTES_PER_CAPPED_PIXEL
    bytes (16-bit and float pictures with several channels: see decoded_bytes_per_pixel)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    what = what or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                channels, bits, per_pixel = decoded_bytes_per_pixel(img)
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
    decoded, budget = width * height * per_pixel, (max_pixels or 0) * BYTES_PER_CAPPED_PIXEL
    if max_pixels and max_pixels > 0 and decoded > budget:
        detail = (f"{width}x{height} pixels with {channels} channels of {bits} bits take {decoded / 2**20:.0f} MB once "
                  f"decoded; the limit is {budget / 2**20:.0f} MB ({max_pixels / 1e6:g} megapixels at 8 bits per channel)")
        raise ImageTooLargeError(f"{what}: {detail}. Save it with 8 bits per channel or downscale it first{hint}.",
                                 detail=detail)
    return width, height


METADATA_SLACK_BYTES = 8 * 2**20  # beyond twice the pixels' decoded bytes: EXIF, ICC profiles and comments fit in this
MAX_JPEG_SEGMENTS = 4096  # marker segments before the first frame header: a camera writes a few dozen
JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn (ITU T.81 B.1.1.3)


def _jpeg_size(file) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header, found by walking its marker segments (ITU T.81
    B.1.1.2: 0xFF, a marker, a 2-byte big-endian length); None when there is none before the scan
    or more than MAX_JPEG_SEGMENTS come first."""
    if file.read(2) != b"\xff\xd8":
        return None
    for _ in range(MAX_JPEG_SEGMENTS):
        byte = file.read(1)
        while byte == b"\xff":  # fill bytes before a marker
            byte = file.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came first
            return None
        length = file.read(2)
        if len(length) < 2:
            return None
        size = int.from_bytes(length, "big")
        if marker in JPEG_FRAME_MARKERS:
            header = file.read(5)
            return (int.from_bytes(header[3:5], "big"), int.from_bytes(header[1:3], "big")) if len(header) == 5 else None
        file.seek(size - 2, 1)
    return None


def picture_file_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of a PNG (its IHDR chunk, bytes 16-24) or a JPEG (its frame header) read
    directly from the file, without Pillow, which parses every metadata segment when it opens a
    JPEG (90 MB of APP segments: 15 s); None for other formats or an unreadable header."""
    with open(path, "rb") as file:
        start = file.read(24)
        if start[:8] == b"\x89PNG\r\n\x1a\n" and start[12:16] == b"IHDR":
            return int.from_bytes(start[16:20], "big"), int.from_bytes(start[20:24], "big")
        if start[:2] == b"\xff\xd8":
            file.seek(0)
            return _jpeg_size(file)
    return None


def check_metadata_size(path: str | Path, slack: int = METADATA_SLACK_BYTES) -> None:
    """A PictureMetadataError when a PNG or JPEG file is larger than twice what its pixels take
    decoded (at 4 bytes a pixel) plus `slack`, or when a JPEG has so many segments before its
    frame header that its size cannot be read cheaply: the rest is metadata. Read before any
    decoder opens the file; other formats pass (their headers are read by Pillow as usual)."""
    path = Path(path)
    size = path.stat().st_size
    if size <= slack:
        return
    found = picture_file_size(path)
    if found is None:
        with open(path, "rb") as file:
            if file.read(2) != b"\xff\xd8":
                return
        found = (0, 0)  # a JPEG whose frame header lies beyond MAX_JPEG_SEGMENTS segments (or nowhere)
    width, height = found
    needed = 2 * width * height * BYTES_PER_CAPPED_PIXEL
    if size > needed + slack:
        pixels = f"its {width}x{height} pixels need" if width else "its pixels need"
        raise PictureMetadataError(
            f"{path.name} is {size / 2**20:.1f} MB, but {pixels} at most {needed / 2**20:.1f} MB: the rest is "
            "metadata (EXIF, colour profiles, comments)")


def _check_complete_jpeg(path: Path) -> None:
    """A ValueError for a JPEG cut short: OpenCV decodes one with a grey lower part and a warning on
    stderr only, so the check is Pillow's (which refuses a truncated stream), decoded at 1/8 scale
    (JPEG's DCT scaling still reads every byte) to keep it cheap. Other formats pass."""
    from PIL import Image

    with path.open("rb") as handle:
        if handle.read(3) != b"\xff\xd8\xff":
            return
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except OSError as error:
        if "truncated" in str(error).lower():
            raise ValueError(f"{path.name}: the JPEG file is cut short (truncated); upload the whole file") from None


def load_rgb(path: str | Path, max_pixels: int | None = -1, hint: str = "") -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); FileNotFoundError/ValueError with one-line messages
    that name the file, never its folder.

    `max_pixels` caps width x height, checked from the header before decoding (-1: the default cap,
    common.validate.default_max_pixels(); None or 0: no cap). A file whose header Pillow cannot read
    is refused when a cap applies, since its size cannot be known before decoding; so is, then, a
    PNG or JPEG far larger than its pixels (check_metadata_size: a PictureMetadataError)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path.name}: no such file")
    if path.is_dir():
        raise ValueError(f"{path.name}: is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path.name}: file is empty (0 bytes), not an image")
    if max_pixels == -1:
        max_pixels = default_max_pixels()
    if max_pixels:
        check_metadata_size(path)
    if image_header_size(path, max_pixels, path.name, hint) is None and max_pixels:
        raise ValueError(f"{path.name}: not a readable image (supported: {', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
    _check_complete_jpeg(path)
    # OpenCV first (keeps 16-bit colour PNG/TIFF exact); Pillow for what OpenCV cannot read (GIF, ...).
    array, bgr = _decode_with_opencv(path), True
    if array is None:
        array, bgr = _decode_with_pillow(path), False
    if array is None:
        raise ValueError(f"{path.name}: not a readable image (supported: {', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
    rgb = to_rgb_uint8(array, name=path.name, bgr=bgr)
    del array  # the decoded pixels (up to 4 bytes a pixel) go before the orientation's copy
    return apply_orientation(rgb, _exif_orientation(path))
