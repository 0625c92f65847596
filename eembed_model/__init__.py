"""Elementwise-embedding BERT: materials spelled as v UTF-8 bytes, a 256 x c element table,
h = v attention heads; a subword (WordPiece) baseline on the same encoder; debtags data,
training, evaluation and an attention API."""
from .config import EEmbedConfig
from .model import EEmbedModel, ElementwiseEmbedding, EncoderOutput, SubwordEmbedding

__all__ = ["EEmbedConfig", "EEmbedModel", "ElementwiseEmbedding", "EncoderOutput", "SubwordEmbedding"]
