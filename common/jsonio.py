"""JSON in and out: output without NaN/Infinity (not valid JSON), and input with a size and a
nesting limit, so a hostile file can neither exhaust memory nor the interpreter's stack."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# Input limits of read_json. Scene folders' poses.json reach a few MB (thousands of frames, each
# with its own K); their nesting is 5 levels. Uploads get a tighter size limit from the app.
MAX_JSON_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 20  # an int64 or uint64 has at most 20 digits; Python's own limit (4300) is far too slow a guard


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberError(f"an integer with {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError(f"the number {text[:20]}, beyond the range of a float")
    return value


def _parse_constant(text: str) -> float:
    raise _NumberError(f"{text}, which is not a number JSON allows")


class _NumberError(ValueError):
    """A number the JSON input may not hold (named in words)."""


def json_safe(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a number or string: 0), counted
    without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
              label: str | None = None) -> Any:
    """The parsed content of a JSON file, or a ValueError in plain words (naming the file by
    `label`, default its name, never its full path) when it is larger than `max_bytes`, is not
    UTF-8 JSON (a byte-order mark is allowed), nests lists/objects deeper than `max_depth`, or
    holds a number that is not finite (NaN, Infinity, 1e999) or an integer of more than
    MAX_INT_DIGITS digits."""
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{label} is {size / 2**20:.1f} MB; a JSON file may be at most {max_bytes / 2**20:g} MB")
    try:
        value = json.loads(path.read_bytes().decode("utf-8-sig"), parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=_parse_constant)
    except UnicodeDecodeError:
        raise ValueError(f"{label} is not a UTF-8 text file") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{label} is not valid JSON (line {error.lineno}, column {error.colno})") from None
    except _NumberError as error:
        raise ValueError(f"{label} holds {error}; use plain finite numbers") from None
    except RecursionError:  # the parser's own stack: far deeper than max_depth
        raise ValueError(f"{label} nests lists or objects more than {max_depth} levels deep") from None
    except (ValueError, TypeError, OverflowError, MemoryError):  # any other refusal of the parser: never its own words
        raise ValueError(f"{label} could not be read as JSON") from None
    if nesting_depth(value) > max_depth:
        raise ValueError(f"{label} nests lists or objects more than {max_depth} levels deep")
    return value
