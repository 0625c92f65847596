"""Materials: split text into semantic units and spell each one as exactly v UTF-8 bytes.

A *material* is any unit a tokenizer produces (word, subword, character). Its spelling is encoded
as a row of v byte values, the *byte grid* row the elementwise embedding reads.

Reserved byte values. Valid UTF-8 never contains the bytes 0xF8-0xFF, so they can mark things
that are not text without any chance of colliding with a real spelling:

    0xF8-0xFC  the special tokens, one byte each (SPECIAL_TOKENS below is the one list of them)
    0xFF       filler: fills the unused tail of a material shorter than v bytes

A special token is a row whose v bytes all hold its reserved value, so every head (head n reads
byte n) sees the marker. Filler is a reserved value of its own rather than 0x00 because NUL is a
legal UTF-8 character; with 0xFF the end of a spelling is unambiguous.

Text is NFC-normalised first (text pasted from macOS is often NFD: `cafe` + a combining accent),
and word materials come from BERT's own normaliser and pre-tokenizer (`tokenizers`): whitespace
and punctuation split, every CJK ideograph a material of its own, the same units the WordPiece
baseline starts from.

A spelling longer than v bytes is *spelled on* over as many consecutive rows as it needs
(long_words="spell", the default), each row holding whole characters only, so the bytes of the
rows, filler removed, are the word's UTF-8 bytes exactly. long_words="truncate" keeps the first
row only (cut at the last whole character that fits), as models trained before spelling did.
v must be at least 4 so that any single character fits in a row.
"""
from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

# The special tokens, the one list of them in the package. Both embeddings take their specials
# from here:
#   * the order is the WordPiece id order (wordpiece.WORDPIECE_SPECIALS): [PAD] is id 0, which is
#     config.pad_id, and the subword masking draws random replacements from the ids after these;
#   * the value is the reserved byte that fills a special row of the elementwise byte grid.
# Both are fixed by trained checkpoints (their element tables and tokenizer.json files): append
# new tokens at the end with a free reserved byte, never reorder or renumber.
SPECIAL_TOKENS: dict[str, int] = {
    "[PAD]": 0xFB,
    "[UNK]": 0xFC,
    "[CLS]": 0xF8,
    "[SEP]": 0xF9,
    "[MASK]": 0xFA,
}
SPECIAL_TOKEN_NAMES: tuple[str, ...] = tuple(SPECIAL_TOKENS)
# The tokens that frame a text rather than stand for a piece of it: never chosen as masking targets.
FRAME_TOKENS: tuple[str, ...] = ("[CLS]", "[SEP]", "[PAD]")

CLS_BYTE = SPECIAL_TOKENS["[CLS]"]
SEP_BYTE = SPECIAL_TOKENS["[SEP]"]
MASK_BYTE = SPECIAL_TOKENS["[MASK]"]
PAD_BYTE = SPECIAL_TOKENS["[PAD]"]
UNK_BYTE = SPECIAL_TOKENS["[UNK]"]
FRAME_BYTES: tuple[int, ...] = tuple(SPECIAL_TOKENS[name] for name in FRAME_TOKENS)
FILLER_BYTE = 0xFF

_SPECIAL_BY_BYTE = {value: name for name, value in SPECIAL_TOKENS.items()}
RESERVED_BYTES = frozenset(range(0xF8, 0x100))
MATERIAL_LEVELS = ("word", "subword", "char", "codepoint")

LONG_WORDS = ("spell", "truncate")


def normalize(text: str) -> str:
    """NFC, the composed form BERT-style tokenizers and most keyboards produce."""
    return unicodedata.normalize("NFC", text)


@lru_cache(maxsize=1)
def _bert_word_splitter():
    # BERT's normaliser with only its CJK rule on (no lowercasing, no accent stripping, no control
    # character clean-up), then BERT's whitespace + punctuation pre-tokenizer.
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.BertNormalizer(
        clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)])
    return normalizer, pre_tokenizers.BertPreTokenizer()


def split_words(text: str) -> list[str]:
    """BERT's pre-tokenization after NFC: 'lib-foo 2.0' -> ['lib', '-', 'foo', '2', '.', '0'];
    '我们' -> ['我', '们'] (each CJK ideograph apart, as BERT's normaliser puts spaces around them)."""
    normalizer, pre_tokenizer = _bert_word_splitter()
    return [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]


def split_chars(text: str) -> list[str]:
    """Every non-whitespace character (after NFC) is a material."""
    return [ch for ch in normalize(text) if not ch.isspace()]


def split_codepoints(text: str) -> list[str]:
    """Every character (after NFC), whitespace included: what a character-level encoder such as
    CANINE reads."""
    return list(normalize(text))


def subword_splitter(tokenizer) -> Callable[[str], list[str]]:
    """Materials from a `tokenizers.Tokenizer` (which applies its own normaliser); WordPiece
    continuation marks ('##') are dropped because the spelling, not the marker, is what the
    elementwise embedding should see."""
    prefix = "##"
    model = getattr(tokenizer, "model", None)
    if model is not None and hasattr(model, "continuing_subword_prefix"):
        prefix = model.continuing_subword_prefix or prefix

    def split(text: str) -> list[str]:
        tokens = tokenizer.encode(normalize(text), add_special_tokens=False).tokens
        return [t[len(prefix):] if t.startswith(prefix) and len(t) > len(prefix) else t for t in tokens]

    return split


def make_splitter(level: str = "word", tokenizer=None) -> Callable[[str], list[str]]:
    if level == "word":
        return split_words
    if level == "char":
        return split_chars
    if level == "codepoint":
        return split_codepoints
    if level == "subword":
        if tokenizer is None:
            raise ValueError("material level 'subword' needs a tokenizers.Tokenizer (pass tokenizer=...)")
        return subword_splitter(tokenizer)
    raise ValueError(f"unknown material level {level!r}; choose one of {', '.join(MATERIAL_LEVELS)}")


def _check_v(v: int) -> None:
    if v < 4:
        raise ValueError(f"v must be at least 4 (one UTF-8 character can take 4 bytes), got {v}")


def spelling_pieces(material: str, v: int) -> list[str]:
    """The material cut into consecutive pieces of whole characters, each at most v UTF-8 bytes
    ('abcdefgé', v=8 -> ['abcdefg', 'é']: the 2-byte é does not fit after 7 bytes). An empty
    material is one empty piece."""
    _check_v(v)
    pieces, current, used = [], [], 0
    for ch in material:
        size = len(ch.encode("utf-8"))
        if used + size > v:
            pieces.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    pieces.append("".join(current))
    return pieces


def truncate_spelling(material: str, v: int) -> str:
    """Longest prefix of whole characters whose UTF-8 spelling fits in v bytes."""
    return spelling_pieces(material, v)[0]


def encode_material(material: str, v: int) -> list[int]:
    """Exactly v byte values for one material that fits in v bytes (longer ones: their first piece,
    see spelling_pieces), filler-padded. Always spells the text, even "[CLS]": special rows come
    only from special_row()."""
    raw = truncate_spelling(material, v).encode("utf-8")
    return list(raw) + [FILLER_BYTE] * (v - len(raw))


def spell_material(material: str, v: int, long_words: str = "spell") -> tuple[list[str], list[list[int]]]:
    """(pieces, rows) of one material: one row when it fits, else one row per piece ("spell") or
    the first piece alone ("truncate")."""
    if long_words not in LONG_WORDS:
        raise ValueError(f"long_words must be one of {LONG_WORDS}, got {long_words!r}")
    pieces = spelling_pieces(material, v)
    if long_words == "truncate":
        pieces = pieces[:1]
    return pieces, [encode_material(piece, v) for piece in pieces]


def special_row(name: str, v: int) -> list[int]:
    if name not in SPECIAL_TOKENS:
        raise ValueError(f"unknown special token {name!r}; known: {', '.join(SPECIAL_TOKENS)}")
    return [SPECIAL_TOKENS[name]] * v


def row_bytes(row: Sequence[int]) -> bytes:
    """The spelled bytes of a row: its values without filler and reserved markers."""
    return bytes(int(b) for b in row if int(b) not in RESERVED_BYTES)


def decode_material(row: Sequence[int]) -> str:
    """Inverse of encode_material: the row's spelling, or the special token name."""
    values = [int(b) for b in row]
    if not values:
        return ""
    if values[0] in _SPECIAL_BY_BYTE and all(b == values[0] for b in values):
        return _SPECIAL_BY_BYTE[values[0]]
    return row_bytes(values).decode("utf-8", errors="replace")


def nth_character_of_row(row: Sequence[int], n: int) -> str:
    """The character whose UTF-8 bytes cover byte n of a spelled row; '' when byte n is filler or a
    reserved marker (so a label never names a character the row does not hold)."""
    values = [int(b) for b in row]
    if n >= len(values) or values[n] in RESERVED_BYTES:
        return ""
    position = 0
    for ch in row_bytes(values).decode("utf-8", errors="replace"):
        size = len(ch.encode("utf-8"))
        if position <= n < position + size:
            return ch
        position += size
    return ""


def encode_materials(materials: Iterable[str], v: int) -> list[list[int]]:
    return [encode_material(m, v) for m in materials]


def decode_grid(grid: Iterable[Sequence[int]]) -> list[str]:
    return [decode_material(row) for row in grid]


@dataclass
class SpelledText:
    """One text as rows of the byte grid, [CLS] and [SEP] included.

    materials[i] is what row i spells (a piece of a long word, or the special token's name);
    word_index[i] is the word that row belongs to (-1 for [CLS]/[SEP]), so the rows of one long
    word share an index; truncated says that part of the text is not in the grid (rows beyond
    max_materials, or a word cut with long_words="truncate").
    """
    materials: list[str]
    grid: list[list[int]]
    word_index: list[int] = field(default_factory=list)
    truncated: bool = False


def encode_text(text: str, v: int, splitter: Callable[[str], list[str]] = split_words,
                max_materials: int | None = None, add_special: bool = True,
                long_words: str = "spell") -> SpelledText:
    """Rows of a text: every material spelled (over several rows when longer than v bytes, unless
    long_words="truncate"), cut to max_materials rows, then wrapped in [CLS] ... [SEP]."""
    split = splitter(text)
    materials, grid, words, truncated = [], [], [], False
    for index, material in enumerate(split):
        pieces, rows = spell_material(material, v, long_words)
        truncated = truncated or len(pieces) < len(spelling_pieces(material, v))
        materials += pieces
        grid += rows
        words += [index] * len(rows)
        if max_materials is not None and len(grid) >= max_materials:
            truncated = truncated or len(grid) > max_materials or index + 1 < len(split)
            materials, grid, words = materials[:max_materials], grid[:max_materials], words[:max_materials]
            break
    if add_special:
        materials = ["[CLS]", *materials, "[SEP]"]
        grid = [special_row("[CLS]", v), *grid, special_row("[SEP]", v)]
        words = [-1, *words, -1]
    return SpelledText(materials, grid, words, truncated)


@dataclass
class CorpusReport:
    """How well v bytes cover a corpus's materials."""
    v: int
    level: str
    total_materials: int
    distinct_materials: int
    share_longer_than_v: float          # over all material occurrences
    share_distinct_longer_than_v: float
    colliding_materials: int            # long_words="truncate": distinct materials sharing a grid row with another
    collision_groups: int               # long_words="truncate": rows shared by more than one distinct material
    examples: list[list[str]]           # a few colliding groups, for the eye
    rows_per_material: float = 1.0      # long_words="spell": grid rows per material occurrence (the cost of no cut)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def corpus_report(texts: Iterable[str], v: int, level: str = "word", tokenizer=None,
                  max_examples: int = 5) -> CorpusReport:
    splitter = make_splitter(level, tokenizer)
    counts: dict[str, int] = defaultdict(int)
    for text in texts:
        for m in splitter(text):
            counts[m] += 1
    total = sum(counts.values())
    long_total = sum(n for m, n in counts.items() if len(m.encode("utf-8")) > v)
    long_distinct = sum(1 for m in counts if len(m.encode("utf-8")) > v)
    by_grid: dict[str, list[str]] = defaultdict(list)
    for m in counts:
        by_grid[truncate_spelling(m, v)].append(m)
    groups = [sorted(ms) for ms in by_grid.values() if len(ms) > 1]
    groups.sort(key=len, reverse=True)
    return CorpusReport(
        v=v, level=level, total_materials=total, distinct_materials=len(counts),
        share_longer_than_v=long_total / total if total else 0.0,
        share_distinct_longer_than_v=long_distinct / len(counts) if counts else 0.0,
        colliding_materials=sum(len(g) for g in groups), collision_groups=len(groups),
        examples=[g[:6] for g in groups[:max_examples]],
        rows_per_material=sum(n * len(spelling_pieces(m, v)) for m, n in counts.items()) / total if total else 1.0,
    )
