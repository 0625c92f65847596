"""Byte spelling of materials: exact width, round trips, reserved special bytes, corpus report."""
import pytest

from eembed_model.materials import (
    FILLER_BYTE,
    RESERVED_BYTES,
    SPECIAL_TOKENS,
    corpus_report,
    decode_grid,
    decode_material,
    encode_material,
    encode_text,
    make_splitter,
    special_row,
    split_chars,
    split_words,
    truncate_spelling,
)

V = 8


@pytest.mark.parametrize("material, expected_bytes", [
    ("vim", b"vim"),                          # ASCII
    ("café", "café".encode()),                # accent: é is 2 bytes
    ("日本", "日本".encode()),                  # CJK: 3 bytes each
    ("🙂x", "🙂x".encode()),                   # emoji: 4 bytes
    ("", b""),                                # empty material
])
def test_encoding_is_v_bytes_with_filler_and_round_trips(material, expected_bytes):
    row = encode_material(material, V)
    assert len(row) == V
    assert bytes(row[: len(expected_bytes)]) == expected_bytes
    assert row[len(expected_bytes):] == [FILLER_BYTE] * (V - len(expected_bytes))
    assert decode_material(row) == material


@pytest.mark.parametrize("material, kept", [
    ("applications", "applicat"),     # ASCII cut at 8 bytes
    ("日本語です", "日本"),             # 3+3 bytes fit, the third character (3 more) would not
    ("🙂🙂🙂", "🙂🙂"),
    ("naïvetés", "naïvet"),           # 2-byte ï counted as 2
])
def test_long_materials_truncated_keep_their_first_piece_at_a_character_boundary(material, kept):
    row = encode_material(material, V)
    assert len(row) == V
    assert truncate_spelling(material, V) == kept
    assert decode_material(row) == kept
    bytes(b for b in row if b != FILLER_BYTE).decode("utf-8")  # always valid UTF-8


def test_special_tokens_use_reserved_bytes_that_text_can_never_produce():
    assert set(SPECIAL_TOKENS.values()) | {FILLER_BYTE} <= RESERVED_BYTES
    texts = ["[CLS]", "[MASK] [PAD] [SEP]", "ÿø", "\x00\x7f", "".join(chr(c) for c in range(0x20, 0x3000, 7)),
             "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🙂🚀", "\U0010FFFF"]
    for text in texts:
        for material in split_chars(text) + split_words(text) + [text]:
            row = encode_material(material, V)
            spelled = [b for b in row if b != FILLER_BYTE]
            assert not set(spelled) & RESERVED_BYTES, material
            for name in SPECIAL_TOKENS:
                assert row != special_row(name, V)
    # A literal "[CLS]" in text is spelled, never turned into the special token.
    assert decode_material(encode_material("[CLS]", V)) == "[CLS]"
    for name in SPECIAL_TOKENS:
        assert decode_material(special_row(name, V)) == name


def test_encode_text_wraps_in_cls_sep_and_decodes_back():
    spelled = encode_text("libfoo-dev: naïve 日本 🙂", V)
    materials, grid = spelled.materials, spelled.grid
    assert materials == ["[CLS]", "libfoo", "-", "dev", ":", "naïve", "日", "本", "🙂", "[SEP]"]  # CJK apart, as BERT
    assert all(len(row) == V for row in grid)
    assert decode_grid(grid) == materials
    empty = encode_text("", V)
    assert empty.materials == ["[CLS]", "[SEP]"] and len(empty.grid) == 2 and not empty.truncated
    cut = encode_text("a b c d e", V, max_materials=2)
    assert cut.materials == ["[CLS]", "a", "b", "[SEP]"] and cut.truncated


def test_material_levels():
    assert make_splitter("char")("ab c") == ["a", "b", "c"]
    assert make_splitter("word")("GNU's tools") == ["GNU", "'", "s", "tools"]
    with pytest.raises(ValueError, match="subword"):
        make_splitter("subword")
    with pytest.raises(ValueError, match="unknown material level"):
        make_splitter("sentence")
    with pytest.raises(ValueError, match="at least 4"):
        encode_material("a", 3)


def test_corpus_report_counts_long_materials_and_collisions():
    texts = ["internationalization internationalisation", "short words only", "internat internal"]
    report = corpus_report(texts, V)
    assert report.total_materials == 7
    assert report.distinct_materials == 7
    # Only the two 20-byte words are longer than 8 bytes ('internat', 'internal' fit exactly).
    assert report.share_longer_than_v == pytest.approx(2 / 7)
    # Three spell 'internat' after truncation ('internal' stays apart): one group of three.
    assert report.collision_groups == 1
    assert report.colliding_materials == 3
    assert sorted(report.examples[0]) == ["internat", "internationalisation", "internationalization"]
    # Spelled on instead: the two 20-byte words take 3 rows each, the other five 1.
    assert report.rows_per_material == pytest.approx((2 * 3 + 5) / 7)
