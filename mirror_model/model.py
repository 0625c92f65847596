"""MirrorDepth: frozen CLIP + a learned static prompt ("mirror") + a compact deconvolutional decoder.

Data flow for images (B, 3, H, W) with values in [0, 1]:
  CLIP normalisation -> dense image features f (B, D, h, w) in CLIP's joint space
  mirror (s, text_width) -> frozen text encoder at every position -> t (s, D)
  maps = logit_scale * cos(f, t) for every patch and every mirror position -> (B, s, h, w)
  decoder(maps, f) -> logits at (h*stride, w*stride) -> resized to (H, W)
  depth = min_depth + sigmoid(logits) * (max_depth - min_depth), in metres, within (0, max_depth].

All s mirror outputs feed the decoder (one similarity map each), not only the end-of-text one:
mirror is a static prompt, so every position's output is a learned "depth concept" in joint space.
The text side does not depend on the image, so outside training it is computed once per text-side
source and cached. The source (the learned mirror or an ablation of it, text_sources.SOURCES) is an
argument of every call, never a state of the model, so one model can serve callers that ask for
different sources at the same time.

The text path (config.text_path) is what stands between mirror and the joint space, for the claim
experiment's controls: "pretrained" (the CLIP's own frozen text encoder), "random" (a randomly
initialised text encoder of the same architecture, frozen, rebuilt from `random_text_seed`) or
"none" (no text encoder: mirror is then (s, D) and its rows, normalised, are the s outputs). The
image tower (config.image_tower) is the CLIP's own or a random one of the same architecture. The s
maps are a linear map of rank <= s of the normalised patch features: with s well below D the text
side is a real bottleneck, and which directions it can reach is what the text path decides.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from common.config import checked_fields

from . import clip_backbone, text_sources
from .decoder import DecoderConfig, DepthDecoder

TEXT_PATHS = ("pretrained", "random", "none")


@dataclass
class MirrorDepthConfig:
    clip_name: str = "tiny-vit"
    clip_pretrained: str | None = None  # open_clip tag; None = random init (saved with the checkpoint)
    mirror_tokens: int = 64  # s
    input_size: tuple[int, int] = (240, 320)  # (H, W) the predictor resizes to
    max_depth: float = 10.0
    min_depth: float = 1e-3
    prompt: str = text_sources.DEFAULT_PROMPT  # for the "prompt" and "prompt+mirror" ablations
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    text_path: str = "pretrained"  # TEXT_PATHS: the CLIP's own text encoder, a random one, or none
    image_tower: str = "pretrained"  # clip_backbone.TOWERS: the CLIP's own image tower or a random one
    random_text_seed: int = 0  # seed of the random text encoder (text_path="random")
    random_image_seed: int = 0  # seed of the random image tower (image_tower="random")

    def __post_init__(self) -> None:
        if self.text_path not in TEXT_PATHS:
            raise ValueError(f"text_path must be one of {TEXT_PATHS}, got {self.text_path!r}")
        if self.image_tower not in clip_backbone.TOWERS:
            raise ValueError(f"image_tower must be one of {clip_backbone.TOWERS}, got {self.image_tower!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        data["decoder"] = self.decoder.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> MirrorDepthConfig:
        data = checked_fields(cls, data, "model config")
        if "input_size" in data:
            data["input_size"] = tuple(int(v) for v in data["input_size"])
        if "decoder" in data:
            data["decoder"] = DecoderConfig.from_dict(data["decoder"])
        return cls(**data)


class MirrorDepth(nn.Module):
    def __init__(self, config: MirrorDepthConfig, clip: nn.Module, clip_info: clip_backbone.ClipInfo | None = None):
        super().__init__()
        limit = clip_backbone.context_length(clip)
        if not 1 <= config.mirror_tokens <= limit:
            raise ValueError(f"mirror_tokens must be in 1..{limit} (CLIP's context length), got {config.mirror_tokens}")
        if not 0 < config.min_depth < config.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {config.min_depth} and {config.max_depth}")
        self.config = config
        self.clip_info = clip_info
        # Random towers are rebuilt from their seeds (never saved); the given CLIP is not modified.
        self.clip = clip_backbone.with_random_towers(
            clip, config.clip_name, image=config.image_tower, text="random" if config.text_path == "random" else "pretrained",
            image_seed=config.random_image_seed, text_seed=config.random_text_seed)
        for param in self.clip.parameters():
            param.requires_grad_(False)
        self.clip.eval()

        if config.text_path == "none":
            # The s outputs themselves, unit rows in the D-wide joint space; no text encoder is read.
            dim = clip_backbone.embed_dim(clip)
            self.mirror = nn.Parameter(torch.randn(config.mirror_tokens, dim) / dim**0.5)
        else:
            # Same scale as CLIP's token-embedding init, so mirror starts where real tokens live.
            self.mirror = nn.Parameter(torch.randn(config.mirror_tokens, clip_backbone.text_width(clip)) * 0.02)
        self.stride = clip_backbone.patch_stride(clip)
        self.decoder = DepthDecoder(
            config.decoder, config.mirror_tokens, clip_backbone.embed_dim(clip), self.stride
        )
        mean = clip_info.mean if clip_info else clip_backbone.OPENAI_MEAN
        std = clip_info.std if clip_info else clip_backbone.OPENAI_STD
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.tokenizer = clip_backbone.get_tokenizer(config.clip_name)
        self._text_cache: dict[str, tuple[tuple, torch.Tensor]] = {}  # source -> (key, features)
        self._text_cache_lock = threading.Lock()  # guards the cache only; predictions run in parallel
        self.text_cache_misses = 0  # how often the text side was (re)computed for the cache

    # ------------------------------------------------------------ frozen CLIP
    def train(self, mode: bool = True) -> MirrorDepth:
        super().train(mode)
        self.clip.eval()  # BatchNorm statistics and dropout of CLIP never change
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint's model.safetensors holds: mirror and decoder (no CLIP)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("clip.")}

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # ------------------------------------------------------------ text side
    def invalidate_text_cache(self) -> None:
        with self._text_cache_lock:
            self._text_cache.clear()

    def _compute_text_features(self, source: str = "learned") -> torch.Tensor:
        if self.config.text_path == "none":
            outputs = text_sources.joint_space_outputs(source, self.mirror)
        else:
            embeddings = text_sources.source_embeddings(source, self.mirror, self.clip, self.tokenizer, self.config.prompt)
            outputs = clip_backbone.encode_text_embeddings(self.clip, embeddings.unsqueeze(0))[0]
        return F.normalize(outputs[-self.config.mirror_tokens :].float(), dim=-1)

    def text_features(self, source: str = "learned") -> torch.Tensor:
        """Normalised text-side outputs (s, D) for a text-side source (text_sources.SOURCES).

        With gradients on (training), they are recomputed every call so they follow mirror. Otherwise
        they are cached per source, keyed by prompt, and mirror's storage and in-place version counter:
        an optimizer step or load_state_dict bumps the version, so a changed mirror is never stale.
        """
        text_sources.check_source(source)
        if torch.is_grad_enabled() and self.mirror.requires_grad:
            return self._compute_text_features(source)
        key = (self.config.prompt, self.mirror._version, self.mirror.data_ptr(), self.mirror.device, self.mirror.dtype)
        with self._text_cache_lock:
            cached = self._text_cache.get(source)
            if cached is None or cached[0] != key:
                # Leave inference mode so the cache is an ordinary tensor usable in any later mode.
                with torch.inference_mode(False), torch.no_grad():
                    cached = (key, self._compute_text_features(source))
                self._text_cache[source] = cached
                self.text_cache_misses += 1
            return cached[1]

    # ------------------------------------------------------------ image side
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (B, 3, H, W) -> dense CLIP features (B, D, h, w), float32."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[-2:]) < self.stride:
            raise ValueError(f"images must be at least {self.stride}x{self.stride} pixels, got {tuple(images.shape[-2:])}")
        normalised = (images - self.pixel_mean) / self.pixel_std
        return clip_backbone.dense_image_features(self.clip, normalised).float()

    def similarity_maps(self, features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) features -> (B, s, h, w) scaled cosine similarities with the text outputs (s, D),
        which are unit rows (text_features); a patch's maps do not depend on its feature's norm.
        The maps are channels-last in memory (see DepthDecoder)."""
        scale = clip_backbone.logit_scale(self.clip).float()
        # In token layout (B, h, w, D), which is how the ViT's dense features are stored (a view, no
        # copy), one matrix product gives maps already channels-last, the decoder's layout.
        tokens = F.normalize(features.permute(0, 2, 3, 1), dim=-1)
        return (tokens @ (scale * text).T).permute(0, 3, 1, 2)

    def forward(self, images: torch.Tensor, source: str = "learned") -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> metric depth (B, 1, H, W) in (0, max_depth], with the
        text side given by `source` (the learned mirror unless an ablation is asked for)."""
        return self.depth_from_features(self.image_features(images), tuple(images.shape[-2:]), source)

    def depth_from_features(self, features: torch.Tensor, size: tuple[int, int], source: str = "learned") -> torch.Tensor:
        """Dense CLIP features (B, D, h, w) -> metric depth (B, 1, *size): everything after the frozen
        image encoder (training on cached features uses exactly this)."""
        maps = self.similarity_maps(features, self.text_features(source))
        logits = self.decoder(maps, features)
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        span = self.config.max_depth - self.config.min_depth
        return self.config.min_depth + torch.sigmoid(logits) * span


def build_mirror_depth(
    config: MirrorDepthConfig,
    seed: int | None = None,
    clip_weights: str | None = None,
    device: str | torch.device = "cpu",
) -> MirrorDepth:
    """A fresh MirrorDepth: CLIP loaded (or randomly initialised from `seed`), mirror and decoder new."""
    clip, info = clip_backbone.load_clip(
        config.clip_name, config.clip_pretrained, weights_file=clip_weights, seed=seed, device=device
    )
    if config.clip_pretrained is None and clip_weights is None:
        # A random CLIP is saved in fp16; round now so training sees exactly what will be saved.
        clip_backbone.fp16_round(clip)
    if seed is not None:
        torch.manual_seed(seed + 1)
    return MirrorDepth(config, clip, info).to(device)
