"""The elementwise input pipeline: NFC, BERT's CJK split, long words spelled over several
materials byte for byte, and the four viewer faults that non-ASCII text used to cause."""
import pytest
import torch

from eembed_model import attention
from eembed_model.batching import ElementwiseTextEncoder
from eembed_model.checkpoint import save_checkpoint
from eembed_model.config import EEmbedConfig
from eembed_model.materials import (
    FILLER_BYTE,
    decode_material,
    encode_text,
    row_bytes,
    spell_material,
    split_chars,
    split_words,
)
from eembed_model.model import EEmbedModel

V = 8
NFD_CAFE = "cafe\u0301"        # as pasted from macOS: e + combining acute accent
CJK = "我们今天去公园散步然后回家吃饭"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two tiny untrained elementwise checkpoints: spelling long words on (today's default) and
    cutting them (as the bundled model was trained)."""
    root = tmp_path_factory.mktemp("viewer")
    torch.manual_seed(0)
    out = {}
    for long_words in ("spell", "truncate"):
        config = EEmbedConfig(v=V, c=4, layers=1, max_len=32, long_words=long_words)
        save_checkpoint(EEmbedModel(config), root / long_words, {"task": "mlm"})
        out[long_words] = attention.load_attention_model(root / long_words)
    return out


@pytest.mark.parametrize("word", [
    "libkf5completion",                       # ASCII, 16 bytes: two full rows
    "internationalization",                   # 20 bytes: 8 + 8 + 4
    "الاستقلالية",                             # Arabic, 2 bytes a letter: 4 letters a row
    "naïvetésdéjàvu",                          # 2-byte letters falling on row edges
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢🙂",                              # 4-byte characters: two a row
    "x" * 1000,
])
def test_an_overlong_word_round_trips_through_its_materials_byte_for_byte(word):
    pieces, rows = spell_material(word, V)
    assert len(rows) > 1 and all(len(row) == V for row in rows)
    assert b"".join(row_bytes(row) for row in rows) == word.encode("utf-8")   # byte for byte
    assert [decode_material(row) for row in rows] == pieces                     # each row is whole characters
    assert "".join(pieces) == word
    # Rows are filled greedily: a row ends early only when the next character does not fit.
    for piece, following in zip(pieces, pieces[1:]):
        assert len(piece.encode()) + len(following[0].encode()) > V
    spelled = encode_text(f"a {word} b", V)
    assert spelled.materials == ["[CLS]", "a", *pieces, "b", "[SEP]"]
    assert spelled.word_index == [-1, 0, *[1] * len(pieces), 2, -1] and not spelled.truncated
    cut = encode_text(f"a {word} b", V, long_words="truncate")
    assert cut.materials == ["[CLS]", "a", pieces[0], "b", "[SEP]"] and cut.truncated


def test_nfc_on_the_elementwise_side_and_cjk_split_per_character():
    assert split_words(NFD_CAFE) == ["café"] and split_chars(NFD_CAFE) == list("café")
    assert split_words(CJK) == list(CJK)
    assert split_words("日本語 lib-foo 2.0") == ["日", "本", "語", "lib", "-", "foo", "2", ".", "0"]
    batch = ElementwiseTextEncoder(V, 32)([NFD_CAFE, "café"])
    assert batch.materials[0] == batch.materials[1] == ["[CLS]", "café", "[SEP]"]
    assert torch.equal(batch.inputs[0], batch.inputs[1])


def test_viewer_fault_abcdefg_e_labels_no_character_for_a_byte_that_holds_filler(tiny_models):
    from analysis.attention_stats import head_position_view

    for long_words, materials in (("spell", ["[CLS]", "abcdefg", "é", "[SEP]"]),
                                  ("truncate", ["[CLS]", "abcdefg", "[SEP]"])):
        result = attention.attention_for_text("abcdefgé", tiny_models[long_words], top_k=4)
        assert result["materials"] == materials
        assert result["byte_grids"][1][7] == FILLER_BYTE
        assert result["truncated"] is (long_words == "truncate")
        head7 = [t for row in result["per_head_summary"] if row["head"] == 7 for t in row["top_materials"]
                 if t["material"] == "abcdefg"]
        assert head7 and all(t["nth_character"] == "" for t in head7)   # not 'é': byte 7 is filler
        labels = head_position_view(result, 0).data[0].text
        assert labels[7][1] == "·" and labels[6][1] == "g"
        if long_words == "spell":
            assert labels[0][2] == "é" and labels[1][2] == "é" and labels[2][2] == "·"


def test_viewer_fault_cjk_is_split_per_character_and_an_overflow_is_flagged(tiny_models):
    from demos.attention_tab import input_notice

    result = attention.attention_for_text(CJK, tiny_models["spell"])
    assert result["materials"][1:-1] == list(CJK) and not result["truncated"]
    assert "⚠️" not in input_notice(result)
    longer = attention.attention_for_text(CJK * 3, tiny_models["spell"])   # 45 characters, 30 positions
    assert longer["materials"][1:-1] == list(CJK * 2)
    assert longer["truncated"] and "⚠️ Part of the text is not in the model's input" in input_notice(longer)
    huge = attention.attention_for_text("a" * 100_000, tiny_models["spell"])  # one 100,000-letter word
    assert huge["truncated"] and len(huge["materials"]) == 32


def test_viewer_fault_nfd_text_gives_the_nfc_material(tiny_models):
    assert attention.attention_for_text(NFD_CAFE, tiny_models["spell"])["materials"] == ["[CLS]", "café", "[SEP]"]


def test_viewer_fault_a_backtick_keeps_the_per_head_markdown_intact(tiny_models):
    from markdown_it import MarkdownIt

    from demos.attention_tab import code_span, summary_markdown

    result = attention.attention_for_text("x ` y", tiny_models["spell"], top_k=3)
    assert result["materials"] == ["[CLS]", "x", "`", "y", "[SEP]"]
    html = MarkdownIt().render(summary_markdown(result, 0))
    # Every head lists its three materials as code, and the backtick material is one of them intact.
    assert html.count("<code>`</code>") >= 1
    for line in html.split("<li>")[1:]:
        assert line.count("<code>") == line.count("</code>") == 6    # material + n-th character, three times
        assert "`" not in line.replace("<code>`</code>", "")
    assert code_span("a``b") == "```a``b```" and code_span("`") == "`` ` ``"


def test_viewer_shows_control_and_bidi_characters_as_code_points_so_they_steer_no_label(tiny_models):
    from analysis.attention_stats import attention_heatmap, visible_material
    from demos.attention_tab import byte_grid_table, summary_markdown

    # U+202E (right-to-left override) would reverse the rest of the summary line and axis label it
    # sits in; NUL and ESC are invisible. The byte grid keeps their bytes; the labels show code points.
    result = attention.attention_for_text("ok \u202eevil x\x00y \x1b", tiny_models["spell"], top_k=6)
    assert result["materials"] == ["[CLS]", "ok", "\u202eevil", "x\x00y", "\x1b", "[SEP]"]
    assert result["byte_grids"][2][:3] == [0xE2, 0x80, 0xAE]
    assert visible_material("\u202eevil") == "⟨U+202E⟩evil" and visible_material("日本 é") == "日本 é"
    shown = [summary_markdown(result, 0), *byte_grid_table(result)["material"],
             *attention_heatmap(result, 0, 0).data[0].x]
    for text in shown:
        assert not any(ch in text for ch in "\u202e\x00\x1b"), text
    assert "⟨U+202E⟩evil" in shown[0] and "x⟨U+0000⟩y" in shown[0] and "⟨U+001B⟩" in shown[0]


def test_viewer_names_a_lone_surrogate_instead_of_a_codec_error(tiny_models):
    import gradio as gr

    from demos.attention_tab import analyse_text

    with pytest.raises(ValueError, match=r"lone surrogate U\+D800 at character 5"):
        attention.attention_for_text("bad \ud800 text", tiny_models["spell"])
    with pytest.raises(gr.Error, match=r"lone surrogate U\+D800 at character 5"):
        analyse_text("bad \ud800 text", 0, 0, progress=lambda *a, **k: None)
