"""Image sizes as (height, width): checking, parsing 'HxW' text, and argparse's `type=`."""
from __future__ import annotations

import argparse
import re

MIN_SIDE, MAX_SIDE = 8, 4096


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) as ints, or a ValueError naming the problem."""
    try:
        height, width = (int(side) for side in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if not (MIN_SIDE <= height <= MAX_SIDE and MIN_SIDE <= width <= MAX_SIDE):
        raise ValueError(f"size {height}x{width} out of range: each side must be {MIN_SIDE}..{MAX_SIDE} pixels")
    return height, width


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' (height x width) to (240, 320)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if match is None:
        raise ValueError(f"size must be HEIGHTxWIDTH like 240x320, got {text!r}")
    return check_size((int(match.group(1)), int(match.group(2))))


def size_argument(text: str) -> tuple[int, int]:
    """parse_size for argparse `type=`: a bad size becomes a one-line usage error."""
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
