"""DepthCLIP-style zero-shot depth (Zhang et al., 2022): no training at all.

Seven distance words are embedded with a prompt template by CLIP's text encoder. Every patch's
dense image feature is compared with them (cosine similarity / temperature), a softmax over the
words weights seven fixed depth bins, and the expected depth is upsampled to the input size.
The bins (1.00 ... 3.00) are scaled so that the farthest word maps to the dataset's max depth.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import clip_backbone

DISTANCE_WORDS = ("giant", "extremely close", "close", "not in distance", "a little remote", "far", "unseen")
DISTANCE_BINS = (1.00, 1.50, 2.00, 2.25, 2.50, 2.75, 3.00)


@dataclass
class ZeroShotConfig:
    clip_name: str = "RN50"
    clip_pretrained: str | None = "openai"
    input_size: tuple[int, int] = (416, 544)
    max_depth: float = 10.0
    temperature: float = 0.1
    template: str = "This object is {}"
    words: tuple[str, ...] = DISTANCE_WORDS
    bins: tuple[float, ...] = DISTANCE_BINS

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(input_size=list(self.input_size), words=list(self.words), bins=list(self.bins))
        return data

    def bins_m(self) -> tuple[float, ...]:
        scale = self.max_depth / max(self.bins)
        return tuple(b * scale for b in self.bins)


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
        mean = clip_info.mean if clip_info else clip_backbone.OPENAI_MEAN
        std = clip_info.std if clip_info else clip_backbone.OPENAI_STD
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
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
        features = F.normalize(clip_backbone.dense_image_features(self.clip, normalised).float(), dim=1)
        logits = torch.einsum("bdhw,kd->bkhw", features, self.text_features) / self.config.temperature
        return logits.softmax(dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> depth (B, 1, H, W) within the scaled bin range."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        probs = self.word_probabilities(images)
        depth = torch.einsum("bkhw,k->bhw", probs, self.bins).unsqueeze(1)
        return F.interpolate(depth, size=images.shape[-2:], mode="bilinear", align_corners=False)


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
