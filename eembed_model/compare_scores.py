"""The claims comparison's numbers from stored predictions: per-run metrics, seed means, the
hierarchical-bootstrap differences, the change from the clean set and the constant baseline.

Everything here reads predictions (eembed_model.predictions) and gold labels only, never a model,
so `python -m eembed_model.compare --recompute FOLDER` rebuilds every table in seconds from a
folder that compare wrote (or its committed copy under docs/results/).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .metrics import (
    best_threshold,
    change_bootstrap,
    constant_baseline,
    f1_scores,
    frequency_breakdown,
    paired_bootstrap,
    per_label_thresholds,
)
from .predictions import GOLD_FILE, load_golds, load_predictions
from .robustness import is_noise_split

VALIDATION = "validation"
PREDICTIONS = "predictions"   # folder of the stored predictions inside a comparison's output

# (A, B, what the difference tests): hierarchical bootstrap of A - B on every test set.
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("elementwise", "subword", "elementwise vs subword"),
    ("elementwise-balanced", "subword-balanced", "the same with the class-balanced loss"),
    ("albert-elementwise", "albert-subword", "the same in ALBERT"),
    ("canine-elementwise", "canine-hash", "elementwise vs hash embedding in CANINE"),
    ("aligned", "elementwise", "literal head alignment vs free"),
    ("elementwise", "elementwise-truncate", "long words spelled on vs cut at v bytes"),
)
# (A, B): does A lose less than B from the clean test set to each robustness set?
DEGRADATION_PAIRS: tuple[tuple[str, str], ...] = (("elementwise", "subword"), ("albert-elementwise", "albert-subword"),
                                                  ("elementwise", "elementwise-truncate"))


@dataclass
class RunPredictions:
    """One fine-tuned run's stored predictions, with its thresholds chosen on validation."""
    probs: dict[str, torch.Tensor]
    top: dict[str, torch.Tensor]
    threshold: float
    validation_micro_f1: float
    per_label: torch.Tensor

    def predicted(self, name: str) -> torch.Tensor:
        """Boolean predictions on one set at the global threshold."""
        return self.probs[name] >= self.threshold


def load_run(path: Path, golds: dict[str, torch.Tensor]) -> RunPredictions:
    probs, top = load_predictions(path)
    threshold, val_f1 = best_threshold(probs[VALIDATION], golds[VALIDATION])
    return RunPredictions(probs, top, threshold, val_f1,
                          per_label_thresholds(probs[VALIDATION], golds[VALIDATION], threshold))


def prediction_path(folder: Path, variant: str, seed: int) -> Path:
    return Path(folder) / PREDICTIONS / variant / f"seed{seed}.npz"


def score_run(run: RunPredictions, golds: dict[str, torch.Tensor], train_counts: list[int]) -> dict:
    """Metrics of one fine-tuned run on every set, at the global and the per-label thresholds."""
    result = {"threshold": run.threshold, "validation_micro_f1": run.validation_micro_f1, "sets": {}}
    for name, gold in golds.items():
        if name == VALIDATION:
            continue
        top = run.top[name]
        entry = {"precision_at_1": float(gold.bool()[torch.arange(len(top)), top].double().mean()) if len(top) else 0.0}
        for kind, cut in (("global", run.threshold), ("per_label", run.per_label)):
            pred = run.probs[name] >= cut
            entry[kind] = {**f1_scores(pred, gold),
                           "by_frequency": [b["macro_f1"] for b in frequency_breakdown(pred, gold, train_counts)]}
        result["sets"][name] = entry
    return result


def mean_sd(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "values": array.tolist()}


def aggregate(scores: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every metric of every set."""
    out = {}
    for name in scores[0]["sets"]:
        entry = {"precision_at_1": mean_sd([s["sets"][name]["precision_at_1"] for s in scores])}
        for kind in ("global", "per_label"):
            runs = [s["sets"][name][kind] for s in scores]
            entry[kind] = {metric: mean_sd([r[metric] for r in runs])
                           for metric in ("micro_f1", "macro_f1", "micro_precision", "micro_recall")}
            entry[kind]["by_frequency"] = [mean_sd([r["by_frequency"][i] for r in runs]) for i in range(3)]
        out[name] = entry
    return out


def noise_degradation(runs: dict[str, list[RunPredictions]], sets: list[str], golds: dict,
                      resamples: int) -> list[dict]:
    """Does A lose less micro-F1 than B from `test` to each robustness set?"""
    out = []
    for a, b in DEGRADATION_PAIRS:
        if a not in runs or b not in runs:
            continue
        for name in sets:
            if name == "test":
                continue
            clean = {side: [r.predicted("test") for r in runs[side]] for side in (a, b)}
            other = {side: [r.predicted(name) for r in runs[side]] for side in (a, b)}
            drops = {side: [f1_scores(o, golds[name])["micro_f1"] - f1_scores(c, golds["test"])["micro_f1"]
                            for c, o in zip(clean[side], other[side])] for side in (a, b)}
            interval = change_bootstrap(clean[a], other[a], clean[b], other[b], golds["test"], golds[name],
                                        paired=is_noise_split(name), resamples=resamples)
            out.append({"a": a, "b": b, "set": name, "change_a": mean_sd(drops[a]), "change_b": mean_sd(drops[b]),
                        "difference": float(np.mean(drops[a]) - np.mean(drops[b])),
                        "seeds": [len(drops[a]), len(drops[b])], **interval})
    return out


def score_comparison(summary: dict, folder: Path, golds: dict[str, torch.Tensor], resamples: int) -> dict:
    """Fill the summary's scores from the predictions under `folder`: each result's per-seed
    metrics (training curves kept) and seed means, the pairs, the changes and the constant baseline."""
    sets, train_counts = summary["sets"], summary["label_train_counts"]
    runs = {}
    for name, result in summary["results"].items():
        seeds = result.get("seed_values", summary["seeds"])  # a variant may have more seeds (--more-seeds)
        runs[name] = [load_run(prediction_path(folder, name, seed), golds) for seed in seeds]
        curves = [seed.get("curve", []) for seed in result.get("seeds", [])] or [[] for _ in seeds]
        result["seeds"] = [{**score_run(run, golds, train_counts), "curve": curve}
                           for run, curve in zip(runs[name], curves)]
        result["summary"] = aggregate(result["seeds"])
    summary["comparisons"] = [
        {"a": a, "b": b, "what": what, "sets": {
            name: paired_bootstrap([r.predicted(name) for r in runs[a]], [r.predicted(name) for r in runs[b]],
                                   golds[name], resamples) for name in sets}}
        for a, b, what in PAIRS if a in runs and b in runs]
    summary["degradation"] = noise_degradation(runs, sets, golds, resamples)
    summary["constant_baseline"] = constant_baseline(train_counts, golds[VALIDATION], golds["test"])
    summary["resamples"] = resamples
    return summary


def recompute(folder: str | Path, resamples: int | None = None) -> dict:
    """Rebuild comparison.json from the stored predictions and gold labels in `folder` (the
    training curves, parameter counts and timings are kept from the stored comparison.json)."""
    folder = Path(folder)
    path = folder / "comparison.json"
    if not path.is_file():
        raise FileNotFoundError(f"no comparison.json in {folder}; run 'python -m eembed_model.compare' first")
    summary = json.loads(path.read_text())
    if "label_train_counts" not in summary or not (folder / PREDICTIONS / GOLD_FILE).is_file():
        raise ValueError(f"{folder} holds no stored predictions (written by compare since predictions were "
                         "committed); rerun python -m eembed_model.compare to make them")
    golds = load_golds(folder / PREDICTIONS / GOLD_FILE)
    return score_comparison(summary, folder, golds, resamples or summary.get("resamples", 1000))
