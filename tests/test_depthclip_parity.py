"""DepthCLIP exactly as published, checked against an independent computation written here from
the method's definition, on a random-init RN50 fed through the local weights-file route."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

WORDS = ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
BINS = torch.tensor([1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00])
IMAGENET = (torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
CLIP_NORM = (torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1),
             torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1))  # fmt: skip
SIZE = (416, 544)  # DepthCLIP's NYU input crop


@pytest.fixture(scope="module")
def rn50(tmp_path_factory):
    """A random-init CLIP RN50 saved as a local weights file, and the same model for the reference."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model("RN50", pretrained=None, force_quick_gelu=True).eval()
    path = tmp_path_factory.mktemp("clip") / "rn50-random.pt"
    torch.save(model.state_dict(), path)
    return model, path


def reference_depth(model, image: torch.Tensor, *, norm=IMAGENET, attnpool=False, channels="every_other",
                    logit_scale=100.0, bins=BINS, align_corners=True) -> torch.Tensor:
    """DepthCLIP from its definition; the keyword arguments switch single elements back to what the
    project did before, to show that each one changes the depth beyond the test's tolerance."""
    import open_clip

    with torch.no_grad():
        tokens = open_clip.tokenize([f"This object is {word}" for word in WORDS])
        text = F.normalize(model.encode_text(tokens).float(), dim=-1)  # (7, 1024)
        visual = model.visual
        x = (image - norm[0]) / norm[1]
        x = visual.stem(x)
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))  # (1, 2048, 13, 17)
        if attnpool:
            pool = visual.attnpool
            x = x.permute(0, 2, 3, 1) @ pool.v_proj.weight.T + pool.v_proj.bias
            x = (x @ pool.c_proj.weight.T + pool.c_proj.bias).permute(0, 3, 1, 2)
        x = F.normalize(x, dim=1)
        if not attnpool:
            x = x[:, ::2] if channels == "every_other" else x[:, :1024]
        logits = logit_scale * torch.einsum("bdhw,kd->bkhw", x, text) / 0.1
        depth = torch.einsum("bkhw,k->bhw", logits.softmax(dim=1), bins)[:, None]
        return F.interpolate(depth, size=image.shape[-2:], mode="bilinear", align_corners=align_corners)[0, 0]


def test_depthclip_rn50_preset_matches_the_published_definition(rn50):
    from mirror_model.predict import load_predictor

    model, path = rn50
    rng = np.random.default_rng(0)
    # A smooth picture with structure (random pixels would give near-uniform features).
    yy, xx = np.mgrid[0 : SIZE[0], 0 : SIZE[1]] / 60.0
    picture = np.stack([np.sin(xx + 2 * c) * np.cos(yy - c) for c in range(3)], -1) * 100 + 128
    picture = np.clip(picture + rng.normal(0, 10, picture.shape), 0, 255).astype(np.uint8)

    predictor = load_predictor("depthclip-rn50", device="cpu", clip_weights=str(path))
    assert predictor.info.kind == "zeroshot" and predictor.info.weights_from == "file"
    depth = predictor.predict(picture)
    image = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255.0
    expected = reference_depth(model, image).numpy()
    assert depth.shape == SIZE
    assert float(np.abs(depth - expected).max()) < 1e-3
    # The words are not near uniform: the x1000 logits make confident choices.
    assert 1.0 <= depth.min() and depth.max() <= 3.0 and depth.max() - depth.min() > 0.2

    # The test has the power to see each element changed back (all beyond the 1e-3 m tolerance).
    variants = {
        "CLIP normalisation instead of ImageNet": dict(norm=CLIP_NORM),
        "attention-pool projections instead of layer4": dict(attnpool=True),
        "first half of the channels instead of every other": dict(channels="first_half"),
        "x10 logits instead of x1000": dict(logit_scale=1.0),
        "bins scaled to a 10 m cap": dict(bins=BINS * 10.0 / 3.0),
        "align_corners=False": dict(align_corners=False),
    }
    for name, change in variants.items():
        other = reference_depth(model, image, **change).numpy()
        assert float(np.abs(other - expected).max()) > 1e-2, name
