"""Multilabel metrics on probability and target matrices (N, labels)."""
from __future__ import annotations

import torch

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def f1_scores(pred: torch.Tensor, gold: torch.Tensor) -> dict[str, float]:
    """Micro F1 over all decisions; macro F1 averaged over labels with at least one gold example
    (labels absent from the evaluated split have no defined recall and are left out)."""
    pred, gold = pred.bool(), gold.bool()
    tp = (pred & gold).sum(0).double()
    fp = (pred & ~gold).sum(0).double()
    fn = (~pred & gold).sum(0).double()
    micro_p = tp.sum() / (tp.sum() + fp.sum()).clamp(min=1)
    micro_r = tp.sum() / (tp.sum() + fn.sum()).clamp(min=1)
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r).clamp(min=1e-12)
    per_label = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
    present = gold.any(0)
    macro_f1 = per_label[present].mean() if present.any() else torch.tensor(0.0)
    return {"micro_f1": float(micro_f1), "micro_precision": float(micro_p), "micro_recall": float(micro_r),
            "macro_f1": float(macro_f1)}


def per_label_f1(pred: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    pred, gold = pred.bool(), gold.bool()
    tp = (pred & gold).sum(0).double()
    return 2 * tp / (2 * tp + (pred & ~gold).sum(0) + (~pred & gold).sum(0)).clamp(min=1)


def precision_at_1(probs: torch.Tensor, gold: torch.Tensor) -> float:
    top = probs.argmax(dim=1)
    return float(gold.bool()[torch.arange(len(top)), top].double().mean())


def best_threshold(probs: torch.Tensor, gold: torch.Tensor, thresholds=THRESHOLDS) -> tuple[float, float]:
    """Global threshold with the best micro F1 (chosen on validation, applied to test)."""
    scored = [(f1_scores(probs >= t, gold)["micro_f1"], t) for t in thresholds]
    f1, t = max(scored)
    return t, f1


def frequency_breakdown(pred: torch.Tensor, gold: torch.Tensor, train_counts: list[int],
                        n_buckets: int = 3) -> list[dict]:
    """Macro F1 for labels grouped by how often they occur in training (frequent -> rare), the
    view on class imbalance."""
    counts = torch.tensor(train_counts)
    order = counts.argsort(descending=True)
    names = ["frequent", "medium", "rare"] if n_buckets == 3 else [f"bucket{i}" for i in range(n_buckets)]
    f1 = per_label_f1(pred, gold)
    present = gold.bool().any(0)
    out = []
    for name, idx in zip(names, order.tensor_split(n_buckets)):
        keep = idx[present[idx]]
        out.append({
            "bucket": name,
            "labels": int(len(idx)),
            "labels_in_split": int(len(keep)),
            "train_examples_min": int(counts[idx].min()) if len(idx) else 0,
            "train_examples_max": int(counts[idx].max()) if len(idx) else 0,
            "macro_f1": float(f1[keep].mean()) if len(keep) else 0.0,
        })
    return out
