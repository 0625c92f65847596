"""The faster forward (cached positional table, channels-last decoder, maps in token layout) gives
what the plain modules give, and the kept inference option stays close to fp32."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.image_io import load_rgb
from mirror_model import clip_backbone
from mirror_model.decoder import DecoderConfig, DepthDecoder
from mirror_model.model import MirrorDepthConfig, build_mirror_depth
from mirror_model.predict import load_predictor

REPO = Path(__file__).resolve().parent.parent
SCENE_RGB = sorted((REPO / "examples" / "scenes" / "rgb").glob("*.png"))


@pytest.fixture(scope="module")
def bundled():
    return load_predictor("synthetic-tiny", device="cpu", precision="fp32")


def reference_features(model, images: torch.Tensor) -> torch.Tensor:
    """Dense ViT features from the tower's plain modules, the positional table resized afresh."""
    visual = model.clip.visual
    x = visual.conv1((images - model.pixel_mean) / model.pixel_std)
    batch, width, grid_h, grid_w = x.shape
    x = x.flatten(2).transpose(1, 2)
    pos = clip_backbone._resize_vit_pos_embed(visual.positional_embedding, visual.grid_size, (grid_h, grid_w))
    x = torch.cat([visual.class_embedding.expand(batch, 1, width), x], dim=1) + pos
    x = visual.ln_post(visual.transformer(visual.ln_pre(x)))
    return (x[:, 1:] @ visual.proj).transpose(1, 2).reshape(batch, -1, grid_h, grid_w).contiguous()


def reference_decoder(decoder: DepthDecoder, maps: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The decoder's modules applied one by one to NCHW-contiguous tensors."""
    x = maps.contiguous()
    if decoder.image_proj is not None:
        x = torch.cat([x, decoder.image_proj(features.contiguous())], dim=1)
    x = decoder.stem(x)
    for stage in decoder.stages:
        x = stage.act(stage.norm(stage.up(x)))
    out = decoder.head(x)
    assert out.is_contiguous()
    return out


def reference_depth(model, images: torch.Tensor) -> torch.Tensor:
    features = reference_features(model, images)
    text = model.text_features()
    scale = clip_backbone.logit_scale(model.clip)
    maps = scale * torch.einsum("bdhw,sd->bshw", F.normalize(features, dim=1), text)
    logits = F.interpolate(reference_decoder(model.decoder, maps, features), size=images.shape[-2:], mode="bilinear",
                           align_corners=False)
    return model.config.min_depth + torch.sigmoid(logits) * (model.config.max_depth - model.config.min_depth)


def _scene_images(count: int) -> torch.Tensor:
    frames = [load_rgb(path) for path in SCENE_RGB[:count]]
    assert frames and all(frame.shape == (240, 320, 3) for frame in frames)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def test_bundled_forward_equals_the_plain_modules(bundled):
    model = bundled.model
    images = _scene_images(2)
    with torch.inference_mode():
        depth = model(images)
        expected = reference_depth(model, images)
    assert depth.shape == expected.shape == (2, 1, 240, 320)
    assert float(expected.std()) > 0.05  # a real depth map, not a constant both sides agree on
    torch.testing.assert_close(depth, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("upsample,image_channels", [("resize", 0), ("transposed", 8)])
def test_channels_last_decoder_equals_nchw_modules(upsample, image_channels):
    torch.manual_seed(0)
    decoder = DepthDecoder(DecoderConfig(upsample=upsample, image_channels=image_channels), num_maps=16, feature_dim=32,
                           stride=16).eval()
    maps, features = torch.randn(2, 16, 5, 7), torch.randn(2, 32, 5, 7)
    with torch.inference_mode():
        logits = decoder(maps, features)
        expected = reference_decoder(decoder, maps, features)
    assert logits.is_contiguous(memory_format=torch.channels_last)
    assert logits.shape == expected.shape == ((2, 1, 80, 112) if upsample == "transposed" else (2, 1, 40, 56))
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5)


def test_channels_last_decoder_trains_like_nchw():
    torch.manual_seed(0)
    decoder = DepthDecoder(DecoderConfig(), num_maps=8, feature_dim=16, stride=16)
    maps = torch.randn(2, 8, 4, 5)
    decoder(maps).square().mean().backward()
    grads = [p.grad.clone() for p in decoder.parameters()]
    decoder.zero_grad()
    reference_decoder(decoder, maps, maps).square().mean().backward()
    for grad, expected in zip(grads, (p.grad for p in decoder.parameters())):
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)


def test_cached_positional_table_follows_the_weights():
    model = build_mirror_depth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=4), seed=0).eval()
    images = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        first = model.image_features(images)
    torch.testing.assert_close(first, reference_features(model, images), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        model.clip.visual.positional_embedding.add_(0.5)  # an in-place change: the cached table must not be served
    with torch.inference_mode():
        second = model.image_features(images)
    assert not torch.allclose(first, second)
    torch.testing.assert_close(second, reference_features(model, images), rtol=1e-5, atol=1e-5)


def test_a_trainable_positional_table_gets_gradients():
    model = build_mirror_depth(MirrorDepthConfig(clip_name="tiny-vit", mirror_tokens=4), seed=0)
    pos = model.clip.visual.positional_embedding
    pos.requires_grad_(True)
    images = torch.rand(1, 3, 64, 96)
    model.image_features(images).square().mean().backward()
    assert pos.grad is not None and float(pos.grad.abs().sum()) > 0


def test_int8_stays_close_to_fp32_on_scene_frames(bundled):
    from mirror_model.predict import CPU_PRECISION

    int8 = load_predictor("synthetic-tiny", device="cpu", precision=None)  # the app's choice on a CPU
    assert int8.precision == CPU_PRECISION == "int8" and bundled.precision == "fp32"
    assert load_predictor("synthetic-tiny", device="cpu").precision == "fp32"  # studies reproduce their figures
    quantized = [m for m in int8.model.clip.visual.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert quantized, "no nn.Linear of the image tower was quantised"
    frames = [load_rgb(path) for path in SCENE_RGB[:2]]
    for frame in frames:
        reference, depth = bundled.predict(frame), int8.predict(frame)
        relative = np.abs(depth - reference) / reference
        assert relative.max() > 0  # really another computation
        # Tolerance from the measured spread (mean 0.2-0.3 %, max 1-2 % on scene frames) with headroom.
        assert relative.mean() < 0.01 and relative.max() < 0.05, (relative.mean(), relative.max())


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision must be one of"):
        load_predictor("synthetic-tiny", device="cpu", precision="fp16")
