"""Named models: the bundled offline mirror model and DepthCLIP zero-shot baselines."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import MirrorDepthConfig
from .zeroshot import ZeroShotConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = REPO_ROOT / "checkpoints" / "mirror-synthetic-tiny"
DEFAULT_PRESET = "synthetic-tiny"
TINY_SEED = 0  # the seed `python -m mirror_model.checkpoint init` uses by default


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # "mirror" or "zeroshot"
    description: str
    checkpoint_dir: Path | None = None  # mirror presets: where the weights live
    fallback_config: MirrorDepthConfig | None = None  # mirror presets: untrained model when no weights
    zeroshot: ZeroShotConfig | None = None
    seed: int | None = None  # random-init CLIP seed (tiny CLIPs only)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "synthetic-tiny",
            "mirror",
            "small world CLIP (pretrained here on captioned procedural rooms) + mirror",
            checkpoint_dir=BUNDLED_DIR,
            fallback_config=MirrorDepthConfig(clip_name="world-vit-256", clip_pretrained="procedural-world", mirror_tokens=16),
            seed=TINY_SEED,
        ),
        Preset(
            "depthclip-rn50",
            "zeroshot",
            "DepthCLIP zero-shot on OpenAI CLIP RN50",
            zeroshot=ZeroShotConfig(clip_name="RN50", clip_pretrained="openai"),
        ),
        Preset(
            "depthclip-vit-b-16",
            "zeroshot",
            "DepthCLIP zero-shot on OpenAI CLIP ViT-B-16",
            zeroshot=ZeroShotConfig(clip_name="ViT-B-16", clip_pretrained="openai"),
        ),
        Preset(
            "depthclip-tiny",
            "zeroshot",
            "DepthCLIP zero-shot (as published; ViT patch route) on the small world CLIP pretrained here",
            zeroshot=ZeroShotConfig(clip_name="world-vit-256", clip_pretrained="procedural-world", input_size=(240, 320)),
            seed=TINY_SEED,
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}'; presets: {', '.join(PRESETS)}")
    return PRESETS[name]
