"""Elementwise embedding: materials spelled as v UTF-8 bytes, a 256 x c element table in the
word-embedding slot of unmodified transformers encoders (BERT, ALBERT, CANINE), h = v attention
heads; subword (WordPiece) and CANINE hash baselines on the same encoders; debtags data,
training, evaluation and an attention API."""
from .config import EEmbedConfig
from .model import EEmbedModel, ElementwiseEmbedding, EncoderOutput

__all__ = ["EEmbedConfig", "EEmbedModel", "ElementwiseEmbedding", "EncoderOutput"]
