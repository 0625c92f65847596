"""Compact decoder: patch-grid similarity maps (+ optionally image features) -> a depth logit map.

Each x2 upsampling stage is a resize-convolution (bilinear x2, then a 3x3 convolution), which draws
no checkerboard, or, for checkpoints made before, a transposed convolution (kernel 4, stride 2).
A stride-16 ViT grid gets three stages and a stride-32 ResNet grid four, ending at half the input
resolution; the depth logits are then resized bilinearly, so nothing wide ever runs at full
resolution (this keeps a 240x320 frame cheap on a CPU). Channels shrink as resolution grows.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from common.config import checked_fields

UPSAMPLING = ("resize", "transposed")


@dataclass
class DecoderConfig:
    hidden: int = 64  # channels of the first (patch-grid) convolution
    stage_channels: tuple[int, ...] = (32, 16, 8, 8)  # widths after each x2 stage; the first (log2(stride) - 1) are used
    image_channels: int = 0  # >0: projected CLIP image features concatenated to the maps (an ablation: a text-free path)
    groups: int = 8  # GroupNorm groups (batch-size independent, same in train and eval)
    upsample: str = "resize"  # "resize": bilinear x2 then 3x3 conv (no checkerboard); "transposed": kernel-4 stride-2 deconv

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"decoder upsample must be one of {UPSAMPLING}, got {self.upsample!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stage_channels"] = list(self.stage_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DecoderConfig:
        data = checked_fields(cls, data, "decoder config")
        if "stage_channels" in data:
            data["stage_channels"] = tuple(int(c) for c in data["stage_channels"])
        data.setdefault("upsample", "transposed")  # cards written before the field existed
        return cls(**data)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class UpStage(nn.Module):
    """x2 upsampling -> GroupNorm -> GELU; resize-convolution (bilinear x2, 3x3 conv) or a
    transposed convolution (kernel 4, stride 2), whose uneven kernel overlap draws a grid."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, upsample: str = "resize"):
        super().__init__()
        if upsample == "resize":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)
        self.norm = _norm(out_channels, groups)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.up(x)))


class DepthDecoder(nn.Module):
    """(B, s, h, w) similarity maps [+ (B, D, h, w) features] -> depth logits.

    Maps only by default: depth goes through the text side. With image_channels > 0 (an ablation),
    CLIP's dense features are also projected (1x1 conv) and concatenated to the maps, a path that
    needs no text at all. "resize" decoders stop at half the input resolution (the caller resizes
    the logits bilinearly: nothing wide ever runs at full resolution); "transposed" ones reach it.
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
            stages.append(UpStage(previous, channels, config.groups, config.upsample))
            previous = channels
        self.stages = nn.Sequential(*stages)
        if config.upsample == "resize":
            self.head = nn.Conv2d(previous, 1, kernel_size=3, padding=1)
        else:
            self.head = nn.ConvTranspose2d(previous, 1, kernel_size=4, stride=2, padding=1)

    def forward(self, maps: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        # Channels-last activations: with so few channels at the larger grids, oneDNN's convolutions
        # and the bilinear x2 run 1.3-4x faster than in NCHW on a CPU (benchmarks/bench_mirror_inference.py);
        # only the memory layout changes (results agree with NCHW to float rounding; tests/test_inference_options.py).
        x = maps.contiguous(memory_format=torch.channels_last)
        if self.image_proj is not None:
            if features is None:
                raise ValueError("this decoder was built to also read image features; pass them")
            x = torch.cat([x, self.image_proj(features)], dim=1)
        return self.head(self.stages(self.stem(x)))
