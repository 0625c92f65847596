"""What goes into the frozen text encoder in place of token embeddings: the learned mirror or an
ablation of it. All sources are (L, text_width) matrices; the decoder always reads the last s outputs.

- learned:        the trained mirror itself (s rows).
- zeros:          an all-zero matrix of mirror's shape: only positional embeddings reach the encoder.
- random:         Gaussian rows (fixed seed) with the standard deviation of CLIP's token-embedding table.
- prompt:         a human prompt tokenised as CLIP tokenises it (start token, subwords, end token),
                  repeated back to back until it fills s positions. Every position the decoder
                  reads then holds a real word of the prompt, as every position of mirror holds a
                  learned row; CLIP's padding (which would fill most of the s positions of a short
                  prompt) is never read.
- prompt+mirror:  the prompt's start token and subword embeddings (no end token) followed by mirror,
                  cut to CLIP's context length; the decoder reads the last s outputs, i.e. mirror's
                  positions, now conditioned on the prompt through the causal attention.

With no text encoder on the path (the model's text_path "none"), mirror is (s, D) and is the outputs
itself; there, "zeros" gives all-zero outputs (every map is 0), "random" unit Gaussian rows (fixed
seed), and the two prompt sources do not exist (joint_space_outputs).
"""
from __future__ import annotations

import torch
from torch import nn

from . import clip_backbone

SOURCES = ("learned", "zeros", "random", "prompt", "prompt+mirror")
DEFAULT_PROMPT = "How far is this location from the camera?"
RANDOM_SEED = 0


def check_source(name: str) -> str:
    if name not in SOURCES:
        raise ValueError(f"unknown mirror source '{name}'; choose one of {', '.join(SOURCES)}")
    return name


def prompt_token_ids(tokenizer, prompt: str) -> torch.Tensor:
    """CLIP's padded token ids for one prompt, (context_length,)."""
    return tokenizer([prompt])[0].long()


def source_embeddings(
    source: str,
    mirror: torch.Tensor,
    clip: nn.Module,
    tokenizer,
    prompt: str = DEFAULT_PROMPT,
    seed: int = RANDOM_SEED,
) -> torch.Tensor:
    """The (L, text_width) input embeddings for `source`; L = s except for prompt+mirror."""
    check_source(source)
    num_tokens = mirror.shape[0]
    if source == "learned":
        return mirror
    if source == "zeros":
        return torch.zeros_like(mirror)
    table = clip_backbone.text_tower(clip).token_embedding.weight
    if source == "random":
        generator = torch.Generator().manual_seed(seed)
        rows = torch.randn(mirror.shape, generator=generator) * table.detach().float().std()
        return rows.to(device=mirror.device, dtype=mirror.dtype)

    ids = prompt_token_ids(tokenizer, prompt).to(table.device)
    end_id = int(ids.max())  # CLIP's end-of-text id is the largest id in the vocabulary
    end_pos = int(ids.argmax())
    if source == "prompt":
        words = ids[: end_pos + 1]  # start token, subwords, end token
        repeats = -(-num_tokens // len(words))
        tiled = words.repeat(repeats)[:num_tokens].clone()
        if end_pos >= num_tokens:  # a prompt longer than s: keep its start, end it properly
            tiled[-1] = end_id
        return clip_backbone.token_embeddings(clip, tiled).to(mirror.dtype)
    # prompt+mirror
    prefix = clip_backbone.token_embeddings(clip, ids[:end_pos]).to(mirror.dtype)
    limit = clip_backbone.context_length(clip)
    return torch.cat([prefix, mirror], dim=0)[:limit]


def joint_space_outputs(source: str, mirror: torch.Tensor, seed: int = RANDOM_SEED) -> torch.Tensor:
    """The (s, D) outputs of a model with no text encoder: mirror's rows themselves, zeros, or
    Gaussian rows (fixed seed). Raises ValueError for the prompt sources, which need a text encoder."""
    check_source(source)
    if source == "learned":
        return mirror
    if source == "zeros":
        return torch.zeros_like(mirror)
    if source == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(mirror.shape, generator=generator).to(device=mirror.device, dtype=mirror.dtype)
    raise ValueError(f"mirror source '{source}' needs a text encoder; this model has none (text_path 'none'): "
                     f"use learned, zeros or random")
