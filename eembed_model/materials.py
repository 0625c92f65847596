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

Spellings longer than v bytes are truncated at the last whole character that fits, so a grid
row always decodes back to valid UTF-8 (the truncated spelling). v must be at least 4 so that any
single character fits.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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
MATERIAL_LEVELS = ("word", "subword", "char")

# Words are runs of letters/digits/underscore; every other non-space character is its own material
# (the same rule as BERT's whitespace + punctuation pre-tokenizer).
_WORD_PATTERN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[str]:
    """Whitespace and punctuation split: 'lib-foo 2.0' -> ['lib', '-', 'foo', '2', '.', '0']."""
    return _WORD_PATTERN.findall(text)


def split_chars(text: str) -> list[str]:
    """Every non-whitespace character is a material."""
    return [ch for ch in text if not ch.isspace()]


def subword_splitter(tokenizer) -> Callable[[str], list[str]]:
    """Materials from a `tokenizers.Tokenizer`; WordPiece continuation marks ('##') are dropped
    because the spelling, not the marker, is what the elementwise embedding should see."""
    prefix = "##"
    model = getattr(tokenizer, "model", None)
    if model is not None and hasattr(model, "continuing_subword_prefix"):
        prefix = model.continuing_subword_prefix or prefix

    def split(text: str) -> list[str]:
        tokens = tokenizer.encode(text, add_special_tokens=False).tokens
        return [t[len(prefix):] if t.startswith(prefix) and len(t) > len(prefix) else t for t in tokens]

    return split


def make_splitter(level: str = "word", tokenizer=None) -> Callable[[str], list[str]]:
    if level == "word":
        return split_words
    if level == "char":
        return split_chars
    if level == "subword":
        if tokenizer is None:
            raise ValueError("material level 'subword' needs a tokenizers.Tokenizer (pass tokenizer=...)")
        return subword_splitter(tokenizer)
    raise ValueError(f"unknown material level {level!r}; choose one of {', '.join(MATERIAL_LEVELS)}")


def truncate_spelling(material: str, v: int) -> str:
    """Longest prefix of whole characters whose UTF-8 spelling fits in v bytes."""
    out, used = [], 0
    for ch in material:
        size = len(ch.encode("utf-8"))
        if used + size > v:
            break
        out.append(ch)
        used += size
    return "".join(out)


def encode_material(material: str, v: int) -> list[int]:
    """Exactly v byte values for one material (truncated at a character boundary, filler-padded).
    Always spells the text, even "[CLS]": special rows come only from special_row()."""
    if v < 4:
        raise ValueError(f"v must be at least 4 (one UTF-8 character can take 4 bytes), got {v}")
    raw = truncate_spelling(material, v).encode("utf-8")
    return list(raw) + [FILLER_BYTE] * (v - len(raw))


def special_row(name: str, v: int) -> list[int]:
    if name not in SPECIAL_TOKENS:
        raise ValueError(f"unknown special token {name!r}; known: {', '.join(SPECIAL_TOKENS)}")
    return [SPECIAL_TOKENS[name]] * v


def decode_material(row: Sequence[int]) -> str:
    """Inverse of encode_material: the (possibly truncated) spelling, or the special token name."""
    values = [int(b) for b in row]
    if not values:
        return ""
    if values[0] in _SPECIAL_BY_BYTE and all(b == values[0] for b in values):
        return _SPECIAL_BY_BYTE[values[0]]
    spelled = bytes(b for b in values if b != FILLER_BYTE and b not in RESERVED_BYTES)
    return spelled.decode("utf-8", errors="replace")


def encode_materials(materials: Iterable[str], v: int) -> list[list[int]]:
    return [encode_material(m, v) for m in materials]


def decode_grid(grid: Iterable[Sequence[int]]) -> list[str]:
    return [decode_material(row) for row in grid]


def encode_text(text: str, v: int, splitter: Callable[[str], list[str]] = split_words,
                max_materials: int | None = None, add_special: bool = True) -> tuple[list[str], list[list[int]]]:
    """Materials of a text (optionally cut to max_materials, then wrapped in [CLS] ... [SEP]) and
    their byte grid."""
    materials = splitter(text)
    if max_materials is not None:
        materials = materials[:max_materials]
    grid = encode_materials(materials, v)
    if add_special:
        materials = ["[CLS]", *materials, "[SEP]"]
        grid = [special_row("[CLS]", v), *grid, special_row("[SEP]", v)]
    return materials, grid


@dataclass
class CorpusReport:
    """How well v bytes cover a corpus's materials."""
    v: int
    level: str
    total_materials: int
    distinct_materials: int
    share_longer_than_v: float          # over all material occurrences
    share_distinct_longer_than_v: float
    colliding_materials: int            # distinct materials sharing a truncated grid with another
    collision_groups: int               # truncated grids shared by more than one distinct material
    examples: list[list[str]]           # a few colliding groups, for the eye

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
    )
