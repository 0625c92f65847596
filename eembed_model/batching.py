"""Texts -> padded tensors for either embedding, and BERT-style material masking."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .config import EEmbedConfig
from .materials import (
    FRAME_BYTES,
    FRAME_TOKENS,
    MASK_BYTE,
    PAD_BYTE,
    encode_text,
    make_splitter,
    normalize,
    special_row,
)


@dataclass
class Batch:
    inputs: torch.Tensor          # elementwise (B, L, v) byte values; subword (B, L) ids
    attention_mask: torch.Tensor  # (B, L) bool, False on [PAD]
    special_mask: torch.Tensor    # (B, L) bool, True on FRAME_TOKENS [CLS]/[SEP]/[PAD] (never masked for MLM)
    materials: list[list[str]]    # the materials per text, [CLS]/[SEP] included (rows of a spelled-on word apart)
    truncated: list[bool] = field(default_factory=list)      # per text: part of it is not in the batch
    word_index: list[list[int]] = field(default_factory=list)  # per text and row: its word (-1: [CLS]/[SEP])
    targets: torch.Tensor | None = None  # masked-material targets when they are not the inputs (CANINE hash: bytes)


class ElementwiseTextEncoder:
    """Splits texts into materials and spells each as v bytes (long words over several rows unless
    long_words="truncate"), at most max_len rows per text with [CLS] and [SEP]."""

    def __init__(self, v: int, max_len: int, level: str = "word", tokenizer=None, long_words: str = "spell"):
        self.v, self.max_len, self.level, self.long_words = v, max_len, level, long_words
        self.splitter = make_splitter(level, tokenizer)

    def __call__(self, texts: list[str]) -> Batch:
        encoded = [encode_text(t, self.v, self.splitter, max_materials=self.max_len - 2, long_words=self.long_words)
                   for t in texts]
        length = max(len(e.grid) for e in encoded)
        pad = special_row("[PAD]", self.v)
        grids = [e.grid + [pad] * (length - len(e.grid)) for e in encoded]
        inputs = torch.tensor(grids, dtype=torch.long)
        first = inputs[..., 0]
        attention_mask = first != PAD_BYTE
        special_mask = torch.isin(first, torch.tensor(FRAME_BYTES))
        return Batch(inputs, attention_mask, special_mask, [e.materials for e in encoded],
                     [e.truncated for e in encoded], [e.word_index for e in encoded])


class SubwordTextEncoder:
    """WordPiece ids with [CLS] ... [SEP], cut to max_len."""

    def __init__(self, tokenizer, max_len: int):
        from .wordpiece import special_ids
        self.tokenizer, self.max_len = tokenizer, max_len
        self.ids = special_ids(tokenizer)

    def __call__(self, texts: list[str]) -> Batch:
        rows, materials, truncated, words = [], [], [], []
        for text in texts:
            enc = self.tokenizer.encode(normalize(text), add_special_tokens=False)
            keep = self.max_len - 2
            ids = [self.ids["[CLS]"], *enc.ids[:keep], self.ids["[SEP]"]]
            rows.append(ids)
            materials.append(["[CLS]", *enc.tokens[:keep], "[SEP]"])
            truncated.append(len(enc.ids) > keep)
            words.append([-1, *[-1 if w is None else w for w in enc.word_ids[:keep]], -1])
        length = max(len(r) for r in rows)
        inputs = torch.tensor([r + [self.ids["[PAD]"]] * (length - len(r)) for r in rows], dtype=torch.long)
        attention_mask = inputs != self.ids["[PAD]"]
        special_mask = torch.isin(inputs, torch.tensor([self.ids[name] for name in FRAME_TOKENS]))
        return Batch(inputs, attention_mask, special_mask, materials, truncated, words)


# CANINE's special code points (Unicode private use area; padding is code point 0).
CANINE_SPECIALS = {"[PAD]": 0, "[CLS]": 0xE000, "[SEP]": 0xE001, "[MASK]": 0xE003}


class CodepointTextEncoder:
    """CANINE's input: one code point per character (NFC, spaces included), [CLS] ... [SEP], cut
    to max_len; the masked-material targets are the characters' v-byte rows, as in the
    elementwise model, so both CANINE variants learn the same objective."""

    def __init__(self, v: int, max_len: int):
        self.v, self.max_len = v, max_len
        self.bytes = ElementwiseTextEncoder(v, max_len, "codepoint")

    def __call__(self, texts: list[str]) -> Batch:
        spelled = self.bytes(texts)
        ids = torch.zeros(spelled.inputs.shape[:2], dtype=torch.long)
        for row, materials in enumerate(spelled.materials):
            ids[row, :len(materials)] = torch.tensor([CANINE_SPECIALS[m] if m in ("[CLS]", "[SEP]") else ord(m)
                                                      for m in materials])
        return Batch(ids, spelled.attention_mask, spelled.special_mask, spelled.materials, spelled.truncated,
                     spelled.word_index, targets=spelled.inputs)


def make_text_encoder(config: EEmbedConfig, tokenizer=None):
    if config.embedding == "hash":
        return CodepointTextEncoder(config.v, config.max_len)
    if config.embedding == "elementwise":
        level_tokenizer = tokenizer if config.material_level == "subword" else None
        return ElementwiseTextEncoder(config.v, config.max_len, config.material_level, level_tokenizer,
                                      config.long_words)
    if tokenizer is None:
        raise ValueError("a subword model needs its WordPiece tokenizer (tokenizer.json in the checkpoint)")
    return SubwordTextEncoder(tokenizer, config.max_len)


def mask_materials(batch: Batch, config: EEmbedConfig, rate: float = 0.15,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT recipe at material level: pick `rate` of the real materials; of those 80 % -> [MASK],
    10 % -> a random material, 10 % unchanged. Returns (masked inputs, targets, target_mask); the
    targets are the inputs, except for CANINE's hash model (code points in, bytes out)."""
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
    if config.embedding in ("elementwise", "hash"):
        masked[to_mask] = MASK_BYTE if config.embedding == "elementwise" else CANINE_SPECIALS["[MASK]"]
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
    return masked, inputs if batch.targets is None else batch.targets, chosen
