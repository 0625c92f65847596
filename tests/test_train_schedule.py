"""The learning-rate schedules of mirror_model.train: one-cycle (warm-up to the configured LR, then a
cosine anneal to nearly zero) and cosine, checked step by step against their definitions."""
import math

import pytest
import torch

from mirror_model.train import TrainConfig, build_scheduler

MAX_LR = 2e-3
TOTAL = 200
WARMUP_FRACTION = 0.1  # one-cycle's warm-up share of the run (OneCycleLR pct_start)


def lr_per_step(schedule: str, total: int = TOTAL, lr: float = MAX_LR) -> list[float]:
    """The LR each of the `total` optimizer steps uses (the optimizer steps, then the scheduler)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=lr)
    scheduler = build_scheduler(optimizer, TrainConfig(lr=lr, schedule=schedule), total)
    used = []
    for _ in range(total):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return used


def test_one_cycle_warms_up_to_the_configured_lr_then_anneals_to_nearly_zero():
    lrs = lr_per_step("onecycle")
    peak = max(range(TOTAL), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(MAX_LR, rel=1e-9)
    assert abs(peak - WARMUP_FRACTION * TOTAL) <= 1  # the peak sits at the end of the warm-up
    assert lrs[0] <= MAX_LR / 10  # starts low
    assert lrs[-1] < MAX_LR * 1e-3  # ends near zero
    warmup, anneal = lrs[: peak + 1], lrs[peak:]
    assert all(a < b for a, b in zip(warmup, warmup[1:]))  # rises every step
    assert all(a > b for a, b in zip(anneal, anneal[1:]))  # falls every step after the peak
    # Half way down the anneal the LR is about half the peak (a cosine anneal; not linear, not a step).
    middle = peak + (TOTAL - 1 - peak) // 2
    assert lrs[middle] == pytest.approx(MAX_LR / 2, rel=0.05)


def test_cosine_follows_the_formula_at_start_middle_and_end():
    """lr(t) = eta_min + (lr - eta_min) (1 + cos(pi t / T)) / 2 with T the total steps, eta_min 1% of lr."""
    lrs = lr_per_step("cosine")
    eta_min = 0.01 * MAX_LR

    def formula(t: int) -> float:
        return eta_min + (MAX_LR - eta_min) * (1 + math.cos(math.pi * t / TOTAL)) / 2

    assert lrs[0] == pytest.approx(MAX_LR, rel=1e-9)
    assert lrs[TOTAL // 2] == pytest.approx((MAX_LR + eta_min) / 2, rel=1e-6)
    assert lrs[TOTAL - 1] == pytest.approx(formula(TOTAL - 1), rel=1e-6)
    assert lrs[TOTAL - 1] < 0.011 * MAX_LR  # the end is the 1% floor
    for t in (1, TOTAL // 4, 3 * TOTAL // 4):
        assert lrs[t] == pytest.approx(formula(t), rel=1e-6), t


def test_unknown_schedule_is_refused():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        build_scheduler(optimizer, TrainConfig(schedule="linear"), TOTAL)
