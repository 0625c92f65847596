"""Attention statistics with known answers, and the viewer's figures."""
import numpy as np
import pytest

from analysis.attention_stats import attention_heatmap, head_position_view, text_statistics

FILL = 0xFF


def fake_result(attention: np.ndarray) -> dict:
    """Four materials, v = 2: 'ab' and 'ac' share byte 0 ('a'); 'xb' shares byte 1 ('b') with 'ab'."""
    materials = ["[CLS]", "ab", "ac", "xb", "[SEP]"]
    grids = [[0xF8, 0xF8], [97, 98], [97, 99], [120, 98], [0xF9, 0xF9]]
    return {"materials": materials, "byte_grids": grids, "attentions": attention.tolist(), "filler_byte": FILL}


def test_same_byte_share_is_one_when_heads_attend_only_to_partners():
    length = 5
    attention = np.zeros((1, 2, length, length))
    attention[0, :, :, :] = np.eye(length)  # default: attend to self
    attention[0, 0, 1] = np.eye(length)[2]  # head 0: 'ab' -> 'ac', 'ac' -> 'ab' (same first byte)
    attention[0, 0, 2] = np.eye(length)[1]
    attention[0, 1, 1] = np.eye(length)[3]  # head 1: 'ab' -> 'xb', 'xb' -> 'ab' (same second byte)
    attention[0, 1, 3] = np.eye(length)[1]
    stats = text_statistics(fake_result(attention))
    share = stats["same_mass"] / stats["same_queries"]
    uniform = stats["uniform_mass"] / stats["same_queries"]
    np.testing.assert_allclose(share, [[1.0, 1.0]])
    np.testing.assert_allclose(uniform, [[1 / length, 1 / length]])
    # Attending only to self gives entropy 0 and puts all mass at distance 0.
    assert stats["entropy_sum"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert stats["profile_sum"][0, 0, 0] == pytest.approx(3.0)  # 3 of 5 queries attend to themselves


def test_uniform_attention_has_ratio_one_and_log_length_entropy():
    length = 5
    attention = np.full((1, 2, length, length), 1.0 / length)
    stats = text_statistics(fake_result(attention))
    np.testing.assert_allclose(stats["same_mass"], stats["uniform_mass"])
    np.testing.assert_allclose(stats["entropy_sum"] / stats["queries"], np.log(length))


def test_viewer_figures_have_data_and_label_nth_characters():
    attention = np.full((1, 2, 5, 5), 0.2)
    result = fake_result(attention)
    heatmap = attention_heatmap(result, 0, 1)
    assert np.asarray(heatmap.data[0].z).shape == (5, 5)
    positions = head_position_view(result, 0)
    labels = positions.data[0].text
    assert [row[1] for row in labels] == ["a", "b"]  # 'ab': character 0 is 'a', character 1 is 'b'
    assert labels[0][0] == "CLS"


def test_viewer_says_how_much_each_head_reads_its_byte_and_claims_it_only_for_the_aligned_layer():
    from demos.attention_tab import summary_markdown

    result = fake_result(np.full((2, 2, 5, 5), 0.2))
    result["per_head_summary"] = [{"layer": layer, "head": head, "mean_entropy": 1.0, "top_materials": [],
                                   "own_byte_share": [[1.0, 1.0], [0.55, 0.45]][layer][head]}
                                  for layer in range(2) for head in range(2)]
    result["alignment"] = {"applies": True, "uniform_share": 0.5, "aligned_first_layer": True,
                           "own_byte_share": [[1.0, 1.0], [0.55, 0.45]]}
    free_layer = head_position_view(result, 1)
    assert list(free_layer.data[0].y) == ["head 0 · 55 %", "head 1 · 45 %"]
    assert "% of its weight from byte n" in free_layer.layout.title.text
    assert "uniform 50.0 %" in free_layer.layout.title.text
    assert "reads only byte n" in head_position_view(result, 0).layout.title.text
    assert "from byte *n* alone" in summary_markdown(result, 0)
    assert "45–55 %" in summary_markdown(result, 1) and "free to read every byte" in summary_markdown(result, 1)
    assert "reads byte 1: 45 %" in summary_markdown(result, 1)
    result["alignment"] = {"applies": False, "reason": "subword"}
    assert "no byte slices" in summary_markdown(result, 1)
    assert list(head_position_view(result, 1).data[0].y) == ["head 0 · char 0", "head 1 · char 1"]


def marked_attention(layers: int, heads: int, length: int) -> np.ndarray:
    """Each query of (layer, head) attends only to key layer * heads + head: a different column per cell."""
    attention = np.zeros((layers, heads, length, length))
    for layer in range(layers):
        for head in range(heads):
            attention[layer, head, :, layer * heads + head] = 1.0
    return attention


def test_overview_thumbnails_are_row_major_layers_by_heads():
    from analysis.attention_stats import overview_cell, overview_thumbnails

    layers, heads, length, size = 3, 4, 12, 48  # layers != heads, so a swap of rows and columns shows
    thumbnails = overview_thumbnails({"attentions": marked_attention(layers, heads, length).tolist()}, size=size)
    assert len(thumbnails) == layers * heads
    for index, (image, caption) in enumerate(thumbnails):
        layer, head = overview_cell(index, heads)
        assert caption == f"L{layer} H{head}"
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
        # The one bright column (keys run left to right) is the key this (layer, head) attends to.
        brightness = image.astype(int).sum(axis=2).mean(axis=0)  # per pixel column
        key = layer * heads + head
        bright = np.flatnonzero(brightness > brightness.mean())
        assert bright.min() == key * size // length and bright.max() == (key + 1) * size // length - 1
    assert overview_cell(2 * heads + 3, heads) == (2, 3)
    assert overview_cell(heads - 1, heads) == (0, heads - 1)


def test_overview_thumbnails_scale_each_head_to_its_own_maximum_and_refuse_bad_input():
    from analysis.attention_stats import overview_cell, overview_thumbnails

    attention = np.full((1, 2, 4, 4), 0.25)  # two heads, uniform...
    attention[0, 1] = 0.0
    attention[0, 1, :, 0] = 1.0  # ...and one attending only to key 0
    (uniform, _), (focused, _) = overview_thumbnails({"attentions": attention.tolist()}, size=8)
    assert len(np.unique(uniform.reshape(-1, 3), axis=0)) == 1  # one colour: the map's maximum everywhere
    np.testing.assert_array_equal(uniform[0, 0], focused[0, 0])  # both maxima get the same (top) colour
    assert not np.array_equal(focused[0, 0], focused[0, -1])
    with pytest.raises(ValueError, match="at least 8"):
        overview_thumbnails({"attentions": attention.tolist()}, size=4)
    with pytest.raises(ValueError, match="layers, heads, L, L"):
        overview_thumbnails({"attentions": np.zeros((2, 4, 4)).tolist()})
    with pytest.raises(ValueError):
        overview_cell(-1, 8)


def test_a_click_on_an_overview_thumbnail_opens_that_layer_and_head():
    import gradio as gr

    from demos.attention_tab import intro_markdown, open_thumbnail

    layers, heads, length = 3, 8, 24
    result = fake_result(np.zeros(0))
    result.update(attentions=marked_attention(layers, heads, length).tolist(), layers=layers, heads=heads,
                  materials=[f"m{k}" for k in range(length)], byte_grids=[[97] * heads] * length, per_head_summary=[])
    layer, head, heatmap, positions, summary = open_thumbnail(result, gr.SelectData(None, {"index": 2 * heads + 3,
                                                                                          "value": None}))
    assert (layer["value"], head["value"]) == (2, 3)
    assert heatmap.layout.title.text.startswith("Layer 2, head 3")
    assert np.asarray(heatmap.data[0].z)[:, 2 * heads + 3].tolist() == [1.0] * length  # the attended key
    assert positions.layout.title.text.startswith("Layer 2:") and summary.startswith("**Layer 2**")
    # Before any run there is nothing to open; the intro is readable then and names the even share 1/v.
    assert open_thumbnail(None, gr.SelectData(None, {"index": 0, "value": None})) == (gr.skip(),) * 5
    assert "head *n* is meant to read" in intro_markdown(8) and "12.5 %" in intro_markdown(8)
