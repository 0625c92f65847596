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
    assert list(free_layer.data[0].y) == ["head 0 · reads byte 0: 55 %", "head 1 · reads byte 1: 45 %"]
    assert "uniform 50.0 %" in free_layer.layout.title.text
    assert "reads only byte n" in head_position_view(result, 0).layout.title.text
    assert "from byte *n* alone" in summary_markdown(result, 0)
    assert "45–55 %" in summary_markdown(result, 1) and "not what they are built from" in summary_markdown(result, 1)
    assert "reads byte 1: 45 %" in summary_markdown(result, 1)
    result["alignment"] = {"applies": False, "reason": "subword"}
    assert "no byte slices" in summary_markdown(result, 1)
    assert list(head_position_view(result, 1).data[0].y) == ["head 0 · char 0", "head 1 · char 1"]
