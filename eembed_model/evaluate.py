"""Evaluate a multilabel checkpoint: micro/macro F1 at the validation-chosen threshold,
precision@1, and macro F1 by label frequency (frequent / medium / rare in training).

    python -m eembed_model.evaluate --model runs/ee-ft --data data/debtags --split test --out metrics.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .checkpoint import load_checkpoint
from .data import SPLITS, check_labels_occur, load_split
from .metrics import best_threshold, f1_scores, frequency_breakdown, precision_at_1


@torch.no_grad()
def predict_probs(model, encode, texts: list[str], batch_size: int = 256, progress: bool = False) -> torch.Tensor:
    model.eval()
    out = []
    steps = range(0, len(texts), batch_size)
    for i in tqdm(steps, desc="predict", unit="batch", disable=not progress):
        batch = encode(texts[i:i + batch_size])
        out.append(torch.sigmoid(model.multilabel(batch.inputs, batch.attention_mask).logits))
    return torch.cat(out) if out else torch.zeros(0, model.config.num_labels)


def evaluate_checkpoint(model_dir: str, data_dir: str, split: str = "test", batch_size: int = 256) -> dict:
    if split not in SPLITS:
        raise ValueError(f"--split must be one of {SPLITS}, got {split!r}")
    loaded = load_checkpoint(model_dir)
    if loaded.config.num_labels == 0 or not loaded.labels:
        raise ValueError(f"{model_dir} has no multilabel head (an MLM checkpoint?); fine-tune it with "
                         "'python -m eembed_model.train --task multilabel --init ...'")
    index = {name: i for i, name in enumerate(loaded.labels)}

    def gold_of(rows):
        gold = torch.zeros(len(rows), len(index), dtype=torch.bool)
        for i, r in enumerate(rows):
            for label in r["labels"]:
                if label in index:
                    gold[i, index[label]] = True
        return gold

    # The threshold is always chosen on validation, never on the split being reported.
    val_rows = load_split(data_dir, "validation")
    check_labels_occur(val_rows, loaded.labels, f"the model {model_dir}")
    val_probs = predict_probs(loaded.model, loaded.text_encoder, [r["text"] for r in val_rows], batch_size, True)
    threshold, val_f1 = best_threshold(val_probs, gold_of(val_rows))
    rows = val_rows if split == "validation" else load_split(data_dir, split)
    probs = val_probs if split == "validation" else \
        predict_probs(loaded.model, loaded.text_encoder, [r["text"] for r in rows], batch_size, True)
    gold = gold_of(rows)
    pred = probs >= threshold
    train_counts = loaded.card.get("label_train_counts") or [0] * len(index)
    return {
        "model": str(model_dir),
        "embedding": loaded.config.embedding,
        "data": str(data_dir),
        "split": split,
        "texts": len(rows),
        "labels": len(index),
        "threshold": threshold,
        "validation_micro_f1": val_f1,
        **f1_scores(pred, gold),
        "precision_at_1": precision_at_1(probs, gold),
        "by_label_frequency": frequency_breakdown(pred, gold, train_counts),
        "parameters": loaded.card.get("parameters", {}),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eembed_model.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint directory (multilabel)")
    p.add_argument("--data", required=True, help="dataset directory")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--out", default=None, help="write the metrics JSON here")
    p.add_argument("--batch-size", type=int, default=256)
    a = p.parse_args(argv)
    try:
        metrics = evaluate_checkpoint(a.model, a.data, a.split, a.batch_size)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(metrics, indent=2)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
