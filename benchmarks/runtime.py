"""What every benchmark prints beside its figures and parses from its command line: the machine's
load average (speed on shared cores is only comparable at a stated load) and lists of counts."""
from __future__ import annotations

import argparse
import os


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages as "a b c" (os.getloadavg); "n/a" where the platform has none."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def positive_counts(text: str) -> list[int]:
    """An argparse type: comma-separated positive whole numbers ("1,2" -> [1, 2]), e.g. thread counts
    or batch sizes; ArgumentTypeError otherwise."""
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers such as 1,2, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("each count must be a positive whole number")
    return counts
