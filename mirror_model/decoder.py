"""Compact deconvolutional decoder: patch-grid similarity maps (+ image features) -> a depth logit map.

Every x2 upsampling is a transposed convolution (kernel 4, stride 2), so a stride-16 ViT grid needs
four and a stride-32 ResNet grid five. All but the last are followed by GroupNorm and GELU; the last
one maps straight to the single depth-logit channel, so nothing wide ever runs at full resolution
(this keeps a 240x320 frame cheap on a CPU). Channels shrink as resolution grows.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from common.config import checked_fields


@dataclass
class DecoderConfig:
    hidden: int = 96  # channels of the first (patch-grid) convolution
    stage_channels: tuple[int, ...] = (64, 32, 16, 16)  # widths after each x2 stage but the last; first ones used
    image_channels: int = 32  # projected CLIP image features concatenated to the maps; 0 = maps only
    groups: int = 8  # GroupNorm groups (batch-size independent, same in train and eval)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stage_channels"] = list(self.stage_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DecoderConfig:
        data = checked_fields(cls, data, "decoder config")
        if "stage_channels" in data:
            data["stage_channels"] = tuple(int(c) for c in data["stage_channels"])
        return cls(**data)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class UpStage(nn.Module):
    """x2 upsampling: transposed conv (kernel 4, stride 2) -> GroupNorm -> GELU."""

    def __init__(self, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)
        self.norm = _norm(out_channels, groups)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.up(x)))


class DepthDecoder(nn.Module):
    """(B, s, h, w) similarity maps [+ (B, D, h, w) features] -> (B, 1, h*stride, w*stride) logits.

    With image_channels > 0, CLIP's dense features are projected (1x1 conv) and concatenated to the
    maps, so the decoder can also use appearance where the maps alone are ambiguous.
    """

    def __init__(self, config: DecoderConfig, num_maps: int, feature_dim: int, stride: int):
        super().__init__()
        num_stages = int(round(math.log2(stride)))
        if stride < 2 or 2**num_stages != stride:
            raise ValueError(f"decoder needs a power-of-two feature stride, got {stride}")
        if num_stages - 1 > len(config.stage_channels):
            raise ValueError(
                f"stride {stride} needs {num_stages - 1} entries in stage_channels, got {len(config.stage_channels)}"
            )
        self.config = config
        self.image_proj = (
            nn.Conv2d(feature_dim, config.image_channels, kernel_size=1) if config.image_channels > 0 else None
        )
        in_channels = num_maps + max(config.image_channels, 0)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, config.hidden, kernel_size=3, padding=1),
            _norm(config.hidden, config.groups),
            nn.GELU(),
        )
        stages, previous = [], config.hidden
        for channels in config.stage_channels[: num_stages - 1]:
            stages.append(UpStage(previous, channels, config.groups))
            previous = channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.ConvTranspose2d(previous, 1, kernel_size=4, stride=2, padding=1)

    def forward(self, maps: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        x = maps
        if self.image_proj is not None:
            if features is None:
                raise ValueError("this decoder was built to also read image features; pass them")
            x = torch.cat([maps, self.image_proj(features)], dim=1)
        return self.head(self.stages(self.stem(x)))
