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
    UTF-8 JSON, or nests lists/objects deeper than `max_depth`."""
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{label} is {size / 2**20:.1f} MB; a JSON file may be at most {max_bytes / 2**20:g} MB")
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{label} is not a UTF-8 text file") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{label} is not valid JSON (line {error.lineno}, column {error.colno})") from None
    except RecursionError:  # the parser's own stack: far deeper than max_depth
        raise ValueError(f"{label} nests lists or objects more than {max_depth} levels deep") from None
    if nesting_depth(value) > max_depth:
        raise ValueError(f"{label} nests lists or objects more than {max_depth} levels deep")
    return value
