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


def per_label_thresholds(probs: torch.Tensor, gold: torch.Tensor, fallback: float,
                         thresholds=THRESHOLDS) -> torch.Tensor:
    """Each label's own threshold: the one with its best F1 on the given (validation) split.

    A label that no threshold finds there (no positive example, or none scored above any
    threshold: F1 0 everywhere) keeps `fallback`, the global threshold; taking the first of equal
    zeros would pick the lowest threshold and flood the label with false positives.
    """
    gold = gold.bool()
    grid = torch.tensor(thresholds, dtype=probs.dtype)
    pred = probs[None] >= grid[:, None, None]                                   # (T, N, L)
    tp = (pred & gold[None]).sum(1).double()
    fp = (pred & ~gold[None]).sum(1).double()
    fn = (~pred & gold[None]).sum(1).double()
    f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)                               # (T, L)
    best, index = f1.max(0)                                                      # first best: lowest threshold
    return torch.where(best > 0, grid[index], torch.full_like(grid[index], fallback))


def bootstrap_weights(n: int, resamples: int, generator: torch.Generator) -> torch.Tensor:
    """(resamples, n): how often each of n texts is drawn in each resample with replacement."""
    draws = torch.randint(0, n, (resamples, n), generator=generator)
    return torch.zeros(resamples, n, dtype=torch.float64).scatter_add_(1, draws, torch.ones(resamples, n,
                                                                                           dtype=torch.float64))


def _resampled_micro_f1(pred: torch.Tensor, gold: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Micro-F1 of each resample from per-text counts: (resamples,)."""
    pred, gold = pred.bool(), gold.bool()
    tp = weights @ (pred & gold).sum(1).double()
    wrong = weights @ ((pred & ~gold).sum(1) + (~pred & gold).sum(1)).double()
    return 2 * tp / (2 * tp + wrong).clamp(min=1)


def _interval(values: torch.Tensor) -> tuple[float, float]:
    low, high = torch.quantile(values, torch.tensor([0.025, 0.975], dtype=values.dtype)).tolist()
    return low, high


def change_bootstrap(clean_a: list[torch.Tensor], other_a: list[torch.Tensor], clean_b: list[torch.Tensor],
                     other_b: list[torch.Tensor], gold_clean: torch.Tensor, gold_other: torch.Tensor, paired: bool,
                     resamples: int = 1000, seed: int = 1) -> dict[str, float]:
    """95 % interval of (change of A) - (change of B) in seed-averaged micro-F1 from a clean set to
    another. paired: the other set holds the clean texts in the same order (a misspelt copy), so
    both are scored on one draw; otherwise each set is resampled on its own."""
    generator = torch.Generator().manual_seed(seed)
    w_clean = bootstrap_weights(gold_clean.shape[0], resamples, generator)
    w_other = w_clean if paired else bootstrap_weights(gold_other.shape[0], resamples, generator)

    def change(clean: list[torch.Tensor], other: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([_resampled_micro_f1(o, gold_other, w_other) - _resampled_micro_f1(c, gold_clean, w_clean)
                            for c, o in zip(clean, other)]).mean(0)

    low, high = _interval(change(clean_a, other_a) - change(clean_b, other_b))
    return {"ci_low": low, "ci_high": high, "paired": paired}


def paired_bootstrap(preds_a: list[torch.Tensor], preds_b: list[torch.Tensor], gold: torch.Tensor,
                     resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Difference A - B in micro- and macro-F1, seed-averaged, with a 95 % paired bootstrap interval.

    preds_a / preds_b: one (N, L) boolean prediction per fine-tuning seed of each side, on the same
    N texts. Each resample draws N texts with replacement and scores every seed on that same draw,
    so text difficulty cancels between the sides; macro-F1 averages the labels present in the split.
    """
    gold = gold.bool()
    weights = bootstrap_weights(gold.shape[0], resamples, torch.Generator().manual_seed(seed))
    present = gold.any(0)

    def scores(preds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        micro, macro = [], []
        for pred in preds:
            pred = pred.bool()
            tp = weights @ (pred & gold).double()                               # (R, L)
            fp = weights @ (pred & ~gold).double()
            fn = weights @ (~pred & gold).double()
            micro.append(2 * tp.sum(1) / (2 * tp.sum(1) + fp.sum(1) + fn.sum(1)).clamp(min=1))
            macro.append((2 * tp / (2 * tp + fp + fn).clamp(min=1))[:, present].mean(1))
        point = [f1_scores(p, gold) for p in preds]
        return (torch.stack(micro).mean(0), torch.stack(macro).mean(0),
                torch.tensor([p["micro_f1"] for p in point]).mean(), torch.tensor([p["macro_f1"] for p in point]).mean())

    micro_a, macro_a, point_micro_a, point_macro_a = scores(preds_a)
    micro_b, macro_b, point_micro_b, point_macro_b = scores(preds_b)
    out = {}
    for name, diff, point in (("micro_f1", micro_a - micro_b, point_micro_a - point_micro_b),
                              ("macro_f1", macro_a - macro_b, point_macro_a - point_macro_b)):
        low, high = _interval(diff)
        out[name] = {"difference": float(point), "ci_low": low, "ci_high": high}
    return out
