"""Figures for the studies: plotly (interactive, for the app and HTML reports) and matplotlib
(static PNG/PDF) versions of the same per-frame curves and metric bars. Functions return figures;
saving is separate so the app can show them directly."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.depth_metrics import HIGHER_IS_BETTER, METRIC_KEYS

CURVE_LABELS = {
    "flicker": "flicker (scale-shift aligned, rel.)",
    "opw": "OPW (flow-warped, rel.)",
    "drift_scale": "least-squares scale onto first frame",
    "drift_shift": "least-squares shift onto first frame (m)",
    "median_ratio": "median depth / first frame's",
    "scale_to_gt": "median depth / median ground truth",
    "tae": "TAE (reprojection AbsRel)",
    "abs_rel": "AbsRel vs ground truth",
    "d1": "δ1 vs ground truth",
    "mean_depth": "mean depth (m)",
}


def _present_curves(curves: dict[str, Sequence[float]]) -> dict[str, list[float]]:
    """Drops curves with no finite value (e.g. TAE on a video without ground truth)."""
    kept = {}
    for name, values in curves.items():
        values = [float(v) if v is not None else math.nan for v in values]
        if any(math.isfinite(v) for v in values):
            kept[name] = values
    return kept


def per_frame_figure(x: Sequence[float], curves: dict[str, Sequence[float]], title: str = "", x_label: str = "frame"):
    """Plotly figure: one stacked subplot per curve sharing the x axis (gaps where undefined)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kept = _present_curves(curves)
    if not kept:
        raise ValueError("no curve has a finite value to plot")
    fig = make_subplots(rows=len(kept), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[CURVE_LABELS.get(n, n) for n in kept])  # fmt: skip
    for row, (name, values) in enumerate(kept.items(), start=1):
        y = [v if math.isfinite(v) else None for v in values]
        fig.add_trace(go.Scatter(x=list(x), y=y, mode="lines+markers", name=name, marker={"size": 4}), row=row, col=1)
    fig.update_xaxes(title_text=x_label, row=len(kept), col=1)
    fig.update_layout(title=title, height=220 * len(kept) + 80, showlegend=False, template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 70, "b": 50})  # fmt: skip
    return fig


def _present_by_source(curves_by_source: dict[str, dict[str, Sequence[float]]]) -> tuple[list[str], dict[str, dict[str, list[float]]]]:
    kept = {name: _present_curves(curves) for name, curves in curves_by_source.items()}
    measures = []
    for curves in kept.values():
        measures += [m for m in curves if m not in measures]
    if not measures:
        raise ValueError("no curve has a finite value to plot")
    return measures, kept


def comparison_figure(x: Sequence[float], curves_by_source: dict[str, dict[str, Sequence[float]]], title: str = "",
                      x_label: str = "frame"):  # fmt: skip
    """Plotly: one subplot per measure, one coloured line per source (legend names the sources)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    measures, kept = _present_by_source(curves_by_source)
    fig = make_subplots(rows=len(measures), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[CURVE_LABELS.get(m, m) for m in measures])  # fmt: skip
    for i, (source, curves) in enumerate(kept.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        for row, measure in enumerate(measures, start=1):
            if measure not in curves:
                continue
            y = [v if math.isfinite(v) else None for v in curves[measure]]
            fig.add_trace(go.Scatter(x=list(x), y=y, mode="lines+markers", name=source, legendgroup=source,
                                     showlegend=row == 1 or measure == next(iter(curves)), line={"color": colour},
                                     marker={"size": 4}), row=row, col=1)  # fmt: skip
    fig.update_xaxes(title_text=x_label, row=len(measures), col=1)
    fig.update_layout(title=title, height=220 * len(measures) + 110, template="plotly_white",
                      legend={"orientation": "h", "y": -0.08 if len(measures) > 2 else -0.2},
                      margin={"l": 60, "r": 20, "t": 70, "b": 60})  # fmt: skip
    return fig


def comparison_figure_mpl(x: Sequence[float], curves_by_source: dict[str, dict[str, Sequence[float]]], title: str = "",
                          x_label: str = "frame"):  # fmt: skip
    """Matplotlib version of comparison_figure (for PNG and the HTML report)."""
    from matplotlib.figure import Figure

    measures, kept = _present_by_source(curves_by_source)
    fig = Figure(figsize=(8, 1.9 * len(measures) + 1.2), layout="constrained")
    axes = fig.subplots(len(measures), 1, sharex=True, squeeze=False)[:, 0]
    for i, (source, curves) in enumerate(kept.items()):
        for ax, measure in zip(axes, measures):
            if measure in curves:
                ax.plot(list(x), curves[measure], marker=".", markersize=3, linewidth=1.2, color=f"C{i}", label=source)
    for ax, measure in zip(axes, measures):
        ax.set_title(CURVE_LABELS.get(measure, measure), fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(x_label)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=min(4, len(kept)), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def metric_bar_figure(rows: dict[str, dict[str, float]], keys: Sequence[str] = METRIC_KEYS, title: str = ""):
    """Plotly grouped bars: one subplot per metric, one bar per named result (arrow = better direction)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not rows:
        raise ValueError("no results to plot")
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    names = list(rows)
    fig = make_subplots(rows=nrows, cols=cols,
                        subplot_titles=[f"{k} {'↑' if k in HIGHER_IS_BETTER else '↓'}" for k in keys])  # fmt: skip
    for i, key in enumerate(keys):
        values = [rows[n].get(key, math.nan) for n in names]
        fig.add_trace(go.Bar(x=names, y=values, name=key, showlegend=False), row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(title=title, height=260 * nrows + 80, template="plotly_white")
    return fig


def per_frame_figure_mpl(x: Sequence[float], curves: dict[str, Sequence[float]], title: str = "", x_label: str = "frame"):
    """Matplotlib version of per_frame_figure (for PNG/PDF)."""
    from matplotlib.figure import Figure

    kept = _present_curves(curves)
    if not kept:
        raise ValueError("no curve has a finite value to plot")
    fig = Figure(figsize=(8, 1.9 * len(kept) + 0.8), layout="constrained")
    axes = fig.subplots(len(kept), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, kept.items()):
        ax.plot(list(x), values, marker=".", markersize=3, linewidth=1.2)
        ax.set_title(CURVE_LABELS.get(name, name), fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(x_label)
    if title:
        fig.suptitle(title)
    return fig


def metric_bar_figure_mpl(rows: dict[str, dict[str, float]], keys: Sequence[str] = METRIC_KEYS, title: str = ""):
    """Matplotlib version of metric_bar_figure."""
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("no results to plot")
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False).ravel())
    names = list(rows)
    for ax, key in zip(axes, keys):
        ax.bar(range(len(names)), [rows[n].get(key, math.nan) for n in names], color="tab:blue")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{key} {'↑' if key in HIGHER_IS_BETTER else '↓'}", fontsize=9)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def save_plotly_html(fig, path: str | Path, inline_js: bool = True) -> Path:
    """Standalone HTML. inline_js embeds plotly.js (~4.5 MB) so the file opens offline."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True if inline_js else "cdn", full_html=True)
    return path


def save_matplotlib(fig, path: str | Path, dpi: int = 120) -> Path:
    """PNG, PDF or SVG by the file extension."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError(f"{path}: save figures as .png, .pdf or .svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=dpi)
    return path
