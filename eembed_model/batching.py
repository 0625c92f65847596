"""Texts -> padded tensors for either embedding, and BERT-style material masking."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import EEmbedConfig
from .materials import FRAME_BYTES, FRAME_TOKENS, MASK_BYTE, PAD_BYTE, encode_text, make_splitter, special_row


@dataclass
class Batch:
    inputs: torch.Tensor          # elementwise (B, L, v) byte values; subword (B, L) ids
    attention_mask: torch.Tensor  # (B, L) bool, False on [PAD]
    special_mask: torch.Tensor    # (B, L) bool, True on FRAME_TOKENS [CLS]/[SEP]/[PAD] (never masked for MLM)
    materials: list[list[str]]    # the materials per text, [CLS]/[SEP] included


class ElementwiseTextEncoder:
    """Splits texts into materials and spells each as v bytes."""

    def __init__(self, v: int, max_len: int, level: str = "word", tokenizer=None):
        self.v, self.max_len, self.level = v, max_len, level
        self.splitter = make_splitter(level, tokenizer)

    def __call__(self, texts: list[str]) -> Batch:
        encoded = [encode_text(t, self.v, self.splitter, max_materials=self.max_len - 2) for t in texts]
        length = max(len(m) for m, _ in encoded)
        pad = special_row("[PAD]", self.v)
        grids = [g + [pad] * (length - len(g)) for _, g in encoded]
        inputs = torch.tensor(grids, dtype=torch.long)
        first = inputs[..., 0]
        attention_mask = first != PAD_BYTE
        special_mask = torch.isin(first, torch.tensor(FRAME_BYTES))
        return Batch(inputs, attention_mask, special_mask, [m for m, _ in encoded])


class SubwordTextEncoder:
    """WordPiece ids with [CLS] ... [SEP], cut to max_len."""

    def __init__(self, tokenizer, max_len: int):
        from .wordpiece import special_ids
        self.tokenizer, self.max_len = tokenizer, max_len
        self.ids = special_ids(tokenizer)

    def __call__(self, texts: list[str]) -> Batch:
        rows, materials = [], []
        for text in texts:
            enc = self.tokenizer.encode(text, add_special_tokens=False)
            ids = [self.ids["[CLS]"], *enc.ids[: self.max_len - 2], self.ids["[SEP]"]]
            rows.append(ids)
            materials.append(["[CLS]", *enc.tokens[: self.max_len - 2], "[SEP]"])
        length = max(len(r) for r in rows)
        inputs = torch.tensor([r + [self.ids["[PAD]"]] * (length - len(r)) for r in rows], dtype=torch.long)
        attention_mask = inputs != self.ids["[PAD]"]
        special_mask = torch.isin(inputs, torch.tensor([self.ids[name] for name in FRAME_TOKENS]))
        return Batch(inputs, attention_mask, special_mask, materials)


def make_text_encoder(config: EEmbedConfig, tokenizer=None):
    if config.embedding == "elementwise":
        level_tokenizer = tokenizer if config.material_level == "subword" else None
        return ElementwiseTextEncoder(config.v, config.max_len, config.material_level, level_tokenizer)
    if tokenizer is None:
        raise ValueError("a subword model needs its WordPiece tokenizer (tokenizer.json in the checkpoint)")
    return SubwordTextEncoder(tokenizer, config.max_len)


def mask_materials(batch: Batch, config: EEmbedConfig, rate: float = 0.15,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT recipe at material level: pick `rate` of the real materials; of those 80 % -> [MASK],
    10 % -> a random material, 10 % unchanged. Returns (masked inputs, targets, target_mask)."""
    inputs = batch.inputs
    shape = inputs.shape[:2]
    candidates = ~batch.special_mask
    chosen = (torch.rand(shape, generator=generator) < rate) & candidates
    # Guarantee at least one target per batch so the loss is always defined.
    if not chosen.any() and candidates.any():
        chosen[candidates.nonzero()[0].unbind()] = True
    roll = torch.rand(shape, generator=generator)
    to_mask = chosen & (roll < 0.8)
    to_random = chosen & (roll >= 0.8) & (roll < 0.9)
    masked = inputs.clone()
    if config.embedding == "elementwise":
        masked[to_mask] = MASK_BYTE
        pool = inputs[candidates]  # random replacements are real materials from the same batch
        if to_random.any() and len(pool):
            pick = torch.randint(len(pool), (int(to_random.sum()),), generator=generator)
            masked[to_random] = pool[pick]
    else:
        from .wordpiece import WORDPIECE_SPECIALS
        masked[to_mask] = WORDPIECE_SPECIALS.index("[MASK]")
        n_special = len(WORDPIECE_SPECIALS)
        if to_random.any():
            masked[to_random] = torch.randint(n_special, config.vocab_size, (int(to_random.sum()),),
                                              generator=generator)
    return masked, inputs, chosen
