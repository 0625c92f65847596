"""Checking numbers and picture sizes at the boundary (app handlers and command lines).

`InputError` is a ValueError whose message is meant for the person who sent the value: it names
the problem and what to do, and never holds a server path. The app shows it as it is; the command
lines print it as their one `error:` line.
"""
from __future__ import annotations

import argparse
import math
import os
import re

# Characters that change how text around them is shown without being seen: C0/C1 controls (but tab
# and newline), and Unicode's bidirectional formatting characters (UAX #9: LRM, RLM, ALM, the
# embeddings and overrides U+202A-202E, the isolates U+2066-2069), with which a file name can
# show its text reversed ("txt.exe" as "exe.txt").
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible_text(text: str) -> str:
    """`text` without control characters and bidirectional formatting characters (see above)."""
    return _INVISIBLE.sub("", text)


class InputError(ValueError):
    """A bad value from a user, with a message they can act on."""


class ImageTooLargeError(InputError):
    """A picture or depth map with more pixels than the configured cap (read from its header).
    `detail`, when set, says why in words a user can act on (a deep picture's decoded size)."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


class PictureMetadataError(InputError):
    """A picture file far larger than its pixels need: the rest is metadata (EXIF, ICC profiles,
    comments, text chunks), which decoders parse before the pixels. The message names the file."""


class ImageTooSmallError(InputError):
    """A picture with a side under the minimum the models need; `width` and `height` say its size."""

    def __init__(self, message: str, width: int, height: int):
        super().__init__(message)
        self.width, self.height = width, height


# Pixel cap for pictures and depth maps read from files (checked from the header, before decoding).
MAX_PIXELS_ENV = "MAX_IMAGE_PIXELS_CAP"
DEFAULT_MAX_PIXELS = 100_000_000


def default_max_pixels() -> int:
    """The pixel cap for file readers: MAX_IMAGE_PIXELS_CAP, or 100 megapixels."""
    text = os.environ.get(MAX_PIXELS_ENV, "")
    try:
        value = int(float(text)) if text.strip() else DEFAULT_MAX_PIXELS
    except ValueError:
        value = DEFAULT_MAX_PIXELS
    return value if value > 0 else DEFAULT_MAX_PIXELS


def check_pixels(width: int, height: int, max_pixels: int | None, what: str = "the image", hint: str = "") -> None:
    """An ImageTooLargeError when width x height exceeds max_pixels (None or <= 0: no cap)."""
    if not max_pixels or max_pixels <= 0:
        return
    pixels = int(width) * int(height)
    if pixels > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} pixels ({pixels / 1e6:.1f} megapixels); the limit is "
            f"{max_pixels / 1e6:.1f} megapixels. Downscale it first{hint}."
        )


def check_number(
    value,
    name: str,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
) -> float | int:
    """A finite number within [minimum, maximum] (an int when `integer`), or an InputError."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"{name} must be a number; got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number; got {str(value)[:40]!r}.") from None
    bounds = (f" between {minimum:g} and {maximum:g}" if minimum is not None and maximum is not None
              else f" of at least {minimum:g}" if minimum is not None
              else f" of at most {maximum:g}" if maximum is not None else "")
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number{bounds}; got {number}.")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        limit = bounds.removeprefix(" of") or " in range"  # "must be at least 1", not "must be of at least 1"
        raise InputError(f"{name} must be{limit}; got {number:g}.")
    if integer:
        if number != int(number):
            raise InputError(f"{name} must be a whole number; got {number:g}.")
        return int(number)
    return number


def number_argument(minimum: float | None = None, maximum: float | None = None, integer: bool = False):
    """check_number for argparse `type=`: a bad value is a one-line usage error before anything loads."""

    def parse(text: str):
        try:
            return check_number(text, "the value", minimum, maximum, integer)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)[0].lower() + str(error)[1:]) from None

    return parse
