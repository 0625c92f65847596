"""Test sets for the robustness claims: deterministic character noise and a domain-shift split.

    python -m eembed_model.robustness --data data/debtags --out data/debtags-claims

From a dataset with a `section` per record (the debtags source writes Debian's Section field) it
writes a new dataset directory:
  train / validation / test.jsonl   the records outside the held-out sections (in-domain)
  test-shift.jsonl                  every record of the held-out sections (never trained on, not
                                    even by masked-material pretraining on train.jsonl)
  test-noiseNN.jsonl                test.jsonl with NN % of its words misspelt
  labels.json, stats.json           the same label list as the source; counts and measured rates

Noise: each word that holds a letter is misspelt with probability `rate` by one edit drawn at
random: two neighbouring characters swapped, one dropped, one lowercase letter inserted, or the
case of one letter flipped. The edit always changes the word. The random draws are seeded by the
text and the rate, so a text gets the same noise on every machine and every run.
"""
from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path

from .data import SPLITS, load_labels, load_split, write_jsonl

# Applications by subject: thematically apart from the libraries, tools and languages that fill
# most of the archive, and together about a tenth of the tagged packages.
DEFAULT_HOLD_OUT = ("games", "science", "sound", "graphics", "math", "video", "electronics", "hamradio")
DEFAULT_RATES = (0.05, 0.10, 0.20)
EDITS = ("swap", "drop", "insert", "case")


NOISE_PREFIX = "test-noise"


def noise_split_name(rate: float) -> str:
    return f"{NOISE_PREFIX}{round(100 * rate):02d}"


def is_noise_split(name: str) -> bool:
    """A misspelt copy of `test`: the same texts, in the same order."""
    return name.startswith(NOISE_PREFIX)


def _edit(word: str, rng: random.Random) -> str:
    """One edit that changes the word; the kinds that cannot change it are skipped."""
    for kind in rng.sample(EDITS, len(EDITS)):
        if kind == "swap" and len(word) >= 2:
            options = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
            if options:
                i = rng.choice(options)
                return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind == "drop" and len(word) >= 2:
            i = rng.randrange(len(word))
            return word[:i] + word[i + 1:]
        elif kind == "insert":
            i = rng.randrange(len(word) + 1)
            return word[:i] + rng.choice(string.ascii_lowercase) + word[i:]
        elif kind == "case":
            options = [i for i, ch in enumerate(word) if ch.swapcase() != ch and len(ch.swapcase()) == 1]
            if options:
                i = rng.choice(options)
                return word[:i] + word[i].swapcase() + word[i + 1:]
    return word + "x"  # unreachable for a word with a letter: "insert" always applies


def add_noise(text: str, rate: float) -> tuple[str, int, int]:
    """(noisy text, words changed, words eligible). Spacing is kept as it is."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be within 0..1, got {rate}")
    rng = random.Random(f"{rate:.4f}|{text}")
    pieces = text.split(" ")
    changed = eligible = 0
    for i, word in enumerate(pieces):
        if not any(ch.isalpha() for ch in word):
            continue
        eligible += 1
        if rng.random() < rate:
            pieces[i] = _edit(word, rng)
            changed += 1
    return " ".join(pieces), changed, eligible


def build_claims_dataset(data_dir: str | Path, out_dir: str | Path, hold_out: tuple[str, ...] = DEFAULT_HOLD_OUT,
                         rates: tuple[float, ...] = DEFAULT_RATES) -> dict:
    splits = {name: load_split(data_dir, name) for name in SPLITS}
    if any("section" not in row for rows in splits.values() for row in rows):
        raise ValueError(f"{data_dir} has records without a 'section'; rebuild it with "
                         "'python -m eembed_model.data debtags --out ...' (which records Debian's Section)")
    known = {row["section"] for rows in splits.values() for row in rows}
    missing = sorted(set(hold_out) - known)
    if missing:
        raise ValueError(f"held-out sections not in the data: {', '.join(missing)}")
    held = set(hold_out)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, rows in splits.items():
        kept = [row for row in rows if row["section"] not in held]
        write_jsonl(out / f"{name}.jsonl", kept)
        sizes[name] = len(kept)
    shifted = [row for rows in splits.values() for row in rows if row["section"] in held]
    write_jsonl(out / "test-shift.jsonl", shifted)
    sizes["test-shift"] = len(shifted)
    test = [row for row in splits["test"] if row["section"] not in held]
    measured = {}
    for rate in rates:
        rows, changed, eligible = [], 0, 0
        for row in test:
            noisy, n_changed, n_eligible = add_noise(row["text"], rate)
            rows.append({**row, "text": noisy, "original_text": row["text"]})
            changed, eligible = changed + n_changed, eligible + n_eligible
        name = noise_split_name(rate)
        write_jsonl(out / f"{name}.jsonl", rows)
        sizes[name] = len(rows)
        measured[name] = changed / max(eligible, 1)
    labels = load_labels(data_dir)
    (out / "labels.json").write_text(json.dumps(labels, indent=0, ensure_ascii=False) + "\n")
    stats = {"source": str(data_dir), "held_out_sections": sorted(held), "sizes": sizes,
             "noise_rates": list(rates), "measured_word_change_rates": measured}
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eembed_model.robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset directory with a 'section' per record")
    parser.add_argument("--out", required=True, help="directory for the claims dataset")
    parser.add_argument("--hold-out", default=",".join(DEFAULT_HOLD_OUT),
                        help="comma-separated sections kept out of training (default %(default)s)")
    parser.add_argument("--rates", default=",".join(str(r) for r in DEFAULT_RATES),
                        help="comma-separated word noise rates (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        hold_out = tuple(s.strip() for s in args.hold_out.split(",") if s.strip())
        rates = tuple(float(r) for r in args.rates.split(",") if r.strip())
        stats = build_claims_dataset(args.data, args.out, hold_out, rates)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
