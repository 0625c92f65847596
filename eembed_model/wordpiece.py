"""WordPiece table for the subword baseline, trained with `tokenizers` on training texts only."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .materials import SPECIAL_TOKEN_NAMES

# The trainer gives the special tokens the first ids, in this order (materials.SPECIAL_TOKENS):
# [PAD] must be id 0 (config.pad_id), and masking draws random ids from the ones after these.
WORDPIECE_SPECIALS = list(SPECIAL_TOKEN_NAMES)


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> Tokenizer:
    """Case-preserving WordPiece after NFC and BERT's CJK rule, with BERT's whitespace+punctuation
    pre-split: the same normalisation and split as the elementwise model's word materials
    (materials.split_words), so both models see the same text units."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=WORDPIECE_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_wordpiece(path: str | Path) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WordPiece tokenizer file not found: {path} (train one with eembed_model.train)")
    return Tokenizer.from_file(str(path))


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    ids = {name: tokenizer.token_to_id(name) for name in WORDPIECE_SPECIALS}
    missing = [name for name, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"tokenizer lacks special tokens {missing}; train it with train_wordpiece")
    return ids
