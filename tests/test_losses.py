import math

import pytest
import torch

from mirror_model.losses import silog_loss


def test_silog_is_zero_for_perfect_prediction_and_ignores_missing_ground_truth():
    target = torch.tensor([[1.0, 2.0], [0.0, 4.0]])
    pred = torch.tensor([[1.0, 2.0], [123.0, 4.0]])
    assert silog_loss(pred, target).item() == pytest.approx(0.0, abs=1e-4)


def test_silog_matches_the_formula_and_penalises_only_part_of_a_global_scale():
    target = torch.tensor([1.0, 2.0, 4.0])
    pred = torch.tensor([2.0, 2.0, 2.0])
    g = torch.log(pred) - torch.log(target)
    expected = 10 * math.sqrt((g**2).mean().item() - 0.85 * g.mean().item() ** 2)
    assert silog_loss(pred, target).item() == pytest.approx(expected, rel=1e-6)
    scaled = silog_loss(target * 2.0, target).item()
    assert scaled == pytest.approx(10 * math.sqrt(0.15) * math.log(2.0), rel=1e-5)


def test_silog_gradient_flows_and_shape_mismatch_is_an_error():
    pred = torch.tensor([1.5, 2.5], requires_grad=True)
    silog_loss(pred, torch.tensor([1.0, 3.0])).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    with pytest.raises(ValueError, match="shapes differ"):
        silog_loss(torch.ones(2), torch.ones(3))
