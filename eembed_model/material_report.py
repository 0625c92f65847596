"""How well v bytes cover a dataset's materials: truncation and collisions, for one or more v.

    python -m eembed_model.material_report --data data/debtags --v 4 8 12 16

The report itself (materials.corpus_report) works on any texts; this module reads them from a
dataset directory written by `python -m eembed_model.data`, which keeps the byte-spelling module
materials.py free of any dataset code.
"""
from __future__ import annotations

import argparse
import json
import sys

from .data import load_split
from .materials import corpus_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eembed_model.material_report",
                                     description="How well v bytes cover a dataset's materials (truncation, collisions).")
    parser.add_argument("--data", required=True, help="dataset directory (python -m eembed_model.data ...)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--v", type=int, nargs="+", default=[8], help="one or more material widths in bytes")
    parser.add_argument("--level", choices=("word", "char"), default="word")
    args = parser.parse_args(argv)
    try:
        texts = [r["text"] for r in load_split(args.data, args.split)]
        reports = [corpus_report(texts, v, args.level).to_dict() for v in args.v]
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(reports, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
