"""MirrorDepth on the tiny CLIP configs: wiring, frozen CLIP, shapes, text cache, ablations, zero-shot."""
import itertools

import pytest
import torch

from mirror_model import clip_backbone
from mirror_model.model import MirrorDepth, MirrorDepthConfig, build_mirror_depth
from mirror_model.text_sources import SOURCES
from mirror_model.zeroshot import ZeroShotConfig, build_zeroshot


@pytest.fixture(scope="module")
def tiny_vit() -> MirrorDepth:
    return build_mirror_depth(MirrorDepthConfig(clip_name="tiny-vit"), seed=0).eval()


@pytest.fixture(scope="module")
def tiny_rn() -> MirrorDepth:
    return build_mirror_depth(MirrorDepthConfig(clip_name="tiny-rn"), seed=0).eval()


def _images(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- token equivalence

@pytest.mark.parametrize("num_tokens", [64, 77])
def test_mirror_set_to_prompt_tokens_reproduces_encode_text(tiny_vit, num_tokens):
    clip = tiny_vit.clip
    model = MirrorDepth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=num_tokens), clip, tiny_vit.clip_info)
    tokens = model.tokenizer(["a photo of a room with a table"])
    end = int(tokens[0].argmax())
    with torch.no_grad():
        model.mirror.copy_(clip_backbone.token_embeddings(clip, tokens[0, :num_tokens]))
        reference = clip.encode_text(tokens)[0]
        outputs = clip_backbone.encode_text_embeddings(clip, model.mirror.unsqueeze(0))[0]
        # the model's own cached path reads the same outputs (normalised)
        cached = model.text_features()
    assert outputs.shape == (num_tokens, clip_backbone.embed_dim(clip))
    torch.testing.assert_close(outputs[end], reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(cached[end], torch.nn.functional.normalize(reference, dim=-1), atol=1e-5, rtol=0)
    # a position before the end token is not the sentence embedding
    assert not torch.allclose(outputs[end - 1], reference, atol=1e-3)


def test_text_encoding_rejects_more_positions_than_context(tiny_vit):
    too_long = torch.zeros(1, 78, clip_backbone.text_width(tiny_vit.clip))
    with pytest.raises(ValueError, match="context length"):
        clip_backbone.encode_text_embeddings(tiny_vit.clip, too_long)


# ---------------------------------------------------------------- frozen CLIP

@pytest.mark.parametrize("family", ["tiny-vit", "tiny-rn"])
def test_one_optimizer_step_changes_only_mirror_and_decoder(family):
    model = build_mirror_depth(MirrorDepthConfig(clip_name=family), seed=1)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"mirror"} | {f"decoder.{n}" for n, _ in model.decoder.named_parameters()}

    model.train()
    assert model.training and model.decoder.training
    assert not any(module.training for module in model.clip.modules())

    clip_before = {k: v.clone() for k, v in model.clip.state_dict().items()}
    if family == "tiny-rn":
        assert any("running_mean" in k for k in clip_before)  # BatchNorm statistics are covered
    trainable_before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    depth = model(_images(2, 64, 96))
    depth.log().mean().backward()
    assert model.mirror.grad is not None and model.mirror.grad.abs().sum() > 0
    optimizer.step()

    for key, value in model.clip.state_dict().items():
        assert torch.equal(value, clip_before[key]), f"CLIP tensor {key} changed"
    for key, value in model.trainable_state_dict().items():
        assert not torch.equal(value, trainable_before[key]), f"trainable tensor {key} did not change"


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize(
    "family,size",
    list(itertools.product(["tiny-vit", "tiny-rn"], [(70, 90), (208, 272), (416, 544), (352, 704)])),
)
def test_depth_shape_and_range_at_any_size(family, size, tiny_vit, tiny_rn):
    model = tiny_vit if family == "tiny-vit" else tiny_rn
    batch = 2 if size[0] * size[1] < 100_000 else 1
    images = _images(batch, *size)
    with torch.inference_mode():
        features = model.image_features(images)
        depth = model(images)
    stride = 16 if family == "tiny-vit" else 32
    assert features.shape == (batch, 64, size[0] // stride, size[1] // stride)
    assert depth.shape == (batch, 1, *size)
    assert depth.dtype == torch.float32
    assert torch.isfinite(depth).all()
    assert depth.min() > 0 and depth.max() <= model.config.max_depth


def test_vit_dense_features_match_open_clip_tokens_at_native_size(tiny_vit):
    visual = tiny_vit.clip.visual
    images = _images(1, 224, 224)
    with torch.inference_mode():
        x = visual.transformer(visual._embeds(images))
        _, tokens = visual._pool(x)
        reference = (tokens @ visual.proj).transpose(1, 2).reshape(1, -1, 14, 14)
        ours = clip_backbone.dense_image_features(tiny_vit.clip, images)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_resnet_dense_features_are_attnpool_value_output_projections(tiny_rn):
    visual = tiny_rn.clip.visual
    images = _images(1, 96, 128)
    with torch.inference_mode():
        fmap = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(images)))))
        pixel = fmap[0, :, 1, 2]
        expected = visual.attnpool.c_proj(visual.attnpool.v_proj(pixel))
        ours = clip_backbone.dense_image_features(tiny_rn.clip, images)
    assert ours.shape == (1, 64, 3, 4)
    torch.testing.assert_close(ours[0, :, 1, 2], expected, atol=1e-5, rtol=1e-5)


def test_too_small_or_malformed_images_are_rejected(tiny_vit):
    with pytest.raises(ValueError, match="at least 16x16"):
        tiny_vit(_images(1, 8, 40))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        tiny_vit(torch.rand(3, 64, 64))


def test_trainable_parameter_budget_for_real_architectures():
    """RN50 and ViT-B-16 built with random weights (no download): mirror + decoder <= 3 M."""
    counts = {}
    for name in ("RN50", "ViT-B-16"):
        clip, info = clip_backbone.load_clip(name, None)
        model = MirrorDepth(MirrorDepthConfig(clip_name=name), clip, info)
        counts[name] = model.num_trainable_parameters()
        assert model.mirror.shape == (64, 512)
        assert model.stride == (32 if name == "RN50" else 16)
        del clip, model
    assert all(0 < count <= 3_000_000 for count in counts.values()), counts


# ---------------------------------------------------------------- text-side cache

def test_text_cache_is_reused_and_invalidated(tiny_vit):
    model = MirrorDepth(tiny_vit.config, tiny_vit.clip, tiny_vit.clip_info).eval()
    images = _images(1, 64, 80)
    saved = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    with torch.inference_mode():
        first = model(images)
        misses = model.text_cache_misses
        again = model(images)
    assert model.text_cache_misses == misses == 1
    assert torch.equal(first, again)

    with torch.no_grad():  # an in-place change of mirror, as an optimizer step makes
        model.mirror.add_(torch.randn(model.mirror.shape, generator=torch.Generator().manual_seed(1)))
    with torch.inference_mode():
        changed = model(images)
    assert model.text_cache_misses == 2
    assert not torch.allclose(changed, first)
    torch.testing.assert_close(model.text_features(), model._compute_text_features().detach())

    model.load_state_dict(saved, strict=False)
    with torch.inference_mode():
        restored = model(images)
    assert model.text_cache_misses == 3
    torch.testing.assert_close(restored, first)

    with torch.inference_mode():
        model(images, source="zeros")
        model(images, source="zeros")
        model(images)  # the learned mirror's entry is still cached beside the ablation's
    assert model.text_cache_misses == 4


def test_training_forward_bypasses_cache_and_follows_optimizer_steps(tiny_vit):
    model = MirrorDepth(tiny_vit.config, tiny_vit.clip, tiny_vit.clip_info).train()
    optimizer = torch.optim.SGD([model.mirror], lr=10.0)
    images = _images(1, 64, 80)
    before = model.text_features()
    assert before.requires_grad  # gradients reach mirror
    model(images).mean().backward()
    optimizer.step()
    after = model.text_features()
    assert not torch.allclose(before, after)
    model.eval()
    with torch.inference_mode():
        torch.testing.assert_close(model.text_features(), after.detach())


# ---------------------------------------------------------------- ablation sources

def test_ablation_sources_give_different_outputs(tiny_vit):
    model = MirrorDepth(tiny_vit.config, tiny_vit.clip, tiny_vit.clip_info).eval()
    images = _images(2, 64, 96, seed=3)
    texts, depths = {}, {}
    for source in SOURCES:
        with torch.inference_mode():
            texts[source] = model.text_features(source).clone()
            depths[source] = model(images, source=source)
        assert texts[source].shape == (64, 64)
        assert torch.isfinite(depths[source]).all()
    for a, b in itertools.combinations(SOURCES, 2):
        assert not torch.allclose(texts[a], texts[b], atol=1e-4), (a, b)
        assert not torch.allclose(depths[a], depths[b], atol=1e-5), (a, b)
    model.invalidate_text_cache()  # the random source is fixed by its seed
    with torch.inference_mode():
        torch.testing.assert_close(model.text_features("random"), texts["random"])
    with pytest.raises(ValueError, match="unknown mirror source"):
        model(images, source="noise")


def test_prompt_source_repeats_the_tokenised_prompt_over_all_s_positions(tiny_vit):
    from mirror_model.text_sources import prompt_token_ids, source_embeddings

    clip = tiny_vit.clip
    ids = prompt_token_ids(tiny_vit.tokenizer, tiny_vit.config.prompt)
    length = int(ids.argmax()) + 1  # start token, 9 subwords of "How far is this location from the camera?", end token
    assert length == 11 and int((ids > 0).sum()) == length
    expected_ids = torch.cat([ids[:length]] * 6)[:64]  # no padding id among the 64 positions the decoder reads
    embedded = source_embeddings("prompt", tiny_vit.mirror, clip, tiny_vit.tokenizer, tiny_vit.config.prompt)
    torch.testing.assert_close(embedded, clip_backbone.token_embeddings(clip, expected_ids))
    combined = source_embeddings("prompt+mirror", tiny_vit.mirror, clip, tiny_vit.tokenizer, tiny_vit.config.prompt)
    prompt_length = int(ids.argmax())  # start token + subwords, no end token
    assert combined.shape[0] == min(prompt_length + 64, 77)
    torch.testing.assert_close(combined[prompt_length:], tiny_vit.mirror[: combined.shape[0] - prompt_length])


# ---------------------------------------------------------------- zero-shot baseline

@pytest.mark.parametrize("family", ["tiny-vit", "tiny-rn"])
def test_depthclip_zero_shot_runs_and_stays_in_bin_range(family):
    config = ZeroShotConfig(clip_name=family, clip_pretrained=None, input_size=(96, 128), max_depth=10.0)
    model = build_zeroshot(config, seed=0).eval()
    images = _images(2, 96, 128)
    with torch.inference_mode():
        depth = model(images)
        probs = model.word_probabilities(images)
    bins = config.bins_m()
    assert bins == (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)  # DepthCLIP's metres, unscaled by the cap
    assert ZeroShotConfig(bin_scale=2.0).bins_m()[-1] == 6.0  # the documented extension for other data
    assert depth.shape == (2, 1, 96, 128)
    assert depth.min() >= bins[0] - 1e-4 and depth.max() <= bins[-1] + 1e-4
    assert probs.shape[1] == 7
    torch.testing.assert_close(probs.sum(dim=1), torch.ones_like(probs[:, 0]))
    assert not any(p.requires_grad for p in model.parameters())
