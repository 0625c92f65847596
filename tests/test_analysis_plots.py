"""Figures: plotly for the app and HTML, matplotlib for PNG/PDF."""
import math

import pytest

from analysis.plots import (
    metric_bar_figure,
    metric_bar_figure_mpl,
    per_frame_figure,
    per_frame_figure_mpl,
    save_matplotlib,
    save_plotly_html,
)

CURVES = {"flicker": [math.nan, 0.01, 0.02, 0.015], "opw": [math.nan, 0.02, 0.03, 0.01], "tae": [math.nan] * 4}
ROWS = {"model": {"abs_rel": 0.1, "d1": 0.9}, "untrained": {"abs_rel": 0.5, "d1": 0.3}}


def test_per_frame_figure_skips_empty_curves_and_keeps_gaps():
    fig = per_frame_figure([0, 1, 2, 3], CURVES, title="t")
    assert [trace.name for trace in fig.data] == ["flicker", "opw"]  # TAE has no value: no subplot
    assert fig.data[0].y[0] is None and fig.data[0].y[1] == pytest.approx(0.01)
    with pytest.raises(ValueError):
        per_frame_figure([0], {"tae": [math.nan]})


def test_metric_bars_one_subplot_per_metric():
    fig = metric_bar_figure(ROWS, keys=("abs_rel", "d1"))
    assert len(fig.data) == 2
    assert list(fig.data[0].x) == ["model", "untrained"] and list(fig.data[0].y) == [0.1, 0.5]


def test_exports(tmp_path):
    html = save_plotly_html(per_frame_figure([0, 1, 2, 3], CURVES), tmp_path / "curves.html")
    assert "plotly" in html.read_text()[:20000].lower()
    png = save_matplotlib(per_frame_figure_mpl([0, 1, 2, 3], CURVES), tmp_path / "curves.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    pdf = save_matplotlib(metric_bar_figure_mpl(ROWS, keys=("abs_rel", "d1")), tmp_path / "bars.pdf")
    assert pdf.read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="png"):
        save_matplotlib(per_frame_figure_mpl([0, 1, 2, 3], CURVES), tmp_path / "curves.jpg")
