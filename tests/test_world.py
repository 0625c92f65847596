"""The captioned procedural world and the pieces that make depth go through the text side:
captions agree with the scene graph, pretraining lowers the contrastive loss, the maps-only decoder
gets no gradient but through the maps, the cached trainer runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from common.camera import intrinsics_for
from scenes.camera import pose_from_angles
from scenes.captions import colour_name, describe_view, distance_word, metres_phrase, region_caption, view_caption
from scenes.geometry import SceneObject, box, quad
from scenes.render import render_view
from scenes.scene import Light, Scene
from scenes.textures import Material

SIZE = (60, 80)


def _two_box_scene() -> Scene:
    """A red box 1.5 m ahead on the left, a blue striped box 5 m ahead on the right, a grey wall at 8 m.
    The camera sits at the origin looking along +x (world z up), so world +y is image left."""
    wall = quad(np.array([[8, -20, -5], [8, 20, -5], [8, 20, 5], [8, -20, 5]], dtype=float))
    red = Material("plain", color_a=(0.8, 0.02, 0.02))
    blue = Material("stripes", color_a=(0.02, 0.05, 0.8), color_b=(0.01, 0.02, 0.3))
    grey = Material("plain", color_a=(0.3, 0.3, 0.3))
    objects = [
        SceneObject("wall0", wall, grey, obstacle=False),
        SceneObject("crate", box((1.75, 0.9, 0.0), (0.5, 0.5, 0.5)), red),  # front face at x = 1.5
        SceneObject("table", box((5.5, -2.5, 0.0), (1.0, 1.0, 1.0)), blue),  # front face at x = 5
    ]
    return Scene(objects, [Light("directional", (0.8, 0.8, 0.8), direction=(1, 0, -0.2))], room=(-1, -20, -5, 8, 20, 5))


def test_captions_agree_with_the_scene_graph():
    scene = _two_box_scene()
    frame = render_view(scene, intrinsics_for(SIZE, 90.0), pose_from_angles((0, 0, 0), 0.0, 0.0), SIZE)
    facts = describe_view(scene, frame)
    by_kind = {o.kind: o for o in facts.objects}
    assert set(by_kind) == {"wall", "crate", "table"}
    crate, table = by_kind["crate"], by_kind["table"]
    assert crate.distance_m == pytest.approx(1.5, abs=0.05) and table.distance_m == pytest.approx(5.0, abs=0.05)
    assert (crate.colour, crate.horizontal, table.colour, table.texture, table.horizontal) == ("red", "left", "blue", "striped", "right")
    # The object called close is closer than the one called far, in every caption that names both.
    assert distance_word(crate.distance_m) == "close" and distance_word(table.distance_m) == "far"
    for seed in range(40):
        caption = view_caption(facts, seed)
        if "nearer than" in caption:
            assert "red crate is nearer than the blue table" in caption
        if "farther away than" in caption:
            assert "blue table is farther away than the red crate" in caption
        if "crate" in caption and "table" in caption and "than" not in caption:
            assert caption.index("crate") < caption.index("table")  # largest-first listing, not a comparison
    assert any("nearer than" in view_caption(facts, s) or "farther away than" in view_caption(facts, s) for s in range(40))
    assert region_caption(crate, 0).startswith(("this crate is close", "a ")) and "table" not in region_caption(crate, 0)
    assert metres_phrase(1.5) == "about one and a half metres away" and metres_phrase(5.0) == "about five metres away"
    assert colour_name((0.8, 0.02, 0.02)) == "red" and colour_name((0.3, 0.3, 0.3)) == "grey"


def test_pretraining_lowers_the_contrastive_loss(tmp_path):
    import json

    from mirror_model.world_clip import PretrainConfig, pretrain
    from scenes.captioned import read_captioned, write_captioned

    data = write_captioned(tmp_path / "world", rooms=6, views=2, size=(128, 160), seed=3, progress=False)
    images, records = read_captioned(data)
    assert len(images) == len(records) >= 20 and images.shape[1:] == (128, 160, 3)
    assert {r["kind"] for r in records} == {"view", "region"}
    config = PretrainConfig(steps=32, batch_size=8, lr=2e-3, seed=0, log_every=8, eval_every=16, eval_batches=1, regions_per_view=1)
    card = pretrain(data, data, tmp_path / "clip", config=config, progress=False, probe_limit=8)
    records = [json.loads(line) for line in (tmp_path / "clip" / "pretrain_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 4 and losses[-1] < 0.85 * losses[0]
    assert {"global", "region", "region_word"} <= set(records[0]["parts"])  # the region terms train too
    held = [r["heldout"]["total"] for r in records if "heldout" in r]
    assert [r["step"] for r in records if "heldout" in r] == [16, 32] and held[-1] < held[0]
    assert card["heldout_last"]["total"] == held[-1] and card["heldout_flatness"]["evaluations"] == 2
    assert (tmp_path / "clip" / "clip.safetensors").is_file()
    assert (tmp_path / "clip" / "learning_curve.png").stat().st_size > 10_000
    assert card["retrieval_train"]["i2t_r5"] > card["retrieval_train"]["chance_r5"]
    assert set(card["probes"]) == {"pretrained", "random init"} and "region distance-word accuracy" in card["probes_table"]


def test_a_maps_only_decoder_gets_no_gradient_but_through_the_maps():
    from mirror_model.model import MirrorDepthConfig, build_mirror_depth

    model = build_mirror_depth(MirrorDepthConfig(), seed=0)
    assert model.config.decoder.image_channels == 0 and model.decoder.image_proj is None
    images = torch.rand(1, 3, 64, 80)
    features = model.image_features(images).requires_grad_(True)
    maps = model.similarity_maps(features, model.text_features()).detach().requires_grad_(True)
    out = model.decoder(maps, features)
    grad_features, grad_maps = torch.autograd.grad(out.sum(), (features, maps), allow_unused=True)
    assert grad_features is None and grad_maps is not None and grad_maps.abs().sum() > 0
    # The whole model's depth changes when only the text side changes (zeros instead of mirror).
    with torch.inference_mode():
        assert not torch.allclose(model(images), model(images, source="zeros"))


def test_the_cached_trainer_trains_and_keeps_the_best_validation_step(tmp_path):
    from pathlib import Path

    from mirror_model.cached_training import CachedTrainConfig, build_cache, load_frames, train_cached
    from mirror_model.model import MirrorDepthConfig, build_mirror_depth
    from mirror_model.predict import load_predictor

    scenes = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    model = build_mirror_depth(MirrorDepthConfig(clip_name="world-vit", input_size=(240, 320)), seed=0)
    rgbs, depths = load_frames(scenes, (240, 320))
    cache = build_cache(model, rgbs, depths, progress=False)
    assert cache.features.shape[:2] == (4, 2) and cache.features.dtype == torch.float16
    before = model.mirror.detach().clone()
    summary = train_cached(model, cache, scenes, tmp_path / "run", CachedTrainConfig(steps=6, batch_size=2, val_every=3),
                           progress=False)
    assert [h["step"] for h in summary["history"]] == [3, 6] and summary["best_step"] in (3, 6)
    assert not torch.equal(before, model.mirror.detach())
    loaded = load_predictor(str(tmp_path / "run" / "best"))
    assert loaded.info.trained and loaded.predict(rgbs[0]).shape == (240, 320)


def test_captioned_outdoor_views_list_their_regions_with_distances_that_match_the_depth(tmp_path):
    from scenes.captioned import DEPTH_STEP, read_captioned, read_captioned_depths, write_captioned

    data = write_captioned(tmp_path / "streets", rooms=2, views=1, size=(64, 80), seed=5, progress=False, outdoor_share=1.0)
    images, records = read_captioned(data)
    depths = read_captioned_depths(data)
    assert depths.shape == (len(images), 16, 20) and {r["world"] for r in records} == {"outdoor"}
    views = [(i, r) for i, r in enumerate(records) if r["kind"] == "view"]
    assert views and all(r["regions"] for _, r in views)
    for index, record in views:
        for region in record["regions"]:
            top, left, bottom, right = region["box"]
            assert 0 <= top < bottom <= 64 and 0 <= left < right <= 80
            assert region["word"] == distance_word(region["distance_m"])
        # The largest region's median distance agrees with the stored depth inside its box.
        region = record["regions"][0]
        top, left, bottom, right = region["box"]
        patch = depths[index][top // DEPTH_STEP: -(-bottom // DEPTH_STEP), left // DEPTH_STEP: -(-right // DEPTH_STEP)].astype(float)
        patch = patch[patch > 0]
        assert patch.min() <= region["distance_m"] <= patch.max()


def test_distances_beyond_ten_metres_are_said_in_digits():
    assert metres_phrase(12.4) == "about 12 metres away"
    assert metres_phrase(37.0) == "about 35 metres away"
    assert metres_phrase(9.9) == "about ten metres away"
