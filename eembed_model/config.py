"""Model configuration for elementwise-embedding encoders and their baselines."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from common.config import checked_fields

from .materials import LONG_WORDS, MATERIAL_LEVELS

ENCODERS = ("bert", "albert", "canine")
EMBEDDINGS = ("elementwise", "subword", "hash")


@dataclass
class EEmbedConfig:
    encoder: str = "bert"            # the transformers class: bert (BertModel), albert (AlbertModel), canine (CanineModel)
    embedding: str = "elementwise"   # elementwise (256 x c byte table), subword (vocab x w table), hash (CANINE's own)
    v: int = 8                       # bytes per material; also the number of attention heads
    c: int = 24                      # element width; hidden width w = v * c
    layers: int = 3                  # transformer layers (CANINE: of its deep stack)
    aligned: bool = False            # elementwise BERT only: head n's first-layer Q/K/V read only byte slice n
    intermediate_mult: int = 4       # feed-forward width = intermediate_mult * w
    max_len: int = 32                # positions per sequence including [CLS] and [SEP]
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    vocab_size: int = 0              # subword only: size of the WordPiece table
    pad_id: int = 0                  # subword only: id of [PAD]
    material_level: str = "word"     # elementwise only: word | subword | char | codepoint
    long_words: str = "spell"        # a spelling longer than v bytes: spell on over more rows, or truncate
    num_labels: int = 0              # > 0 adds the multilabel head
    pooling: str = "cls"             # multilabel input: "cls" ([CLS] state, as BERT) or "mean" (real materials)
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.v < 4:
            raise ValueError(f"v must be at least 4 (a UTF-8 character can take 4 bytes), got {self.v}")
        if self.c < 1 or self.layers < 1 or self.max_len < 3:
            raise ValueError("c and layers must be >= 1 and max_len >= 3")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.long_words not in LONG_WORDS:
            raise ValueError(f"long_words must be one of {LONG_WORDS}, got {self.long_words!r}")
        if self.material_level not in MATERIAL_LEVELS:
            raise ValueError(f"material_level must be one of {MATERIAL_LEVELS}, got {self.material_level!r}")
        if self.aligned and (self.embedding != "elementwise" or self.encoder != "bert"):
            raise ValueError("aligned needs the elementwise embedding in the BERT encoder: only BERT's first layer "
                             "reads the byte slices directly (ALBERT maps the embedding first, CANINE convolves)")
        if self.embedding == "subword" and self.vocab_size < 5:
            raise ValueError("a subword model needs vocab_size (the WordPiece table size)")
        if self.embedding == "subword" and self.encoder == "canine":
            raise ValueError("CANINE reads characters: use the elementwise or its own hash embedding, not subword")
        if self.embedding == "hash" and self.encoder != "canine":
            raise ValueError("the hash embedding is CANINE's own: use it with encoder='canine'")
        if self.encoder == "canine" and self.material_level != "codepoint":
            raise ValueError("CANINE reads every character, spaces included: use material_level='codepoint'")

    @property
    def width(self) -> int:
        return self.v * self.c

    @property
    def heads(self) -> int:
        # One head per byte position: head n lines up with the n-th element of every material.
        return self.v

    @property
    def byte_level_inputs(self) -> bool:
        """True when the inputs are byte grids (B, L, v); False for ids (B, L)."""
        return self.embedding == "elementwise"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, what: str = "eembed model config") -> EEmbedConfig:
        """Strict: a field this code does not know is a one-line ValueError naming it (a card
        written by other code must not load with settings silently dropped). Missing fields take
        their defaults. A config written before the transformers encoders (no `encoder` field) is
        read as that code built it (eembed_model.legacy)."""
        if "encoder" not in data:
            from .legacy import legacy_config

            data = legacy_config(data)
        return cls(**checked_fields(cls, data, what))
