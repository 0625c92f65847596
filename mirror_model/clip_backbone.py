"""Frozen CLIP for dense depth: loading through open_clip, dense image features and text encoding
from embeddings (so a learned prompt can stand where token embeddings go).

Supported: open_clip's standard CLIP class with a ViT (`VisionTransformer`) or ResNet
(`ModifiedResNet`) image tower and its own text transformer, e.g. RN50, RN101, ViT-B-16, ViT-B-32,
ViT-L-14, plus the small configs shipped in `clip_configs/` for offline use: "tiny-vit" and "tiny-rn"
(random-init test models), "world-vit" (64-wide joint space; random init only: its pretrained
weights, the first world CLIP, were retired with the round-3 world) and "world-vit-256" (256-wide
joint space, so that s = 16 mirror outputs are a real bottleneck; pretrained here as
`world-vit-256/procedural-world`).

A CLIP's two towers can be swapped for randomly initialised ones independently (`with_random_towers`):
the controls of the claim experiment (random image tower, random text encoder) are built from a
seed, never saved, and rebuilt bit-identically when a checkpoint is loaded.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CONFIG_DIR = Path(__file__).parent / "clip_configs"
TINY_CLIP_NAMES = ("tiny-vit", "tiny-rn", "world-vit", "world-vit-256")
# CLIPs pretrained by this project: (model name, tag) -> weights file in the repository, loaded
# like an open_clip tag but never downloaded (python -m mirror_model.world_clip makes them).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_TAGS = {
    ("world-vit-256", "procedural-world"): PROJECT_ROOT / "checkpoints" / "world-clip-256" / "clip.safetensors",
}
TOWERS = ("pretrained", "random")  # an image tower or text encoder: the loaded CLIP's own, or re-initialised
WEIGHTS_ENV = "MIRROR_CLIP_WEIGHTS"
WEIGHTS_FLAG = "--clip-weights"
# Used when a config has no pretrained tag to take normalisation constants from.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class WeightsUnavailableError(RuntimeError):
    """CLIP weights were asked for but cannot be had here (no network, not cached, no local file)."""


@dataclass
class ClipInfo:
    """Where a loaded CLIP came from; travels into model cards and the app's status line."""

    name: str
    pretrained: str | None
    weights_from: str  # "open_clip" (tag, downloaded or cached), "file", or "random"
    weights_path: str | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


_registered = False


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def register_tiny_configs() -> None:
    """Make the tiny configs known to open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    import open_clip

    if not all(name in open_clip.list_models() for name in TINY_CLIP_NAMES):
        open_clip.add_model_config(CONFIG_DIR)
    _registered = True


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_tag_file(pretrained_cfg: dict) -> str | None:
    """Path of an already-downloaded weights file for an open_clip tag (Hub cache or URL cache), or None."""
    if pretrained_cfg.get("file"):
        return pretrained_cfg["file"]
    hub = pretrained_cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_pytorch_model.bin"]
        names = [n[: -len(".bin")] + ".safetensors" for n in names if n.endswith(".bin")] + names
        if not filename:
            names.insert(0, "open_clip_model.safetensors")
        for candidate in names:
            hit = try_to_load_from_cache(repo_id, candidate)
            if isinstance(hit, str):
                return hit
    url = pretrained_cfg.get("url", "")
    if url:  # where open_clip keeps files it fetched by URL
        target = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if target.is_file():
            return str(target)
    return None


def _unavailable(name: str, tag: str | None, why: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"CLIP weights for model '{name}' (pretrained='{tag}') are not available: {why}; "
        f"download them where the Hugging Face Hub is reachable, or pass {WEIGHTS_FLAG} FILE "
        f"(or set {WEIGHTS_ENV}=FILE) pointing to a local open_clip/OpenAI weights file"
    )


def load_clip(
    name: str,
    pretrained: str | None = None,
    weights_file: str | os.PathLike | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ClipInfo]:
    """Create a frozen, eval-mode open_clip model.

    `pretrained` is an open_clip tag ("openai", "laion2b_s34b_b88k", ...) or None for random weights;
    `weights_file` (or the MIRROR_CLIP_WEIGHTS variable when a tag is given) is a local file that
    replaces the download. `seed` makes a random init reproducible. Tiny configs never download.
    """
    import open_clip

    register_tiny_configs()
    model_name = name.replace("/", "-")
    if model_name not in open_clip.list_models():
        raise ValueError(
            f"unknown CLIP model '{name}'; choose one of open_clip.list_models(), e.g. RN50, ViT-B-16, tiny-vit"
        )
    if weights_file is None and pretrained and os.environ.get(WEIGHTS_ENV):
        weights_file = os.environ[WEIGHTS_ENV]

    project_file = PROJECT_TAGS.get((model_name, pretrained))
    if project_file is not None and weights_file is None:
        if not project_file.is_file():
            raise FileNotFoundError(f"CLIP '{name}/{pretrained}' is pretrained by this project; its weights "
                                    f"{project_file.relative_to(PROJECT_ROOT)} are missing (python -m mirror_model.world_clip)")
        weights_file = project_file
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained) if pretrained and project_file is None else {}
    if pretrained and not tag_cfg and weights_file is None:
        known = [*open_clip.list_pretrained_tags_by_model(model_name), *(tag for m, tag in PROJECT_TAGS if m == model_name)]
        choices = f"known tags: {', '.join(known)}" if known else "it has no pretrained weights (give the name alone for random init)"
        raise ValueError(f"unknown pretrained tag '{pretrained}' for CLIP '{name}'; {choices}")
    quick_gelu = bool(tag_cfg.get("quick_gelu", False))

    source: str | None = None
    weights_from = "random"
    if weights_file is not None:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"CLIP weights file '{path}' not found (given by {WEIGHTS_FLAG} or {WEIGHTS_ENV})"
            )
        source = str(path)
        weights_from = "project" if weights_file == project_file else "file"
    elif pretrained:
        source = _cached_tag_file(tag_cfg)
        if source is None:
            if not hub_reachable():
                raise _unavailable(name, pretrained, "not in the local cache and the Hugging Face Hub is unreachable")
            try:
                source = open_clip.download_pretrained(tag_cfg)
            except Exception as err:  # network errors come in many types
                raise _unavailable(name, pretrained, f"download failed ({type(err).__name__})") from err
        weights_from = "open_clip"

    if seed is not None:
        torch.manual_seed(seed)
    root = logging.getLogger()
    quiet = _DropRandomInitNotice()
    if source is None:
        root.addFilter(quiet)  # random init is deliberate here; open_clip would warn on the root logger
    try:
        model = open_clip.create_model(
            model_name, pretrained=source, force_quick_gelu=quick_gelu, device=device, weights_only=True
        )
    except Exception as err:  # torch/safetensors raise many types for a bad or mismatched file
        if source is None:
            raise
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"CLIP weights '{source}' could not be loaded into model '{name}': {first_line}") from err
    finally:
        root.removeFilter(quiet)
    _check_supported(model, name)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)

    mean = tuple(tag_cfg.get("mean", OPENAI_MEAN))
    std = tuple(tag_cfg.get("std", OPENAI_STD))
    info = ClipInfo(name=name, pretrained=pretrained, weights_from=weights_from, weights_path=source, mean=mean, std=std)
    return model, info


def _check_supported(model: nn.Module, name: str) -> None:
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import VisionTransformer

    visual = getattr(model, "visual", None)
    if isinstance(visual, VisionTransformer):
        if visual.attn_pool is not None:
            raise ValueError(f"CLIP '{name}' uses attentional pooling; dense features need a plain ViT or ResNet tower")
    elif not isinstance(visual, ModifiedResNet):
        raise ValueError(f"CLIP '{name}' has an image tower of type {type(visual).__name__}; need ViT or ModifiedResNet")
    text_tower(model, name)


def text_tower(model: nn.Module, name: str = "CLIP") -> nn.Module:
    """The module holding token_embedding/positional_embedding/transformer/ln_final/text_projection."""
    tower = model if hasattr(model, "token_embedding") else getattr(model, "text", None)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
    if tower is None or not all(hasattr(tower, attr) for attr in needed):
        raise ValueError(f"CLIP '{name}' has no open_clip text transformer; mirror needs one")
    if getattr(tower, "cls_emb", None) is not None:
        raise ValueError(f"CLIP '{name}' text tower uses a CLS token; mirror needs a causal CLIP text tower")
    return tower


def is_text_key(key: str) -> bool:
    """Whether a CLIP state-dict key belongs to the text encoder (everything but the image tower
    `visual.*` and the shared temperature/bias)."""
    return not key.startswith("visual.") and key not in ("logit_scale", "logit_bias")


def with_random_towers(model: nn.Module, name: str, image: str = "pretrained", text: str = "pretrained",
                       image_seed: int = 0, text_seed: int = 0) -> nn.Module:
    """A frozen copy of `model` whose image tower and/or text encoder are replaced by randomly
    initialised ones of the same architecture; `model` itself is untouched.

    A random tower is the same tower of `load_clip(name, None, seed=...)` rounded to fp16 (open_clip's
    own initialisation), so it is rebuilt bit-identically from its seed and a random image tower of
    seed k equals the image tower of the random-init CLIP of seed k. The temperature stays the
    model's own. Returns `model` itself when both towers stay. Raises ValueError for unknown choices.
    """
    import copy

    for what, choice in (("image tower", image), ("text encoder", text)):
        if choice not in TOWERS:
            raise ValueError(f"{what} must be one of {TOWERS}, got {choice!r}")
    if image == text == "pretrained":
        return model
    composed = copy.deepcopy(model)  # keeps the model's own activations (e.g. QuickGELU of OpenAI tags)
    replaced: dict[str, torch.Tensor] = {}
    for choice, seed, wanted in ((image, image_seed, lambda k: k.startswith("visual.")), (text, text_seed, is_text_key)):
        if choice != "random":
            continue
        with torch.random.fork_rng(devices=[]):
            fresh, _ = load_clip(name, None, seed=seed)
        fp16_round(fresh)
        replaced.update({k: v for k, v in fresh.state_dict().items() if wanted(k)})
    missing = set(replaced) - set(composed.state_dict())
    if missing:
        raise ValueError(f"CLIP '{name}': a fresh model has tensors the loaded one lacks: {sorted(missing)[:4]}")
    composed.load_state_dict(replaced, strict=False)
    composed.eval()
    for param in composed.parameters():
        param.requires_grad_(False)
    return composed


# ---------------------------------------------------------------- sizes

def is_vit(model: nn.Module) -> bool:
    from open_clip.transformer import VisionTransformer

    return isinstance(model.visual, VisionTransformer)


def patch_stride(model: nn.Module) -> int:
    """Pixels per dense-feature cell: the patch size for ViT, 32 for CLIP's ResNets."""
    if is_vit(model):
        return int(model.visual.patch_size[0])
    return 32


def embed_dim(model: nn.Module) -> int:
    """Width of CLIP's joint image-text space."""
    return int(model.visual.output_dim)


def text_width(model: nn.Module) -> int:
    return int(text_tower(model).token_embedding.embedding_dim)


def context_length(model: nn.Module) -> int:
    return int(text_tower(model).positional_embedding.shape[0])


# ---------------------------------------------------------------- image side

def _resize_vit_pos_embed(pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of the patch part of a (1 + gh*gw, C) positional table; the class entry stays."""
    if tuple(old_grid) == tuple(new_grid):
        return pos
    cls_pos, patch_pos = pos[:1], pos[1:]
    channels = patch_pos.shape[-1]
    grid = patch_pos.reshape(1, old_grid[0], old_grid[1], channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bicubic", align_corners=False).to(pos.dtype)
    return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(-1, channels)], dim=0)


def _grid_pos_embed(visual: nn.Module, grid: tuple[int, int]) -> torch.Tensor:
    """The ViT's positional table resized to `grid` (_resize_vit_pos_embed). A frozen table's resized
    copy is kept per grid on the tower (half a millisecond of every 240x320 frame on a CPU otherwise),
    keyed by the table itself, its storage and its in-place version counter, so a replaced, moved or
    reloaded table is never served stale; a table that trains is resized on every call, so gradients reach it."""
    pos = visual.positional_embedding
    if pos.requires_grad and torch.is_grad_enabled():
        return _resize_vit_pos_embed(pos, visual.grid_size, grid)
    cache = visual.__dict__.setdefault("_grid_pos_cache", {})  # grid -> (table, key, resized)
    key = (pos._version, pos.data_ptr(), pos.device, pos.dtype)  # .to() and .half() swap the storage
    hit = cache.get(grid)
    if hit is not None and hit[0] is pos and hit[1] == key:
        return hit[2]
    # Outside inference mode, so the cached tensor is an ordinary one usable in any later mode.
    with torch.inference_mode(False), torch.no_grad():
        resized = _resize_vit_pos_embed(pos, visual.grid_size, grid)
    if len(cache) >= 64:  # frames of many sizes (native scale): keep the cache small
        cache.clear()
    cache[grid] = (pos, key, resized)
    return resized


def quantize_image_tower_int8(model: nn.Module) -> nn.Module:
    """Replace the CLIP's image tower, in place, by a copy whose nn.Linear layers are dynamically
    quantised to int8 (int8 weights; activations quantised per batch as they arrive; PyTorch's
    torch.ao.quantization.quantize_dynamic on its x86/fbgemm CPU kernels). In a ViT these are the
    MLPs; the attention projections and the output projection stay float32. CPU only. Returns `model`."""
    import warnings

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; the API works here
        warnings.simplefilter("ignore")
        model.visual = torch.ao.quantization.quantize_dynamic(model.visual, {nn.Linear}, dtype=torch.qint8)
    return model


def vit_tokens(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A ViT CLIP's pooled embedding (B, D) and dense patch features (B, D, H/stride, W/stride) of
    CLIP-normalised images, from one pass of the image tower.

    Every token goes through ln_post and the output projection; the pooled one is the class token
    (open_clip's pool_type "tok", CLIP's own encode_image) or the mean of the patch tokens ("avg").
    Positional embeddings are resized to the input's patch grid, so any size >= one patch works.
    """
    visual = model.visual
    if getattr(visual, "final_ln_after_pool", False) or visual.pool_type not in ("tok", "avg"):
        raise ValueError("dense features need a ViT with ln_post before pooling and 'tok' or 'avg' pooling")
    x = visual.conv1(images.to(next(visual.parameters()).dtype))
    batch, width, grid_h, grid_w = x.shape
    x = x.flatten(2).transpose(1, 2)
    cls_token = visual.class_embedding.to(x.dtype).expand(batch, 1, width)
    pos = _grid_pos_embed(visual, (grid_h, grid_w))
    x = torch.cat([cls_token, x], dim=1) + pos.to(x.dtype)
    x = visual.ln_post(visual.transformer(visual.ln_pre(x)))
    pooled = x[:, 0] if visual.pool_type == "tok" else x[:, 1:].mean(dim=1)
    dense = x[:, 1:] @ visual.proj
    return pooled @ visual.proj, dense.transpose(1, 2).reshape(batch, -1, grid_h, grid_w)


def dense_image_features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """CLIP-normalised images (B, 3, H, W) -> features in the joint space, (B, D, H/stride, W/stride).

    ViT: every patch token goes through ln_post and the output projection (the class token is
    dropped, nothing is pooled); positional embeddings are resized to the input's patch grid
    (vit_tokens). ResNet: the last feature map goes through the attention pool's value and output
    projections at every position (the attention itself is skipped, as DepthCLIP does).
    """
    visual = model.visual
    x = images.to(next(visual.parameters()).dtype)
    if is_vit(model):
        return vit_tokens(model, x)[1]

    x = resnet_feature_map(model, x)
    pool = visual.attnpool
    x = x.permute(0, 2, 3, 1)
    x = F.linear(F.linear(x, pool.v_proj.weight, pool.v_proj.bias), pool.c_proj.weight, pool.c_proj.bias)
    return x.permute(0, 3, 1, 2).contiguous()


def resnet_feature_map(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A CLIP ResNet's stem and layer1-4 output (B, C, H/32, W/32), before the attention pool."""
    visual = model.visual
    x = visual.stem(images.to(next(visual.parameters()).dtype))
    return visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))


# ---------------------------------------------------------------- text side

def token_embeddings(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Token ids (..., L) -> the embeddings CLIP's text encoder would start from, (..., L, width)."""
    return text_tower(model).token_embedding(tokens)


def encode_text_embeddings(model: nn.Module, embeddings: torch.Tensor) -> torch.Tensor:
    """Run CLIP's text encoder on input embeddings (N, L, width), L <= context length.

    Exactly the path of `encode_text` after the token lookup: positional embedding of the first L
    positions, the transformer under CLIP's causal mask, ln_final and the text projection, applied
    to every position (no pooling). Returns (N, L, D).
    """
    tower = text_tower(model)
    length = embeddings.shape[1]
    limit = tower.positional_embedding.shape[0]
    if length > limit:
        raise ValueError(f"text input has {length} positions but CLIP's context length is {limit}")
    cast_dtype = tower.transformer.get_cast_dtype()
    x = embeddings.to(cast_dtype) + tower.positional_embedding[:length].to(cast_dtype)
    mask = getattr(tower, "attn_mask", None)
    if mask is not None:
        mask = mask[:length, :length]
    x = tower.transformer(x, attn_mask=mask)
    x = tower.ln_final(x)
    projection = tower.text_projection
    if projection is None:
        return x
    if isinstance(projection, nn.Linear):
        return projection(x)
    return x @ projection


def encode_tokens(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP's encode_text for padded token ids (N, context) -> (N, D), computed on the first L
    positions only, L = the longest caption's end token + 1. The causal mask keeps every position
    blind to the padding after it, so this is encode_text exactly, at a fraction of the cost for
    short captions. Needs a causal CLIP text tower pooled at its end token (the largest id)."""
    if getattr(text_tower(model), "text_pool_type", "argmax") != "argmax":
        return model.encode_text(tokens)
    ends = tokens.argmax(dim=-1)
    length = int(ends.max()) + 1
    outputs = encode_text_embeddings(model, token_embeddings(model, tokens[:, :length]))
    return outputs[torch.arange(len(tokens)), ends]


@functools.lru_cache(maxsize=8)
def get_tokenizer(name: str):
    """open_clip's tokenizer for a CLIP name (the tiny configs use CLIP's BPE tokenizer); built once
    per name (reading the BPE merges takes a fifth of a second) and shared, as it holds no state."""
    import open_clip

    register_tiny_configs()
    return open_clip.get_tokenizer(name.replace("/", "-"))


def logit_scale(model: nn.Module) -> torch.Tensor:
    """CLIP's temperature as a multiplier, capped at 100 as in CLIP training."""
    return model.logit_scale.detach().exp().clamp(max=100.0)


def fp16_round(model: nn.Module) -> None:
    """Round float weights to fp16 precision in place, so a model saved in fp16 reloads bit-identical."""
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().to(tensor.dtype))

