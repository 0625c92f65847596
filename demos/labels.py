"""Words and legends shown beside depth outputs: the one-line model description and the colourbar.

Both are page text (Markdown / HTML), not pixels, so screen readers and tests can read them.
"""
from __future__ import annotations

import html
import re

import numpy as np

from common.depth_io import colormap_lut, display_range
from common.validate import visible_text

# CLIPs pretrained by this project, by their open_clip-style tag: what they were pretrained on.
PROJECT_CLIP_DATA = {"procedural-world": "procedural rooms"}


def _short_data(training_data: str | None) -> str:
    """'1000 procedural RGB-D scenes (seed 100), 48 for validation …' → '1000 procedural RGB-D scenes'."""
    if not training_data:
        return "unknown data"
    first = re.sub(r"\s*\([^)]*\)", "", training_data.split(",")[0]).strip()
    return first or training_data


def clip_words(info) -> str:
    """What the CLIP is, in plain words (it is always frozen)."""
    tag = info.clip_pretrained
    if tag in PROJECT_CLIP_DATA or info.clip_weights_from == "project":
        data = PROJECT_CLIP_DATA.get(tag, "this project's data")
        return f"small `{info.clip_name}`, pretrained here on {data}, frozen"
    if tag:
        return f"`{info.clip_name}` with pretrained weights `{tag}`, frozen"
    return f"small `{info.clip_name}`, random init (never pretrained), frozen"


def is_synthetic_only(info) -> bool:
    """True when the depth part saw only procedural scenes (the bundled model): real photos are out of domain."""
    data = (info.training_data or "").lower()
    return info.kind == "mirror" and info.trained and ("procedural" in data or "synthetic" in data)


def model_line(info) -> str:
    """One line for beside a depth output: which model, what it was trained on, and its limits."""
    clip = clip_words(info)
    if info.kind == "zeroshot":
        text = f"**Model:** `{info.name}`, DepthCLIP zero-shot (no depth training) · CLIP: {clip}"
        if not info.clip_pretrained:
            text += " · ⚠️ a code check on a random CLIP: its depth means nothing"
        return text
    if not info.trained:
        return (f"**Model:** `{info.name}` · CLIP: {clip} · mirror + decoder: ⚠️ UNTRAINED, "
                "so its depth maps mean nothing")
    text = (f"**Model:** `{info.name}` ({info.weights_from}) · CLIP: {clip} · "
            f"mirror + decoder: trained on {_short_data(info.training_data)}")
    if is_synthetic_only(info):
        text += (" · ⚠️ never saw a real photo: on photographs the depth is a room-shaped guess, "
                 "and the metres are not a measurement")
    return text


def output_line(loaded) -> str:
    """The model line for a demos.models.LoadedModel, saying so when a requested model fell back."""
    line = loaded.line or model_line(loaded.predictor.info)
    if loaded.status.startswith("⚠️ **Could not load"):
        line = "⚠️ The chosen model could not be loaded (the Model panel says why); showing: " + line
    return line


def status_line(info) -> str:
    """The Model panel's status: the model line plus where the weights came from."""
    return f"{model_line(info)}\n\n<small>{html.escape(info.message)}</small>"


def _gradient(cmap: str, values: np.ndarray, positions: np.ndarray) -> str:
    """CSS gradient stops: the colours of `cmap` (colorize_depth's 256-entry table) at `values` in 0..1."""
    colours = colormap_lut(cmap)[np.minimum((values * 256).astype(int), 255)]
    return ", ".join(f"rgb({r},{g},{b}) {p * 100:.0f}%" for (r, g, b), p in zip(colours.tolist(), positions))


def colour_stops(cmap: str, invert: bool = True, steps: int = 11) -> str:
    """CSS gradient stops of a matplotlib colour map, near (left) to far (right) as colorize_depth draws it."""
    values = np.linspace(0.0, 1.0, steps)
    return _gradient(cmap, 1.0 - values if invert else values, values)


def colourbar(vmin: float, vmax: float, cmap: str = "turbo", what: str = "depth") -> str:
    """HTML colourbar under a depth image, its range as text: 'near 0.80 m … far 4.90 m'."""
    label = f"{what}: near {vmin:.2f} m … far {vmax:.2f} m"
    return (
        f'<div class="colourbar" role="img" aria-label="{html.escape(label)}">'
        f'<div class="colourbar-strip" style="background: linear-gradient(to right, {colour_stops(cmap)})"></div>'
        f'<div class="colourbar-text"><span>near {vmin:.2f} m</span><span>{html.escape(what)} · {cmap}</span>'
        f"<span>far {vmax:.2f} m</span></div></div>"
    )


def colourbar_in(vmin: float, vmax: float, unit: str, cmap: str = "turbo", what: str = "depth") -> str:
    """colourbar() for values whose unit may be unknown: `unit` "m" reads 'near 0.80 m … far 4.90 m'
    (exactly as colourbar), "" reads 'near 0.80 … far 4.90 (no unit: depth up to an unknown scale)'."""
    if unit == "m":
        return colourbar(vmin, vmax, cmap, what)
    note = f"{what} · {cmap} · no unit: depth up to an unknown scale"
    label = f"{what}: near {vmin:.2f} … far {vmax:.2f} (no unit: depth up to an unknown scale)"
    return (
        f'<div class="colourbar" role="img" aria-label="{html.escape(label)}">'
        f'<div class="colourbar-strip" style="background: linear-gradient(to right, {colour_stops(cmap)})"></div>'
        f'<div class="colourbar-text"><span>near {vmin:.2f}</span><span>{html.escape(note)}</span>'
        f"<span>far {vmax:.2f}</span></div></div>"
    )


def difference_bar(limit: float) -> str:
    """HTML legend of a signed difference map (coolwarm, symmetric)."""
    label = f"difference: {-limit:.2f} m nearer … {limit:.2f} m farther"
    return (
        f'<div class="colourbar" role="img" aria-label="{html.escape(label)}">'
        f'<div class="colourbar-strip" style="background: linear-gradient(to right, {_coolwarm()})"></div>'
        f'<div class="colourbar-text"><span>{limit:.2f} m nearer</span><span>difference to the learned mirror</span>'
        f"<span>{limit:.2f} m farther</span></div></div>"
    )


def _coolwarm() -> str:
    values = np.linspace(0.0, 1.0, 9)
    return _gradient("coolwarm", values, values)


def depth_colourbar(depth: np.ndarray, cmap: str = "turbo", vmin: float | None = None, vmax: float | None = None,
                    what: str = "depth") -> str:
    """The colourbar of a depth map coloured with colorize_depth(depth, vmin, vmax, cmap)."""
    lo, hi = display_range(depth, vmin, vmax)
    return colourbar(lo, hi, cmap, what)


COLOURBAR_CSS = """
.colourbar {margin: 2px 0 6px 0; font-size: 0.85em}
.colourbar-strip {height: 12px; border-radius: 3px}
.colourbar-text {display: flex; justify-content: space-between; gap: 8px}
"""


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&\"'=:])")


def markdown_text(text: str) -> str:
    """`text` (a note naming uploaded files) for a gr.Markdown that shows it as written: no control
    or bidirectional formatting characters (common.validate.visible_text), and every ASCII
    punctuation mark that Markdown or HTML would act on escaped with a backslash (CommonMark 2.4),
    so a file named `<img src=x onerror=...>.npy` or `[click](https:…) **bold**.npy` is shown, not
    rendered."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", visible_text(text))
