"""The world CLIP's pretraining: the dense terms have known answers, a stopped and resumed run repeats
the straight one, bf16 autocast agrees with fp32, text encoding on the captions' own length is exact,
the CLI refuses bad input. (Held-out losses, card, curve and probes of a run: tests/test_world.py.)"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mirror_model.probes import pooled_regions
from mirror_model.world_clip import PretrainConfig, batch_losses, main, make_batch, multi_positive_loss, pretrain, tokenize
from mirror_model.world_data import read_world, word_prompts

CLIP = "world-vit-256"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from scenes.captioned import write_captioned

    return write_captioned(tmp_path_factory.mktemp("world") / "data", rooms=6, views=2, size=(128, 160), seed=3, progress=False)


def test_region_pooling_and_the_multi_positive_loss_have_known_answers():
    dense = torch.zeros(2, 3, 2, 2)
    dense[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    dense[1, 1] = 5.0
    boxes = np.array([[0, 0, 16, 32], [8, 0, 32, 16], [0, 0, 32, 32]])  # top row; left column from y=8; all
    pooled = pooled_regions(dense, torch.tensor([0, 0, 1]), boxes, 16)
    torch.testing.assert_close(pooled[:, 0], torch.tensor([1.5, (0.5 * 1 + 1 * 3) / 1.5, 0.0]))
    torch.testing.assert_close(pooled[2], torch.tensor([0.0, 5.0, 0.0]))

    # Regions 0 and 1 share a caption (the same text), region 2 has its own: with a sharp
    # temperature the loss is log 2 for each of the two sharing rows and 0 for the third, both ways.
    text_a, text_b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    regions, texts = torch.stack([text_a, text_a, text_b]), torch.stack([text_a, text_a, text_b])
    positive = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    loss = multi_positive_loss(regions, texts, positive, torch.tensor(100.0))
    assert float(loss) == pytest.approx(2 * math.log(2) / 3, abs=1e-4)
    # counting only the diagonal as positive would put that pair's other half among the negatives
    assert float(multi_positive_loss(regions, texts, torch.eye(3, dtype=torch.bool), torch.tensor(100.0))) > 0.4


def test_batches_carry_regions_and_every_term_of_the_objective(world):
    from mirror_model import clip_backbone

    data = read_world(world)
    assert data.region_count() > len(data)  # every view names its objects
    assert data.depth is not None and data.depth.shape == (len(data), 128, 160)  # the folder's sampled depths
    config = PretrainConfig(clip_name=CLIP, batch_size=8, regions_per_view=3)
    batch = make_batch(data, np.arange(8), np.random.default_rng(0), config.regions_per_view)
    assert batch.depth is not None and batch.depth.shape == (8, 128, 160) and batch.depth.max() > 0
    batch.depth = None  # first the terms that need no per-pixel depth
    assert len(batch.owners) == len(batch.region_captions) == len(batch.region_words) > 0
    assert np.bincount(batch.owners).max() <= 3
    model, _ = clip_backbone.load_clip(CLIP, None, seed=0)
    words = tokenize(word_prompts(), CLIP)
    with torch.no_grad():
        fp32 = batch_losses(model, batch, config, words)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = batch_losses(model, batch, config, words)
        batch.depth = np.full((8, 128, 160), 3.5, np.float32)  # "a little remote" everywhere
        with_depth = batch_losses(model, batch, config, words)
    assert set(fp32) == {"global", "region", "region_word", "total"} and "patch_word" in with_depth
    assert float(fp32["total"]) == pytest.approx(float(fp32["global"] + fp32["region"] + fp32["region_word"]), rel=1e-6)
    for key in fp32:
        assert float(bf16[key]) == pytest.approx(float(fp32[key]), rel=0.05), key
    assert math.log(5) * 0.5 < float(with_depth["patch_word"]) < math.log(5) * 2  # an untrained 5-way guess


def _config(steps: int, **overrides) -> PretrainConfig:
    return PretrainConfig(clip_name=CLIP, steps=steps, batch_size=4, lr=2e-3, eval_every=2, eval_batches=1, save_every=2,
                          log_every=1, regions_per_view=2, **overrides)


def test_a_stopped_and_resumed_run_repeats_the_straight_one(world, tmp_path):
    pretrain(world, world, tmp_path / "straight", config=_config(4), progress=False, final_report=False)
    straight = [json.loads(line) for line in (tmp_path / "straight" / "pretrain_log.jsonl").read_text().splitlines()]
    # A session stopped after step 2 (--stop-after saves its state), then resumed: steps 3-4 repeat
    # the straight run's losses, and the log is the straight run's too.
    partial = tmp_path / "partial"
    assert pretrain(world, world, partial, config=_config(4, stop_after=2), progress=False)["stopped_at"] == 2
    assert torch.load(partial / "last" / "state.pt", weights_only=True)["step"] == 2
    pretrain(world, world, partial, config=_config(4), resume=True, progress=False, final_report=False)
    resumed = [json.loads(line) for line in (partial / "pretrain_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]
    for mine, theirs in zip(resumed, straight):
        key = "loss" if "loss" in mine else "heldout"
        value, expected = (mine[key], theirs[key]) if key == "loss" else (mine[key]["total"], theirs[key]["total"])
        assert value == pytest.approx(expected, rel=1e-5), mine["step"]
    with pytest.raises(ValueError, match="steps"):
        pretrain(world, world, partial, config=_config(5), resume=True, progress=False, final_report=False)


def test_cli_refuses_bad_input_in_one_line(tmp_path, capsys, world):
    assert main(["--train", str(tmp_path / "missing"), "--heldout", str(world), "--out", str(tmp_path / "o")]) == 2
    assert "images.npy" in capsys.readouterr().err
    assert main(["--train", str(world), "--heldout", str(world), "--out", str(tmp_path / "o"), "--resume"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_text_encoding_on_the_captions_own_length_is_clips_encode_text():
    from mirror_model import clip_backbone

    model, _ = clip_backbone.load_clip(CLIP, None, seed=1)
    tokens = tokenize(["a red sofa about two metres away", "far", "this wall is not in distance; a small room seen from "
                       "about one and a half metres up"], CLIP)
    with torch.no_grad():
        torch.testing.assert_close(clip_backbone.encode_tokens(model, tokens), model.encode_text(tokens), atol=2e-5, rtol=1e-5)


def test_sampled_depths_of_a_captioned_folder_read_as_full_resolution_patches(tmp_path):
    from mirror_model.world_data import SampledDepth, patch_depths

    sampled = np.arange(2 * 8 * 10, dtype=np.float16).reshape(2, 8, 10) + 1  # every 4th pixel of 32x40 images
    depth = SampledDepth(sampled, (32, 40), 4)
    assert depth.shape == (2, 32, 40) and depth[np.array([1])].shape == (1, 32, 40)
    full = depth[np.array([0, 1])]
    np.testing.assert_array_equal(full[:, 2::4, 2::4], sampled)  # each sample where it was taken
    # A 16-pixel patch holds 4x4 samples: its median is theirs.
    expected = np.median(sampled[0, :4, :4].astype(np.float32))
    assert patch_depths(full.astype(np.float32), 16)[0, 0, 0] == pytest.approx(expected)
    assert depth[:, ::8, ::8].shape == (2, 4, 5)
