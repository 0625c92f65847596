"""Multilabel text datasets in one layout: DIR/{train,validation,test}.jsonl + labels.json + stats.json.

Sources:
  debtags  Debian's package index on this machine (apt lists): text = package name + one-line
           Description, labels = Tag: facets. Offline, real, ~30k short texts. With --long, the
           text also holds the package's long description (multi-paragraph, from the lists'
           Translation-en files): the same labels on long texts, for the long-sequence study.
  file     any JSONL/CSV with `text` and `labels` (a list, or a separator-joined string in CSV).
  hf       a Hugging Face `datasets` dataset when reachable (optional; `pip install datasets`).

Every record: {"text", "labels", "source", "package"} (debtags adds "description" and the Debian
"section", which the domain-shift split of eembed_model.robustness uses). Splits are fixed by a hash of the source
(Debian source package, so related binaries stay on one side).

CLI: python -m eembed_model.data debtags --out data/debtags
     python -m eembed_model.data debtags --long --lists /tmp/apt-lists-en --out data/debtags-long
"""
from __future__ import annotations

import argparse
import csv
import glob
import gzip
import hashlib
import json
import lzma
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm import tqdm

from .materials import split_words

SPLITS = ("train", "validation", "test")
APT_LISTS = "/var/lib/apt/lists"
APT_HELPER = "/usr/lib/apt/apt-helper"


# ---------------------------------------------------------------- splitting and writing

def split_of(key: str, validation_share: float = 0.1, test_share: float = 0.1) -> str:
    """Stable split from a hash of the key (not Python's salted hash())."""
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    if bucket < test_share:
        return "test"
    if bucket < test_share + validation_share:
        return "validation"
    return "train"


def filter_labels(records: list[dict], min_count: int) -> tuple[list[dict], list[str], Counter]:
    """Drop labels seen fewer than min_count times, then records left without labels."""
    counts = Counter(label for r in records for label in r["labels"])
    kept = sorted(label for label, n in counts.items() if n >= min_count)
    keep = set(kept)
    out = []
    for r in records:
        labels = [label for label in r["labels"] if label in keep]
        if labels:
            out.append({**r, "labels": labels})
    return out, kept, counts


def word_length_shares(texts: Iterable[str], limits: tuple[int, ...] = (8, 12, 16)) -> dict[str, float]:
    lengths = [len(w.encode("utf-8")) for t in texts for w in split_words(t)]
    total = max(len(lengths), 1)
    return {f"share_words_over_{n}_bytes": sum(1 for x in lengths if x > n) / total for n in limits}


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_dataset(records: list[dict], out_dir: str | Path, labels: list[str], stats: dict) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in records:
        by_split[split_of(r["source"])].append(r)
    for split, rows in by_split.items():
        write_jsonl(out / f"{split}.jsonl", rows)
    stats = {**stats, "split_sizes": {s: len(rows) for s, rows in by_split.items()}}
    (out / "labels.json").write_text(json.dumps(labels, indent=0, ensure_ascii=False) + "\n")
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    return stats


def load_split(data_dir: str | Path, split: str, allow_empty: bool = False) -> list[dict]:
    """The records of `split`.jsonl in data_dir, each a dict with a `text` string and a `labels`
    list. Raises FileNotFoundError when the file is missing and a one-line ValueError, naming the
    file and line, for a line that is not such a record, or (unless allow_empty) for a file with
    no records: a run on an empty split would otherwise fail deep inside training with an
    unrelated message. A handful of texts can leave a split empty; inspecting them may allow it."""
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no {split} split at {path}; build a dataset with "
                                f"'python -m eembed_model.data debtags --out {data_dir}'")
    rows = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text; rebuild the dataset with 'python -m eembed_model.data'") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not a JSON record ({exc.msg}); "
                             "rebuild the dataset with 'python -m eembed_model.data'") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("labels"), list):
            raise ValueError(f"{path}, line {number}: a record needs a 'text' string and a 'labels' list; "
                             "rebuild the dataset with 'python -m eembed_model.data'")
        rows.append(row)
    if not rows and not allow_empty:
        raise ValueError(f"the {split} split {path} holds no records; rebuild the dataset from more texts "
                         "with 'python -m eembed_model.data'")
    return rows


def load_labels(data_dir: str | Path) -> list[str]:
    """The dataset's label list (labels.json); ValueError when it is not a non-empty list of strings."""
    path = Path(data_dir) / "labels.json"
    if not path.is_file():
        raise FileNotFoundError(f"no labels.json in {data_dir}; build the dataset with eembed_model.data")
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        labels = None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path} is not a list of label names; rebuild the dataset with 'python -m eembed_model.data'")
    return labels


def check_labels_occur(rows: list[dict], labels: list[str], what: str) -> None:
    """ValueError when no record of `rows` carries any of `labels`: a labels.json (or a model's
    label list) that belongs to other data, which would otherwise train or score on all-negative
    targets without a word. Labels dropped by --min-count may appear in records; that is fine."""
    known = set(labels)
    if not any(label in known for row in rows for label in row["labels"]):
        raise ValueError(f"none of the {len(labels)} labels of {what} occurs in this split's records: the label list "
                         "belongs to other data; rebuild the dataset with 'python -m eembed_model.data' "
                         "or pick the data the model was trained on")


# ---------------------------------------------------------------- debtags from the apt index

def _read_index_file(path: str) -> str:
    """Text of one apt Packages file, whatever its compression."""
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.read()
    if path.endswith(".xz"):
        with lzma.open(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.read()
    if path.endswith(".lz4") or path.endswith(".zst"):
        # No lz4 module in the standard library; apt ships a helper that decompresses its own lists.
        if not os.path.exists(APT_HELPER):
            raise FileNotFoundError(f"{path} is compressed and {APT_HELPER} is missing; "
                                    "install apt or point --lists at uncompressed Packages files")
        result = subprocess.run([APT_HELPER, "cat-file", path], capture_output=True, check=True)
        return result.stdout.decode("utf-8", errors="replace")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def iter_stanzas(text: str) -> Iterator[dict[str, str]]:
    """RFC822-style stanzas; continuation lines are joined with newlines."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if fields:
            yield fields


def debtags_record(stanza: dict[str, str]) -> dict | None:
    tags = stanza.get("Tag")
    package = stanza.get("Package")
    if not tags or not package:
        return None
    description = stanza.get("Description", "").split("\n", 1)[0].strip()
    source = re.sub(r"\s*\(.*\)$", "", stanza.get("Source", package)).strip() or package
    labels = sorted({t.strip() for t in tags.replace("\n", " ").split(",") if t.strip()})
    return {"text": f"{package} {description}".strip(), "labels": labels, "source": source,
            "package": package, "description": description, "section": stanza.get("Section", ""),
            "description_md5": stanza.get("Description-md5", "")}


TRANSLATION_HINT = ("the apt lists hold no Translation-en files (long descriptions); fetch them into a separate "
                    "lists folder with 'mkdir -p /tmp/apt-lists-en/partial && apt-get update "
                    "-o Dir::State::Lists=/tmp/apt-lists-en -o Acquire::Languages=en' (as root) and pass "
                    "--lists /tmp/apt-lists-en")


def long_description(field: str) -> str:
    """The long part of a Description field (its lines after the first), as Debian writes it:
    continuation lines joined by spaces, a line holding only '.' a paragraph break."""
    paragraphs, current = [], []
    for line in field.split("\n")[1:]:
        if line.strip() == ".":
            if current:
                paragraphs.append(" ".join(current))
            current = []
        elif line.strip():
            current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def read_long_descriptions(lists_dir: str = APT_LISTS) -> dict[str, str]:
    """Description-md5 -> long description, from every Translation-en file in the lists folder."""
    files = sorted(f for f in glob.glob(os.path.join(lists_dir, "*Translation-en*")) if os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"{lists_dir}: {TRANSLATION_HINT}")
    out: dict[str, str] = {}
    for path in tqdm(files, desc="translation files", unit="file"):
        for stanza in iter_stanzas(_read_index_file(path)):
            md5, text = stanza.get("Description-md5"), stanza.get("Description-en")
            if md5 and text:
                out.setdefault(md5, long_description(text))
    return out


def find_index_files(lists_dir: str = APT_LISTS) -> list[str]:
    files = sorted(f for f in glob.glob(os.path.join(lists_dir, "*Packages*"))
                   if not f.endswith(".diff_Index") and os.path.isfile(f))
    if not files:
        raise FileNotFoundError(f"no apt package index in {lists_dir}; run 'apt-get update' "
                                "(as root) to download it, then retry")
    return files


def read_debtags(lists_dir: str = APT_LISTS) -> tuple[list[dict], int]:
    """All tagged packages, one record per package name (first index file wins: a package in
    several suites or versions counts once), and the number of tagged stanzas read."""
    records: dict[str, dict] = {}
    stanzas = 0
    for path in tqdm(find_index_files(lists_dir), desc="apt index files", unit="file"):
        for stanza in iter_stanzas(_read_index_file(path)):
            record = debtags_record(stanza)
            if record is None:
                continue
            stanzas += 1
            records.setdefault(record["package"], record)
    if not records:
        raise ValueError(f"the apt index in {lists_dir} has no Tag: fields (debtags); "
                         "use a Debian main archive index (apt-get update)")
    return list(records.values()), stanzas


def build_debtags(out_dir: str | Path, min_count: int = 20, lists_dir: str = APT_LISTS, long: bool = False) -> dict:
    raw, stanzas = read_debtags(lists_dir)
    extra = {}
    if long:
        descriptions_by_md5 = read_long_descriptions(lists_dir)
        with_long = [r for r in raw if descriptions_by_md5.get(r["description_md5"])]
        for r in with_long:
            r["long_description"] = descriptions_by_md5[r["description_md5"]]
            r["text"] = f"{r['text']}\n{r['long_description']}"
        extra = {"texts": "package name, one-line and long description", "without_long_description":
                 len(raw) - len(with_long), "characters_per_text": sum(len(r["text"]) for r in with_long) /
                 max(len(with_long), 1), "words_per_text": sum(len(split_words(r["text"])) for r in with_long) /
                 max(len(with_long), 1)}
        raw = with_long
    records, kept, counts = filter_labels(raw, min_count)
    descriptions = [r["description"] for r in raw]
    stats = {
        "source": f"Debian apt index ({lists_dir})",
        "tagged_stanzas": stanzas,
        "tagged_packages": len(raw),
        "tags": len(counts),
        f"tags_with_at_least_{min_count}": len(kept),
        "min_count": min_count,
        "records_after_filter": len(records),
        "labels_per_text_raw": sum(len(r["labels"]) for r in raw) / len(raw),
        "labels_per_text": sum(len(r["labels"]) for r in records) / max(len(records), 1),
        "words_per_description": sum(len(d.split()) for d in descriptions) / len(raw),
        **word_length_shares(descriptions),
        **extra,
    }
    return write_dataset(records, out_dir, kept, stats)


# ---------------------------------------------------------------- any JSONL / CSV

def read_text_label_file(path: str | Path, separator: str = "|") -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    rows: list[dict] = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "text" not in reader.fieldnames or "labels" not in reader.fieldnames:
                raise ValueError(f"{path}: CSV needs 'text' and 'labels' columns, found {reader.fieldnames}")
            for row in reader:
                rows.append({**row, "labels": [x.strip() for x in row["labels"].split(separator) if x.strip()]})
    else:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if "text" not in row or "labels" not in row:
                    raise ValueError(f"{path}:{n}: each JSON line needs 'text' and 'labels'")
                labels = row["labels"]
                if isinstance(labels, str):
                    labels = [x.strip() for x in labels.split(separator) if x.strip()]
                rows.append({**row, "labels": [str(x) for x in labels]})
    records = []
    for i, row in enumerate(rows):
        source = str(row.get("source") or row.get("id") or row["text"])
        record = {"text": str(row["text"]), "labels": row["labels"], "source": source,
                  "package": str(row.get("package", row.get("id", i)))}
        if row.get("section"):
            record["section"] = str(row["section"])  # lets eembed_model.robustness hold sections out
        records.append(record)
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def build_from_file(path: str | Path, out_dir: str | Path, min_count: int = 20, separator: str = "|") -> dict:
    raw = read_text_label_file(path, separator)
    records, kept, counts = filter_labels(raw, min_count)
    stats = {"source": str(path), "records": len(raw), "labels": len(counts),
             f"labels_with_at_least_{min_count}": len(kept), "records_after_filter": len(records),
             "labels_per_text": sum(len(r["labels"]) for r in records) / max(len(records), 1)}
    return write_dataset(records, out_dir, kept, stats)


# ---------------------------------------------------------------- Hugging Face datasets (optional)

def build_from_hub(name: str, out_dir: str | Path, config: str | None = None, text_field: str = "text",
                   labels_field: str = "labels", min_count: int = 20, limit: int | None = None) -> dict:
    """E.g. name='ccdv/patent-classification' (abstract/description + one of 9 CPC sections;
    single-label data becomes one label per text). Needs network and `pip install datasets`."""
    try:
        import datasets  # optional dependency, imported only here
    except ImportError as exc:
        raise ValueError("the Hugging Face source needs the 'datasets' package: pip install datasets") from exc
    records: list[dict] = []
    try:
        loaded = datasets.load_dataset(name, config)
    except Exception as exc:  # network, missing dataset, bad config: all end the same way for the user
        raise ValueError(f"could not load Hugging Face dataset {name!r} ({type(exc).__name__}: {exc}); "
                         "check the name and the network, or use the offline 'debtags' source") from exc
    for split_name, split in loaded.items():
        feature = split.features.get(labels_field)
        names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
        for i, row in enumerate(tqdm(split, desc=f"{name}:{split_name}", unit="row")):
            if limit is not None and len(records) >= limit:
                break
            raw = row[labels_field]
            raw = raw if isinstance(raw, list) else [raw]
            labels = [names[x] if names and isinstance(x, int) else str(x) for x in raw]
            records.append({"text": row[text_field], "labels": labels, "source": f"{split_name}-{i}",
                            "package": f"{split_name}-{i}"})
    records, kept, counts = filter_labels(records, min_count)
    stats = {"source": f"huggingface:{name}", "records_after_filter": len(records), "labels": len(counts),
             f"labels_with_at_least_{min_count}": len(kept)}
    return write_dataset(records, out_dir, kept, stats)


# ---------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eembed_model.data",
                                     description="Build a multilabel dataset directory (train/validation/test JSONL).")
    sub = parser.add_subparsers(dest="source", required=True)
    p = sub.add_parser("debtags", help="Debian package descriptions labelled with their debtags (offline)")
    p.add_argument("--out", required=True)
    p.add_argument("--min-count", type=int, default=20, help="drop labels with fewer examples (default 20)")
    p.add_argument("--lists", default=APT_LISTS, help="apt lists directory (default %(default)s)")
    p.add_argument("--long", action="store_true",
                   help="add each package's long description (needs Translation-en files in --lists)")
    p = sub.add_parser("file", help="any JSONL/CSV with text and labels")
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--min-count", type=int, default=20)
    p.add_argument("--separator", default="|", help="label separator in CSV/string labels (default |)")
    p = sub.add_parser("hf", help="a Hugging Face datasets dataset (needs network and 'datasets')")
    p.add_argument("--name", default="ccdv/patent-classification")
    p.add_argument("--config", default=None)
    p.add_argument("--text-field", default="abstract")
    p.add_argument("--labels-field", default="label")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--min-count", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        if args.source == "debtags":
            stats = build_debtags(args.out, args.min_count, args.lists, args.long)
        elif args.source == "file":
            stats = build_from_file(args.input, args.out, args.min_count, args.separator)
        else:
            stats = build_from_hub(args.name, args.out, args.config, args.text_field, args.labels_field,
                                   args.min_count, args.limit)
    except (ValueError, FileNotFoundError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
