"""Model configuration for elementwise-embedding BERT and its subword baseline."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from common.config import checked_fields

EMBEDDINGS = ("elementwise", "subword")


@dataclass
class EEmbedConfig:
    embedding: str = "elementwise"   # "elementwise" (256 x c byte table) or "subword" (vocab x w table)
    v: int = 8                       # bytes per material; also the number of attention heads
    c: int = 24                      # element width; hidden width w = v * c
    layers: int = 3
    share_layers: bool = False       # ALBERT-style: one encoder layer applied `layers` times
    aligned: bool = False            # elementwise only: head n's first-layer Q/K/V read only byte slice n
    intermediate_mult: int = 4       # feed-forward width = intermediate_mult * w
    max_len: int = 32                # materials per sequence including [CLS] and [SEP]
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    vocab_size: int = 0              # subword only: size of the WordPiece table
    pad_id: int = 0                  # subword only: id of [PAD]
    material_level: str = "word"     # elementwise only: word | subword | char
    num_labels: int = 0              # > 0 adds the multilabel head
    pooling: str = "cls"             # multilabel input: "cls" ([CLS] state, as BERT) or "mean" (real materials)
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.v < 4:
            raise ValueError(f"v must be at least 4 (a UTF-8 character can take 4 bytes), got {self.v}")
        if self.c < 1 or self.layers < 1 or self.max_len < 3:
            raise ValueError("c and layers must be >= 1 and max_len >= 3")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.aligned and (self.embedding != "elementwise" or self.share_layers):
            raise ValueError("aligned needs the elementwise embedding and distinct layers (not share_layers): "
                             "only the first layer is block-diagonal")
        if self.embedding == "subword" and self.vocab_size < 5:
            raise ValueError("a subword model needs vocab_size (the WordPiece table size)")

    @property
    def width(self) -> int:
        return self.v * self.c

    @property
    def heads(self) -> int:
        # One head per byte position: head n lines up with the n-th element of every material.
        return self.v

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, what: str = "eembed model config") -> EEmbedConfig:
        """Strict: a field this code does not know is a one-line ValueError naming it (a card
        written by other code must not load with settings silently dropped). Missing fields take
        their defaults."""
        return cls(**checked_fields(cls, data, what))
