"""Training at the grids inference uses for other aspect ratios: crops, buckets of one grid size, a tiny run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mirror_model.cached_training import CachedTrainConfig, aspect_crops, build_cache, load_frames, train_cached
from mirror_model.data import aspect_crop_box
from mirror_model.model import MirrorDepthConfig, build_mirror_depth
from mirror_model.predict import grid_size, load_predictor

SCENES = Path(__file__).resolve().parents[1] / "examples" / "scenes"
WIDE, TALL = 16 / 9, 9 / 16


def test_aspect_crop_box_is_the_largest_crop_of_that_shape_inside_the_frame():
    rng = np.random.default_rng(0)
    boxes = [aspect_crop_box(240, 320, WIDE, rng) for _ in range(50)]
    assert {(h, w) for _, _, h, w in boxes} == {(180, 320)}  # 16:9 from 4:3: the full width
    assert {left for _, left, _, _ in boxes} == {0} and 0 < len({top for top, _, _, _ in boxes}) <= 61
    assert max(top for top, _, _, _ in boxes) <= 60
    tall = [aspect_crop_box(240, 320, TALL, rng) for _ in range(50)]
    assert {(h, w) for _, _, h, w in tall} == {(240, 135)}  # 9:16 from 4:3: the full height
    assert all(0 <= left <= 185 and top == 0 for top, left, _, _ in tall)
    assert aspect_crop_box(240, 320, 4 / 3, rng) == (0, 0, 240, 320)
    with pytest.raises(ValueError, match="aspect"):
        aspect_crop_box(240, 320, 0.0, rng)


@pytest.fixture(scope="module")
def model():
    return build_mirror_depth(MirrorDepthConfig(clip_name="world-vit", input_size=(240, 320)), seed=0)


def test_crops_go_to_the_grid_inference_uses_and_depth_stays_aligned(model):
    rgbs, depths = load_frames(SCENES, (240, 320))
    crop_rgb, crop_depth = aspect_crops(model, rgbs, depths, WIDE, seed=1)
    assert crop_rgb.shape == (len(rgbs), 208, 368, 3) and crop_depth.shape == (len(rgbs), 208, 368)
    assert grid_size((1080, 1920), (240, 320), 16) == (208, 368)  # what predict does with a 16:9 frame
    # nearest-neighbour resizing: every target depth is a depth of its own frame's crop, never a blend
    for depth, crop in zip(depths, crop_depth):
        assert np.isin(crop, depth).all()
    again_rgb, _ = aspect_crops(model, rgbs, depths, WIDE, seed=1)
    np.testing.assert_array_equal(again_rgb, crop_rgb)  # seeded
    assert not np.array_equal(aspect_crops(model, rgbs, depths, WIDE, seed=2)[0], crop_rgb)


def test_a_tiny_run_trains_on_every_grid_and_says_so(model, tmp_path):
    rgbs, depths = load_frames(SCENES, (240, 320))
    cache = build_cache(model, rgbs, depths, progress=False, aspects=(WIDE, TALL), seed=0)
    assert cache.grids == [(15, 20), (13, 23), (23, 13)]
    assert cache.features.shape[:2] == (len(rgbs), 2)  # the frames' own bucket is the cache itself
    wide = cache.extra[0]
    # depths are held once; the trainer flips them with the mirror image's features
    assert wide.features.shape == (len(rgbs), 2, 64, 13, 23) and wide.depths.shape == (len(rgbs), 1, 208, 368)
    before = model.mirror.detach().clone()
    config = CachedTrainConfig(steps=9, batch_size=2, val_every=9)
    summary = train_cached(model, cache, SCENES, tmp_path / "run", config, progress=False)
    assert sum(summary["steps_per_grid"].values()) == 9 and set(summary["steps_per_grid"]) == {"15x20", "13x23", "23x13"}
    assert all(count > 0 for count in summary["steps_per_grid"].values()), summary["steps_per_grid"]
    assert not torch.equal(before, model.mirror.detach())
    card = json.loads((tmp_path / "run" / "best" / "card.json").read_text())
    assert card["training"]["grids"] == [[15, 20], [13, 23], [23, 13]]
    wide_frame = np.ascontiguousarray(rgbs[0][30:210])  # 180x320, 16:9
    assert load_predictor(str(tmp_path / "run" / "best")).predict(wide_frame).shape == (180, 320)
