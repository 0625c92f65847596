"""The model's own maths with known answers, and the text paths of the claim experiment: a small s
really bottlenecks, "none" has no text encoder on its path, random towers are rebuilt from seeds."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mirror_model import clip_backbone
from mirror_model.model import MirrorDepth, MirrorDepthConfig, build_mirror_depth

S = 8  # mirror outputs, well below tiny-vit's joint width D = 64


def _model(**overrides) -> MirrorDepth:
    return build_mirror_depth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=S, **overrides), seed=0).eval()


@pytest.fixture(scope="module")
def model() -> MirrorDepth:
    return _model()


def _images(batch: int = 2, size: tuple[int, int] = (64, 96), seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- model maths, known answers

def test_similarity_maps_are_scaled_cosines_blind_to_feature_norms(model):
    """A patch whose feature is text output k, at any length, gives exactly logit_scale on map k and
    the cosine to every other output elsewhere (a dot product would grow with the length)."""
    with torch.no_grad():
        text = model.text_features()
        scale = float(clip_backbone.logit_scale(model.clip))
        lengths = torch.tensor([0.25, 1.0, 7.0])
        features = (text[:3] * lengths[:, None]).T[None, :, :, None]  # (1, D, 3, 1): patch j = length_j * output j
        maps = model.similarity_maps(features, text)[0, :, :, 0]  # (s, 3)
    expected = scale * (text @ text[:3].T)  # cosines of unit rows
    torch.testing.assert_close(maps, expected, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(maps[[0, 1, 2], [0, 1, 2]], torch.full((3,), scale), atol=1e-4, rtol=1e-5)


def test_depth_is_min_plus_sigmoid_of_the_logit_times_the_whole_span(model):
    """Decoder head zeroed, bias b: depth = min + sigmoid(b) * (max - min) everywhere; a large b
    reaches max_depth itself (not half of it)."""
    probe = MirrorDepth(model.config, model.clip, model.clip_info).eval()
    features = model.image_features(_images(1)).detach()
    config = probe.config
    for bias in (-3.0, 0.0, 2.0, 40.0):
        with torch.no_grad():
            probe.decoder.head.weight.zero_()
            probe.decoder.head.bias.fill_(bias)
            depth = probe.depth_from_features(features, (64, 96))
        expected = config.min_depth + torch.sigmoid(torch.tensor(bias)) * (config.max_depth - config.min_depth)
        torch.testing.assert_close(depth, torch.full_like(depth, float(expected)), atol=1e-5, rtol=1e-6)
    assert float(depth.max()) == pytest.approx(config.max_depth, rel=1e-6)


# ---------------------------------------------------------------- the bottleneck

def test_s_maps_below_the_joint_width_have_rank_s_and_drop_the_other_directions(model):
    features = model.image_features(_images(2, (208, 272))).detach()  # 2 x 13 x 17 = 442 patches, D = 64
    dim = features.shape[1]
    text = model.text_features().detach()
    maps = model.similarity_maps(features, text)
    flat_maps = maps.permute(0, 2, 3, 1).reshape(-1, S).double()
    flat_features = F.normalize(features, dim=1).permute(0, 2, 3, 1).reshape(-1, dim).double()
    assert torch.linalg.matrix_rank(flat_maps).item() == S < dim
    assert torch.linalg.matrix_rank(flat_features).item() > 4 * S  # the features themselves span far more

    # Turning each patch's feature inside the orthogonal complement of the s outputs (norm kept)
    # leaves every map, and so the depth, unchanged: the decoder cannot see those D - s directions.
    basis = torch.linalg.qr(text.T.double())[0]  # (D, s), orthonormal basis of the outputs' span
    unit = F.normalize(features.double(), dim=1)
    inside = torch.einsum("bdhw,ds,es->behw", unit, basis, basis)
    outside = unit - inside
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64))[0]
    turned = torch.einsum("de,behw->bdhw", rotation, outside)
    turned = turned - torch.einsum("bdhw,ds,es->behw", turned, basis, basis)  # back into the complement
    turned = turned * (outside.norm(dim=1, keepdim=True) / turned.norm(dim=1, keepdim=True))
    changed = (inside + turned).float()
    assert (changed - unit.float()).norm(dim=1).mean() > 0.3  # a large change of every patch
    with torch.no_grad():
        torch.testing.assert_close(model.depth_from_features(changed, (208, 272)),
                                   model.depth_from_features(unit.float(), (208, 272)), atol=1e-4, rtol=1e-4)
        # the same size of change inside the outputs' span does move the depth
        moved = F.normalize(unit + 0.5 * torch.einsum("ds,bshw->bdhw", basis, torch.randn_like(maps.double())), dim=1)
        assert not torch.allclose(model.depth_from_features(moved.float(), (208, 272)),
                                  model.depth_from_features(unit.float(), (208, 272)), atol=1e-3)


# ---------------------------------------------------------------- no text encoder

def _poison_text_encoder(clip: torch.nn.Module) -> None:
    with torch.no_grad():
        for key, tensor in clip.state_dict(keep_vars=True).items():
            if clip_backbone.is_text_key(key) and tensor.is_floating_point():
                tensor.fill_(float("nan"))


def test_no_text_encoder_path_reads_no_text_encoder_parameter():
    none = _model(text_path="none")
    assert none.mirror.shape == (S, clip_backbone.embed_dim(none.clip))  # the outputs themselves, (s, D)
    images = _images(1)
    with torch.no_grad():
        before = none(images)
    _poison_text_encoder(none.clip)
    none.invalidate_text_cache()
    none.train()  # the training path too: gradients reach mirror and the decoder, nothing is nan
    depth = none(images)
    depth.mean().backward()
    assert torch.isfinite(depth).all() and torch.isfinite(none.mirror.grad).all()
    torch.testing.assert_close(depth.detach(), before)
    expected = F.normalize(none.mirror.detach(), dim=-1)
    torch.testing.assert_close(none.text_features().detach(), expected)
    with pytest.raises(ValueError, match="needs a text encoder"):
        none.eval().text_features("prompt")
    with torch.no_grad():
        assert torch.count_nonzero(none.similarity_maps(none.image_features(images), none.text_features("zeros"))) == 0

    # the same poison reaches the depth of a model that does read its text encoder
    pretrained = _model()
    _poison_text_encoder(pretrained.clip)
    with torch.no_grad():
        assert torch.isnan(pretrained(images)).all()


# ---------------------------------------------------------------- random towers from seeds

def test_a_random_text_encoder_is_a_seeded_copy_and_the_image_side_is_untouched(model):
    loaded_before = {k: v.clone() for k, v in model.clip.state_dict().items()}
    random_text = MirrorDepth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=S, text_path="random", random_text_seed=5),
                              model.clip, model.clip_info).eval()
    random_text.mirror.data.copy_(model.mirror.data)
    again = MirrorDepth(random_text.config, model.clip, model.clip_info).eval()
    again.mirror.data.copy_(model.mirror.data)
    other_seed = MirrorDepth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=S, text_path="random", random_text_seed=6),
                             model.clip, model.clip_info).eval()
    other_seed.mirror.data.copy_(model.mirror.data)
    for key, value in model.clip.state_dict().items():  # the given CLIP is not modified
        assert torch.equal(value, loaded_before[key]), key
    images = _images(1)
    with torch.no_grad():
        torch.testing.assert_close(random_text.image_features(images), model.image_features(images))
        torch.testing.assert_close(again.text_features(), random_text.text_features())
        assert not torch.allclose(random_text.text_features(), model.text_features(), atol=1e-3)
        assert not torch.allclose(other_seed.text_features(), random_text.text_features(), atol=1e-3)
    text_state = {k: v for k, v in random_text.clip.state_dict().items() if clip_backbone.is_text_key(k)}
    fresh, _ = clip_backbone.load_clip("tiny-vit", None, seed=5)
    clip_backbone.fp16_round(fresh)
    for key, value in text_state.items():
        assert torch.equal(value, fresh.state_dict()[key]), key  # open_clip's init from the seed, as saved in fp16


def test_a_random_image_tower_is_the_random_clip_of_its_seed_and_text_is_kept(model):
    swapped = MirrorDepth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=S, image_tower="random", random_image_seed=4),
                          model.clip, model.clip_info).eval()
    reference, _ = clip_backbone.load_clip("tiny-vit", None, seed=4)
    clip_backbone.fp16_round(reference)
    images = _images(1)
    with torch.no_grad():
        swapped.mirror.copy_(model.mirror)
        normalised = (images - swapped.pixel_mean) / swapped.pixel_std
        torch.testing.assert_close(swapped.image_features(images), clip_backbone.dense_image_features(reference, normalised))
        assert not torch.allclose(swapped.image_features(images), model.image_features(images), atol=1e-3)
        torch.testing.assert_close(swapped.text_features(), model.text_features())


@pytest.mark.parametrize("overrides", [dict(text_path="random", random_text_seed=2), dict(text_path="none"),
                                       dict(image_tower="random", random_image_seed=1)])
def test_checkpoints_of_every_path_reload_to_the_same_depth(tmp_path, overrides):
    from mirror_model.checkpoint import load_checkpoint, save_checkpoint

    built = _model(**overrides)
    with torch.no_grad():
        built.mirror.add_(0.1)
    save_checkpoint(built, tmp_path / "run", {"trained": True, "training_data": "test"})
    loaded = load_checkpoint(tmp_path / "run")
    assert (loaded.config.text_path, loaded.config.image_tower) == (built.config.text_path, built.config.image_tower)
    images = _images(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), built(images))


def test_unknown_paths_are_refused():
    with pytest.raises(ValueError, match="text_path"):
        MirrorDepthConfig(text_path="frozen")
    with pytest.raises(ValueError, match="image_tower"):
        MirrorDepthConfig(image_tower="imagenet")
