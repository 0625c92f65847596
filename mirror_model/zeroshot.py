"""DepthCLIP zero-shot depth (Zhang et al., "Can Language Understand Depth?", ACM MM 2022): no training.

The method exactly as its authors define it, for CLIP RN50 on NYU Depth v2:
- prompts "This object is {word}" for the seven words giant, extremely close, close, not in
  distance, a little remote, far, unseen; CLIP text features, L2-normalised;
- images normalised with the ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)
  (not CLIP's own statistics);
- image features: the ResNet's stem and layer1-4 output (2048 channels for RN50; the attention
  pool is not used), L2-normalised over channels, then brought to the text width (1024) by
  nearest-neighbour interpolation along the channel axis, which keeps every other channel;
- logits = 100 * cosine / 0.1 (CLIP's fixed scale over a temperature of 0.1); softmax over the
  seven words; depth = sum(p * bin) with bins 1.00 1.50 2.00 2.25 2.50 2.75 3.00 metres, unscaled;
- the depth map is upsampled bilinearly with align_corners=True to the input size.
On NYU the evaluation feeds a 416x544 crop, pastes the prediction back at its place, and averages
with the horizontally flipped image's prediction (mirror_model.evaluate does this).

Documented extensions (DepthCLIP defines neither): ViT CLIPs use the dense patch-token route of
clip_backbone.dense_image_features; for data sets other than NYU the bins are multiplied by
`bin_scale` (see presets: the procedural rooms use the NYU bins unscaled, since they are NYU-sized
rooms rendered with NYU intrinsics).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from common.config import checked_fields

from . import clip_backbone

DISTANCE_WORDS = ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
DISTANCE_BINS_M = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_LOGIT_SCALE = 100.0  # DepthCLIP multiplies by CLIP's fixed 100, then divides by the temperature


@dataclass
class ZeroShotConfig:
    clip_name: str = "RN50"
    clip_pretrained: str | None = "openai"
    input_size: tuple[int, int] = (416, 544)  # the NYU crop DepthCLIP feeds
    max_depth: float = 10.0  # evaluation cap; the prediction itself stays within the bins
    temperature: float = 0.1
    template: str = "This object is {}"
    words: tuple[str, ...] = DISTANCE_WORDS
    bins: tuple[float, ...] = DISTANCE_BINS_M  # metres
    bin_scale: float = 1.0  # 1.0 = DepthCLIP's unscaled NYU bins

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(input_size=list(self.input_size), words=list(self.words), bins=list(self.bins))
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ZeroShotConfig:
        data = checked_fields(cls, data, "zero-shot config")
        for key in ("input_size", "words", "bins"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def bins_m(self) -> tuple[float, ...]:
        return tuple(b * self.bin_scale for b in self.bins)


def depthclip_image_features(clip: nn.Module, images: torch.Tensor, width: int) -> torch.Tensor:
    """ImageNet-normalised images -> L2-normalised dense features (B, width, h, w).

    ResNet: stem + layer1-4, normalised over channels, then `width` channels kept by nearest
    interpolation along the channel axis (RN50: every other one of 2048). ViT (an extension):
    the dense patch tokens in the joint space, normalised.
    """
    if clip_backbone.is_vit(clip):
        return F.normalize(clip_backbone.dense_image_features(clip, images).float(), dim=1)
    features = F.normalize(clip_backbone.resnet_feature_map(clip, images).float(), dim=1)
    batch, channels, height, width_px = features.shape
    if channels != width:
        flat = features.permute(0, 2, 3, 1).reshape(-1, 1, channels)
        flat = F.interpolate(flat, size=width, mode="nearest")
        features = flat.reshape(batch, height, width_px, width).permute(0, 3, 1, 2)
    return features


class ZeroShotDepth(nn.Module):
    def __init__(self, config: ZeroShotConfig, clip: nn.Module, clip_info: clip_backbone.ClipInfo | None = None):
        super().__init__()
        if len(config.words) != len(config.bins):
            raise ValueError(f"need one bin per word: {len(config.words)} words, {len(config.bins)} bins")
        if config.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {config.temperature}")
        self.config = config
        self.clip_info = clip_info
        self.clip = clip.eval()
        for param in self.clip.parameters():
            param.requires_grad_(False)
        self.stride = clip_backbone.patch_stride(clip)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("bins", torch.tensor(config.bins_m()), persistent=False)
        tokenizer = clip_backbone.get_tokenizer(config.clip_name)
        tokens = tokenizer([config.template.format(word) for word in config.words])
        with torch.no_grad():
            text = self.clip.encode_text(tokens.to(next(clip.parameters()).device)).float()
        self.register_buffer("text_features", F.normalize(text, dim=-1), persistent=False)

    def train(self, mode: bool = True) -> ZeroShotDepth:
        super().train(mode)
        self.clip.eval()
        return self

    def word_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> per-patch softmax over the distance words (B, K, h, w)."""
        normalised = (images - self.pixel_mean) / self.pixel_std
        features = depthclip_image_features(self.clip, normalised, self.text_features.shape[1])
        cosine = torch.einsum("bdhw,kd->bkhw", features, self.text_features)
        return (CLIP_LOGIT_SCALE * cosine / self.config.temperature).softmax(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> depth (B, 1, H, W) in metres, within the bins."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        probs = self.word_probabilities(images)
        depth = torch.einsum("bkhw,k->bhw", probs, self.bins).unsqueeze(1)
        return F.interpolate(depth, size=images.shape[-2:], mode="bilinear", align_corners=True)


def build_zeroshot(
    config: ZeroShotConfig,
    seed: int | None = None,
    clip_weights: str | None = None,
    device: str | torch.device = "cpu",
) -> ZeroShotDepth:
    clip, info = clip_backbone.load_clip(
        config.clip_name, config.clip_pretrained, weights_file=clip_weights, seed=seed, device=device
    )
    if config.clip_pretrained is None and clip_weights is None:
        clip_backbone.fp16_round(clip)  # same random CLIP as a mirror model initialised from this seed
    return ZeroShotDepth(config, clip, info).to(device)
