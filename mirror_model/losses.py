"""Training losses for metric depth."""
from __future__ import annotations

import torch


def silog_loss(pred: torch.Tensor, target: torch.Tensor, variance_focus: float = 0.85, min_depth: float = 1e-3,
               scale: float = 10.0) -> torch.Tensor:
    """Scale-invariant log loss as in BTS/AdaBins: scale * sqrt(mean(g²) − λ·mean(g)²), g = log pred − log gt.

    Only pixels with ground truth (target > min_depth) count. λ = 0.85 keeps part of the absolute-scale
    error, so metric depth is still learned; λ = 1 would be fully scale-invariant.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} shapes differ")
    valid = target > min_depth
    if not bool(valid.any()):
        return pred.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) intact
    log_diff = torch.log(pred[valid].clamp_min(min_depth)) - torch.log(target[valid])
    variance = (log_diff**2).mean() - variance_focus * log_diff.mean() ** 2
    return scale * torch.sqrt(variance.clamp_min(1e-12))
