"""Multilabel metrics on probability and target matrices (N, labels)."""
from __future__ import annotations

import numpy as np
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


def seed_draws(seeds: int, resamples: int, generator: torch.Generator) -> torch.Tensor:
    """(resamples, seeds) one-hot counts: which fine-tuning seeds each resample draws, with
    replacement (the outer level of the hierarchical bootstrap)."""
    draws = torch.randint(0, seeds, (resamples, seeds), generator=generator)
    return torch.zeros(resamples, seeds, dtype=torch.float64).scatter_add_(
        1, draws, torch.ones(resamples, seeds, dtype=torch.float64)) / seeds


def _seed_mean(per_seed: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    """per_seed (seeds, R) scores of every seed on every text resample -> (R,) the mean over each
    resample's drawn seeds."""
    return (draws * per_seed.t()).sum(1)


def change_bootstrap(clean_a: list[torch.Tensor], other_a: list[torch.Tensor], clean_b: list[torch.Tensor],
                     other_b: list[torch.Tensor], gold_clean: torch.Tensor, gold_other: torch.Tensor, paired: bool,
                     resamples: int = 1000, seed: int = 1) -> dict[str, float]:
    """95 % interval of (change of A) - (change of B) in seed-averaged micro-F1 from a clean set to
    another, by a hierarchical bootstrap: each resample draws each side's seeds with replacement,
    then the texts. paired: the other set holds the clean texts in the same order (a misspelt
    copy), so both are scored on one text draw; otherwise each set is resampled on its own."""
    generator = torch.Generator().manual_seed(seed)
    w_clean = bootstrap_weights(gold_clean.shape[0], resamples, generator)
    w_other = w_clean if paired else bootstrap_weights(gold_other.shape[0], resamples, generator)

    def change(clean: list[torch.Tensor], other: list[torch.Tensor]) -> torch.Tensor:
        per_seed = torch.stack([_resampled_micro_f1(o, gold_other, w_other) - _resampled_micro_f1(c, gold_clean, w_clean)
                                for c, o in zip(clean, other)])                       # (seeds, R)
        return _seed_mean(per_seed, seed_draws(len(clean), resamples, generator))

    low, high = _interval(change(clean_a, other_a) - change(clean_b, other_b))
    return {"ci_low": low, "ci_high": high, "paired": paired}


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p of Welch's t-test on per-seed scores (scipy); None with fewer than 2 seeds a
    side or no spread at all."""
    import warnings

    from scipy import stats

    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return None
    with warnings.catch_warnings():  # one side without spread is a valid case, not a precision problem
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
    p = float(result.pvalue)
    return None if p != p else p  # NaN when both sides have zero spread


def seed_interval(values: list[float]) -> list[float] | None:
    """95 % Student-t interval of the mean of per-seed scores (the spread between seeds is the
    whole of it: test items are not resampled); None with fewer than 2 seeds."""
    from scipy import stats

    if len(values) < 2:
        return None
    mean, half = float(np.mean(values)), float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return [mean - half, mean + half]


def welch_interval(a: list[float], b: list[float]) -> list[float] | None:
    """95 % interval of mean(a) - mean(b) from per-seed scores, Welch-Satterthwaite degrees of
    freedom (the interval that goes with welch_p); None with fewer than 2 seeds a side."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    diff = float(np.mean(a) - np.mean(b))
    if va + vb == 0:
        return [diff, diff]
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df) * np.sqrt(va + vb))
    return [diff - half, diff + half]


def paired_bootstrap(preds_a: list[torch.Tensor], preds_b: list[torch.Tensor], gold: torch.Tensor,
                     resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Difference A - B in micro- and macro-F1, seed-averaged, with a 95 % hierarchical bootstrap
    interval that includes seed variance.

    preds_a / preds_b: one (N, L) boolean prediction per fine-tuning seed of each side, on the same
    N texts. Each resample draws each side's seeds with replacement (the seeds of A and B are
    separate trainings, so they are drawn apart), then N texts with replacement, shared by both
    sides so that text difficulty cancels. With one seed a side this is the paired bootstrap of
    texts alone. Macro-F1 averages the labels present in the split. Each entry also holds the
    Welch p-value of the per-seed scores on the whole set.
    """
    gold = gold.bool()
    generator = torch.Generator().manual_seed(seed)
    weights = bootstrap_weights(gold.shape[0], resamples, generator)
    present = gold.any(0)

    def scores(preds: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
        micro, macro = [], []
        for pred in preds:
            pred = pred.bool()
            tp = weights @ (pred & gold).double()                               # (R, L)
            fp = weights @ (pred & ~gold).double()
            fn = weights @ (~pred & gold).double()
            micro.append(2 * tp.sum(1) / (2 * tp.sum(1) + fp.sum(1) + fn.sum(1)).clamp(min=1))
            macro.append((2 * tp / (2 * tp + fp + fn).clamp(min=1))[:, present].mean(1))
        draws = seed_draws(len(preds), resamples, generator)
        return (_seed_mean(torch.stack(micro), draws), _seed_mean(torch.stack(macro), draws),
                [f1_scores(p, gold) for p in preds])

    micro_a, macro_a, point_a = scores(preds_a)
    micro_b, macro_b, point_b = scores(preds_b)
    out = {}
    for name, diff in (("micro_f1", micro_a - micro_b), ("macro_f1", macro_a - macro_b)):
        per_a, per_b = [p[name] for p in point_a], [p[name] for p in point_b]
        low, high = _interval(diff)
        out[name] = {"difference": float(np.mean(per_a) - np.mean(per_b)), "ci_low": low, "ci_high": high,
                     "welch_p": welch_p(per_a, per_b), "seeds": [len(per_a), len(per_b)]}
    return out


def constant_baseline(train_counts: list[int], validation_gold: torch.Tensor, test_gold: torch.Tensor) -> dict:
    """The trivial multilabel predictor: the same k most frequent training labels for every text,
    k chosen for the best validation micro-F1. A model whose score does not beat it has learned
    nothing from the texts (a near-constant model), so its robustness means nothing."""
    order = torch.tensor(train_counts).argsort(descending=True)

    def constant(k: int, n: int) -> torch.Tensor:
        pred = torch.zeros(n, len(train_counts), dtype=torch.bool)
        pred[:, order[:k]] = True
        return pred

    best_k = max(range(1, min(len(train_counts), 20) + 1),
                 key=lambda k: f1_scores(constant(k, validation_gold.shape[0]), validation_gold)["micro_f1"])
    return {"k": best_k, "validation_micro_f1": f1_scores(constant(best_k, validation_gold.shape[0]),
                                                          validation_gold)["micro_f1"],
            "test_micro_f1": f1_scores(constant(best_k, test_gold.shape[0]), test_gold)["micro_f1"]}
