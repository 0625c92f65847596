"""Attention statistics of the elementwise-embedding BERT, and the figures the attention viewer shows.

    python -m analysis.attention_stats --data tests/fixtures/debtags_small.jsonl --limit 200 --out outputs/attention

Per layer and head n (set beside character position n), over a corpus:
- entropy: mean entropy of a query's attention distribution (nats; low = focused);
- distance profile: attention mass by |query − key| material distance;
- same-byte share: attention mass on keys whose n-th byte equals the query's n-th byte, against the
  share a uniform attention would give (the ratio > 1 means head n seeks materials that share its
  character position's byte).
Special tokens ([CLS], [SEP]) are left out of the same-byte share, and queries without another
material sharing their byte do not count. Beside these attention-level figures, the weight-level
own-byte share (eembed_model.alignment): how much of head n's Q/K/V weight energy comes from byte n.
"""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path

import numpy as np

MAX_DISTANCE = 8  # distance profile bins 0..MAX_DISTANCE-1 and ">= MAX_DISTANCE"


def _as_array(result: dict) -> np.ndarray:
    return np.asarray(result["attentions"], dtype=np.float64)  # (layers, heads, L, L)


# Control and format characters (Unicode categories Cc, Cf, Zl, Zp) are invisible and some steer
# the text around them: U+202E (right-to-left override) in one material would reverse the rest of
# a summary line or axis label. Shown as their code points, they are seen and steer nothing.
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def visible_material(material: str) -> str:
    """`material` for display: each control or format character (INVISIBLE_CATEGORIES: NUL, ESC,
    the bidirectional overrides and isolates, the zero-width joiner, ...) written as ⟨U+XXXX⟩ (not
    <U+XXXX>: plotly reads <...> as a tag);
    every other character unchanged."""
    return "".join(f"⟨U+{ord(ch):04X}⟩" if unicodedata.category(ch) in INVISIBLE_CATEGORIES else ch
                   for ch in material)


def _is_special(material: str) -> bool:
    return material.startswith("[") and material.endswith("]") and material.upper() == material


def text_statistics(result: dict) -> dict[str, np.ndarray]:
    """Sums for one text (from eembed_model.attention.attention_for_text); add them up, then divide."""
    attention = _as_array(result)
    layers, heads, length, _ = attention.shape
    grid = np.asarray(result["byte_grids"])
    real = np.array([not _is_special(m) for m in result["materials"]])
    entropy = -(attention * np.log(np.clip(attention, 1e-12, None))).sum(-1)  # (layers, heads, L)
    distance = np.abs(np.arange(length)[:, None] - np.arange(length)[None, :]).clip(max=MAX_DISTANCE)
    profile = np.stack([(attention * (distance == d)).sum((-1, -2)) for d in range(MAX_DISTANCE + 1)], -1)
    same_mass = np.zeros((layers, heads))
    uniform_mass = np.zeros((layers, heads))
    same_queries = np.zeros(heads)
    for head in range(heads):
        byte = grid[:, head] if head < grid.shape[1] else np.full(length, -1)
        same = (byte[:, None] == byte[None, :]) & real[:, None] & real[None, :]
        np.fill_diagonal(same, False)
        has_partner = same.any(1)
        if not has_partner.any():
            continue
        same_mass[:, head] = (attention[:, head] * same)[:, has_partner].sum((-1, -2))
        uniform_mass[:, head] = (same[has_partner].sum(1) / length).sum()
        same_queries[head] = has_partner.sum()
    return {"entropy_sum": entropy.sum(-1), "queries": np.full((layers, heads), length, dtype=np.float64),
            "profile_sum": profile, "same_mass": same_mass, "uniform_mass": uniform_mass,
            "same_queries": np.broadcast_to(same_queries, (layers, heads)).astype(np.float64)}


def corpus_statistics(texts: list[str], model=None, progress: bool = True) -> dict:
    """Per-layer, per-head statistics averaged over `texts`; see the module docstring."""
    from tqdm import tqdm

    from eembed_model.attention import attention_for_text, load_attention_model

    texts = [text for text in texts if text.strip()]
    if not texts:
        raise ValueError("no texts to analyse: give a JSONL/CSV with a 'text' field or --text")
    loaded = model if model is not None and not isinstance(model, (str, Path)) else load_attention_model(model)
    totals: dict[str, np.ndarray] = {}
    for text in tqdm(texts, desc="attention", unit="text", disable=not progress):
        sums = text_statistics(attention_for_text(text, loaded))
        for key, value in sums.items():
            totals[key] = totals.get(key, 0) + value
    queries = totals["queries"]
    profile = totals["profile_sum"] / queries[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        same_share = np.where(totals["same_queries"] > 0, totals["same_mass"] / totals["same_queries"], np.nan)
        uniform_share = np.where(totals["same_queries"] > 0, totals["uniform_mass"] / totals["same_queries"], np.nan)
        ratio = same_share / uniform_share
    from eembed_model.alignment import alignment_report

    alignment = alignment_report(loaded.model)
    return {
        "texts": len(texts),
        "own_byte_share": alignment.get("own_byte_share"),                     # None for a subword model
        "own_byte_share_uniform": alignment.get("uniform_share"),
        "layers": int(queries.shape[0]),
        "heads": int(queries.shape[1]),
        "entropy": (totals["entropy_sum"] / queries).tolist(),
        "distance_profile": profile.tolist(),
        "distance_bins": [str(d) for d in range(MAX_DISTANCE)] + [f">={MAX_DISTANCE}"],
        "same_byte_share": same_share.tolist(),
        "same_byte_share_uniform": uniform_share.tolist(),
        "same_byte_ratio": ratio.tolist(),
    }


# ------------------------------------------------------------------ figures (plotly for the app)

def _cell_label(material: str, grid_row: list[int], n: int) -> str:
    """The character byte n of the row spells (read from the row's bytes, never from the material's
    full spelling: a character that did not fit in the row has no byte n), '·' for filler."""
    from eembed_model.materials import nth_character_of_row

    if _is_special(material):
        return material.strip("[]")[:3]
    character = nth_character_of_row(grid_row, n)
    if not character:
        return "·"  # past the spelling: filler
    return character if character.isprintable() and character.strip() else f"{grid_row[n]:02x}"


def attention_heatmap(result: dict, layer: int, head: int):
    """Material x material attention of one head (rows: queries, columns: keys)."""
    import plotly.graph_objects as go

    attention = _as_array(result)[layer, head]
    labels = [f"{i}:{visible_material(m)}" for i, m in enumerate(result["materials"])]
    fig = go.Figure(go.Heatmap(z=attention, x=labels, y=labels, colorscale="Viridis", zmin=0.0,
                               hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.3f}<extra></extra>"))
    reads = own_byte_label(result, layer, head)
    if reads:  # on its own line, so a phone-wide plot shows the whole title
        reads = f"<br>{reads}, uniform {100 * result['alignment']['uniform_share']:.1f} %"
    fig.update_traces(colorbar=dict(thickness=12))
    fig.update_layout(title=dict(text=f"Layer {layer}, head {head}{reads}", font=dict(size=14)),
                      xaxis_title="key material", yaxis_title="query material", yaxis_autorange="reversed",
                      height=520, margin=dict(l=40, r=20, t=70, b=40))
    return fig


def own_byte_label(result: dict, layer: int, head: int) -> str:
    """'reads byte n: 14 %' from the result's alignment entry, '' when it has none."""
    alignment = result.get("alignment") or {}
    if not alignment.get("applies"):
        return ""
    return f"reads byte {head}: {100 * alignment['own_byte_share'][layer][head]:.0f} %"


def head_position_view(result: dict, layer: int):
    """Heads beside the n-th characters: cell (n, material) = attention the material receives in
    head n (mean over queries), labelled with the material's n-th character. Each row also says how
    much of head n's Q/K/V weight comes from byte n, so the reading "head n = character n" is shown
    as far as the weights support it, no further."""
    import plotly.graph_objects as go

    attention = _as_array(result)[layer]  # (heads, L, L)
    received = attention.mean(axis=1)  # (heads, L)
    materials, grids = result["materials"], result["byte_grids"]
    labels = [[_cell_label(m, grids[k], n) for k, m in enumerate(materials)] for n in range(received.shape[0])]
    columns = [f"{k}:{visible_material(m)}" for k, m in enumerate(materials)]
    alignment = result.get("alignment") or {}
    # Short row labels leave the cells most of a phone's width; the title says what the % is.
    rows = [f"head {n} · {100 * alignment['own_byte_share'][layer][n]:.0f} %" if alignment.get("applies")
            else f"head {n} · char {n}" for n in range(received.shape[0])]
    if alignment.get("applies") and alignment.get("aligned_first_layer") and layer == 0:
        title = f"Layer {layer}: cells = materials' n-th characters<br>head n reads only byte n here (block-diagonal)"
    elif alignment.get("applies"):
        title = (f"Layer {layer}: cells = materials' n-th characters<br>head n · % of its weight from byte n<br>"
                 f"(uniform {100 * alignment['uniform_share']:.1f} %)")
    else:
        title = f"Layer {layer}: cells = materials' n-th characters<br>(this model has no byte slices)"
    fig = go.Figure(go.Heatmap(z=received, x=columns, y=rows, text=labels, texttemplate="%{text}",
                               colorscale="Blues", zmin=0.0, colorbar=dict(thickness=12),
                               hovertemplate="%{y}<br>%{x}<br>n-th character '%{text}'<br>attention received %{z:.3f}"
                                             "<extra></extra>"))
    fig.update_layout(title=dict(text=title, font=dict(size=13)), xaxis_title="material", yaxis_autorange="reversed",
                      height=180 + 34 * len(rows), margin=dict(l=40, r=20, t=90, b=40))
    return fig


def overview_thumbnails(result: dict, size: int = 96, colormap: str = "viridis") -> list[tuple[np.ndarray, str]]:
    """Every head of every layer as a small material x material heatmap, for an all-layers x all-heads
    overview (the grid of bertviz's "model view", drawn as heatmaps).

    Returns layers * heads (thumbnail, caption) pairs in row-major order: item layer * heads + head,
    so a grid with `heads` columns shows layers as rows and heads as columns (overview_cell inverts
    it). Each thumbnail is uint8 RGB (size, size, 3): rows are queries, columns keys, as in
    attention_heatmap, upscaled by nearest neighbour; each is scaled to its own maximum so a
    head's pattern shows even when its weights are spread thin. Captions read "L{layer} H{head}".
    Raises ValueError for a size under 8 px or attentions that are not (layers, heads, L, L)."""
    from matplotlib import colormaps
    from PIL import Image

    if size < 8:
        raise ValueError(f"thumbnail size {size} px is too small to show anything; use at least 8")
    attention = _as_array(result)
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"attentions must be (layers, heads, L, L); got shape {attention.shape}")
    peak = attention.max(axis=(-1, -2), keepdims=True)
    scaled = attention / np.where(peak > 0, peak, 1.0)
    rgb = (colormaps[colormap](scaled)[..., :3] * 255).round().astype(np.uint8)  # (layers, heads, L, L, 3)
    thumbnails = []
    for layer in range(attention.shape[0]):
        for head in range(attention.shape[1]):
            image = Image.fromarray(rgb[layer, head]).resize((size, size), Image.Resampling.NEAREST)
            thumbnails.append((np.asarray(image), f"L{layer} H{head}"))
    return thumbnails


def overview_cell(index: int, heads: int) -> tuple[int, int]:
    """(layer, head) of item `index` of overview_thumbnails' row-major list; ValueError for a
    negative index or fewer than one head."""
    if heads < 1 or index < 0:
        raise ValueError(f"no overview cell {index} in a grid with {heads} heads per layer")
    return divmod(int(index), int(heads))


def statistics_figure(stats: dict):
    """matplotlib: entropy and same-byte ratio per layer x head (for PNG/PDF export)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    panels = [("entropy", "mean attention entropy (nats)", "viridis"),
              ("same_byte_ratio", "same n-th byte share / uniform", "magma")]
    for axis, (key, title, cmap) in zip(axes[:2], panels):
        values = np.asarray(stats[key], dtype=float)
        image = axis.imshow(values, cmap=cmap, aspect="auto")
        axis.set_xlabel("head n (beside byte n)")
        axis.set_ylabel("layer")
        axis.set_title(title)
        for (row, col), value in np.ndenumerate(values):
            axis.text(col, row, "–" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="white")
        fig.colorbar(image, ax=axis)
    profile = np.asarray(stats["distance_profile"])[-1]
    for head, row in enumerate(profile):
        axes[2].plot(range(len(row)), row, marker="o", label=f"head {head}")
    axes[2].set_xticks(range(len(stats["distance_bins"])), stats["distance_bins"])
    axes[2].set_xlabel("|query − key| (materials)")
    axes[2].set_title("last layer: attention by distance")
    axes[2].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def read_texts(path: Path, limit: int | None) -> list[str]:
    import csv

    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a JSONL or CSV file with a 'text' field")
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)]
    else:
        texts = [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    return texts[:limit] if limit else texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.attention_stats", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="JSONL or CSV with a 'text' field")
    source.add_argument("--text", action="append", help="a text (repeatable)")
    parser.add_argument("--model", help="eembed checkpoint folder (default: the bundled one)")
    parser.add_argument("--limit", type=int, default=500, help="use at most this many texts")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        texts = args.text if args.text else read_texts(Path(args.data), args.limit)
        stats = corpus_statistics(texts, args.model)
    except (ValueError, FileNotFoundError, KeyError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "attention_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    figure = statistics_figure(stats)
    figure.savefig(out / "attention_stats.png", dpi=110)
    figure.savefig(out / "attention_stats.pdf")
    ratio = np.asarray(stats["same_byte_ratio"])
    for layer in range(stats["layers"]):
        cells = " ".join(f"{value:5.2f}" for value in ratio[layer])
        print(f"layer {layer} same-byte ratio per head: {cells}")
    if stats["own_byte_share"] is not None:
        for layer, row in enumerate(stats["own_byte_share"]):
            cells = " ".join(f"{100 * value:5.1f}" for value in row)
            print(f"layer {layer} own-byte share of Q/K/V weight, % (uniform {100 * stats['own_byte_share_uniform']:.1f}): {cells}")
    print(f"wrote {out}/attention_stats.json, attention_stats.png, attention_stats.pdf ({stats['texts']} texts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
