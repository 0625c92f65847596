"""The temporal study's readable result: one table of measures (value per source, better
direction, the ground-truth reference level where known, one line of meaning), as rows for the
app, CSV and JSON downloads, and a one-file HTML report (table + inline PNG plot) that opens offline.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.jsonio import json_safe


@dataclass(frozen=True)
class Measure:
    key: str  # the summary key (summary.json)
    label: str
    better: str  # "lower", "higher" or "near reference" (moves with the camera too)
    meaning: str


MEASURES = (
    Measure("flicker_mean", "flicker", "lower",
            "frame-to-frame change left after fitting scale and shift: local instability"),
    Measure("opw_mean", "OPW", "lower",
            "depth change along the optical flow, relative to mean depth; sees global scale jumps too"),
    Measure("tae_mean", "TAE", "lower",
            "depth moved with the true camera motion into the next frame vs that frame's depth (AbsRel)"),
    Measure("abs_rel_mean", "AbsRel", "lower", "mean |depth - truth| / truth per frame"),
    Measure("d1_mean", "δ1", "higher", "share of pixels within 1.25x of the truth"),
    Measure("scale_to_gt_drift_max_abs_log", "metric-scale drift", "lower",
            "largest |log| change of the depth/truth scale from the first frame: the model's own scale drift"),
    Measure("median_ratio_range", "median-depth range", "near reference",
            "spread of median depth over the clip, relative to the first frame (the camera moves it too)"),
    Measure("drift_scale_last", "scale onto first frame, last", "near reference",
            "least-squares scale of the last frame onto the first (1 = same scale; the camera moves it too)"),
)
BETTER_SYMBOL = {"lower": "↓ lower", "higher": "↑ higher", "near reference": "≈ reference"}


def rounded(value: Any, digits: int = 3) -> Any:
    """Floats to `digits` significant digits (None and non-finite stay None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if not math.isfinite(value):
        return None
    if isinstance(value, int) or value == 0:
        return value
    return round(float(value), max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def shown(value: Any) -> str:
    value = rounded(value)
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


REFERENCE_COLUMN = "reference (ground truth)"
BASELINE_COLUMN = "the video itself (brightness)"
TEXT_COLUMNS = ("measure", "better", "verdict", "meaning")

# Verdict bands. Ratios to a reference level: within STEADY_BAND of it reads "about as … as".
STEADY_BAND = (0.8, 1.25)
# Published ranges for AbsRel and δ1: models on NYU Depth v2 (indoor, metric) score AbsRel 0.06-0.11
# and δ1 0.87-0.97 (AdaBins 0.103 / 0.903, DPT-Hybrid 0.110 / 0.904, ZoeDepth 0.075 / 0.955,
# Depth Anything metric 0.056 / 0.984, as their papers report).
ABS_REL_BANDS = (0.1, 0.25)  # below the first: close to the truth; above the second: far off
D1_BANDS = (0.9, 0.6)  # above the first: close; below the second: far off
SCALE_DRIFT_BANDS = (0.05, 0.15)  # max |log| change of the depth/truth scale: within 5 %, 15 %
# Without ground truth the drift rows are read against a still camera (median-depth range 0, scale 1):
STILL_BANDS = (0.05, 0.25)  # change over the clip (range, or |log scale|): steady below, a lot above
BASELINE_KEYS = ("flicker_mean", "opw_mean")  # the measures the video's own brightness is a reference level for


def _ratio_words(value: float, level: float, against: str, less: str, same: str, more: str) -> str:
    """`less`/`same`/`more` + `against`, by the ratio of value to level (STEADY_BAND)."""
    if level <= 0:
        return same + " " + against if value <= 0 else more + " " + against
    ratio = value / level
    words = less if ratio < STEADY_BAND[0] else same if ratio <= STEADY_BAND[1] else more
    return f"{words} {against}"


def verdict(key: str, value: float | None, truth: float | None, base: float | None) -> str:
    """One plain verdict for a measure's value, against a reference level: flicker and OPW against
    the ground truth's own level when known, else the video's own brightness measured the same way
    (analysis.temporal_baseline); TAE against the truth's own level; AbsRel, δ1 and the metric-scale
    drift against published ranges (the bands above); the two drift-from-the-first-frame rows
    against the truth's own level, else a still camera's (no change). "–" when the value is not
    measurable or there is nothing to compare with."""
    if value is None or not math.isfinite(value):
        return "–"
    if key in ("abs_rel_mean", "d1_mean", "scale_to_gt_drift_max_abs_log"):
        if key == "abs_rel_mean":
            close, far = value < ABS_REL_BANDS[0], value > ABS_REL_BANDS[1]
        elif key == "d1_mean":
            close, far = value > D1_BANDS[0], value < D1_BANDS[1]
        else:
            close, far = value < SCALE_DRIFT_BANDS[0], value > SCALE_DRIFT_BANDS[1]
        if key == "scale_to_gt_drift_max_abs_log":
            return "steady scale" if close else "scale drifts" if far else "scale drifts a little"
        return "close to the truth" if close else "far from the truth" if far else "rough"
    if key in ("median_ratio_range", "drift_scale_last") and truth is None:
        change = value if key == "median_ratio_range" else abs(math.log(value)) if value > 0 else math.inf
        return ("steady over the clip" if change < STILL_BANDS[0] else "changes a lot over the clip"
                if change > STILL_BANDS[1] else "changes a little over the clip")  # fmt: skip
    level, against = (truth, "the true depth") if truth is not None else (base, "the video itself")
    if level is None or not math.isfinite(level):
        return "–"
    if key == "flicker_mean":
        return _ratio_words(value, level, against, "steady: flickers less than", "flickers about as much as",
                            "flickers more than")
    if key == "opw_mean":
        return _ratio_words(value, level, against, "steady: changes less along the motion than", "changes about as much "
                            "along the motion as", "changes more along the motion than")  # fmt: skip
    if key == "tae_mean":  # the truth's own TAE is the floor left by sampling and occlusions
        return _ratio_words(value, max(level, 1e-6), against, "consistent in 3D: below", "consistent in 3D, like",
                            "less consistent in 3D than")
    if key == "median_ratio_range":
        return _ratio_words(value, level, against, "wanders less than", "wanders about as much as", "wanders more than")
    if key == "drift_scale_last":  # a scale near 1 = no change; compare how far each is from 1
        change, level_change = abs(math.log(max(value, 1e-6))), abs(math.log(max(level, 1e-6)))
        return _ratio_words(change, level_change, against, "drifts less than", "drifts about as much as",
                            "drifts more than")
    return "–"


def measure_rows(summaries: dict[str, dict[str, Any]], reference: dict[str, Any] | None,
                 baseline: dict[str, Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per measure that any source (or the reference) has: measure, better, reference
    (ground truth), the video's own level (with a `baseline` summary: analysis.temporal_baseline),
    one value per source, a plain verdict (`verdict`; one per source, named, when several) and the
    meaning. Values rounded to 3 significant digits (None: not measurable)."""
    rows = []
    for measure in MEASURES:
        values = {name: summary.get(measure.key) for name, summary in summaries.items()}
        ref = None if reference is None else reference.get(measure.key)
        base = None if baseline is None or measure.key not in BASELINE_KEYS else baseline.get(measure.key)
        if all(v is None for v in values.values()) and ref is None:
            continue
        row = {"measure": measure.label, "key": measure.key, "better": BETTER_SYMBOL[measure.better],
               REFERENCE_COLUMN: rounded(ref)}  # fmt: skip
        if baseline is not None:
            row[BASELINE_COLUMN] = rounded(base)
        row.update({name: rounded(value) for name, value in values.items()})
        verdicts = {name: verdict(measure.key, value, ref, base) for name, value in values.items()}
        row["verdict"] = next(iter(verdicts.values())) if len(verdicts) == 1 else \
            "; ".join(f"{name}: {words}" for name, words in verdicts.items())
        row["meaning"] = measure.meaning
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]], with_key: bool = False, labelled: bool = False) -> str:
    """The rows as a Markdown table. `labelled`: every cell after the first two also carries its
    column's name in a `<span class="cell-label">` (hidden on wide screens by the app's CSS, shown
    when a narrow screen stacks each row into a card; the verdict's is also of class `verdict`, so
    the card can put it first), and an empty value is marked
    `<span class="no-value">` (such cells are left out of the cards). Column names are used as given:
    a caller showing names from uploads escapes them first."""
    if not rows:
        return "No measure could be computed."
    columns = [c for c in rows[0] if with_key or c != "key"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if c not in TEXT_COLUMNS else "---"
                                                                for c in columns) + "|"]  # fmt: skip
    for row in rows:
        cells = []
        for position, column in enumerate(columns):
            text = _cell(str(row[column])) if column in TEXT_COLUMNS else shown(row[column])
            if labelled and position >= 2:
                kind = "cell-label verdict" if column == "verdict" else "cell-label"
                text = ('<span class="no-value">–</span>' if text == "–" else
                        f'<span class="{kind}">{_cell(column)}:</span> {text}')  # fmt: skip
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for one Markdown table cell: a bare | would end the cell (|depth - truth| in a meaning);
    a bar already escaped (Markdown-escaped text) stays as it is."""
    return re.sub(r"(?<!\\)\|", r"\\|", text).replace("\n", " ")


def write_measures_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["measure"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def write_measures_json(rows: list[dict[str, Any]], sources: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(json_safe({"sources": sources, "measures": rows}), indent=2, ensure_ascii=False) + "\n")
    return path


def figure_png(fig, dpi: int = 120) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


REPORT_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.small { color: #555; font-size: 13px; }
img { max-width: 100%; }
"""


def write_html_report(path: str | Path, title: str, rows: list[dict[str, Any]], sources: list[dict[str, Any]],
                      png: bytes | None = None, notes: list[str] = ()) -> Path:  # fmt: skip
    """One self-contained HTML file: title, sources, the measures table, the curves as an inline
    PNG, notes. No scripts, no external files: it opens offline and can be mailed around."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{REPORT_STYLE}</style></head><body><h1>{esc(title)}</h1>"]  # fmt: skip
    parts.append("<h2>Sources</h2><ul>")
    for source in sources:
        parts.append(f"<li><b>{esc(source['name'])}</b>: {esc(source.get('note') or '')}</li>")
    parts.append("</ul><h2>Measures</h2>")
    if rows:
        columns = [c for c in rows[0] if c != "key"]
        parts.append("<table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            cells = []
            for column in columns:
                if column in TEXT_COLUMNS:
                    cells.append(f"<td>{esc(str(row[column]))}</td>")
                else:
                    cells.append(f"<td class='num'>{esc(shown(row[column]))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No measure could be computed.</p>")
    parts.append("<p class='small'>Reference (ground truth): the same measure on the true depth of this clip, "
                 "i.e. what a perfect model scores under this camera motion. The video itself (brightness): the same "
                 "measure on the input video's luminance, the reference level of the verdicts without ground truth. "
                 "– : not measurable (no ground truth, or no pair of frames).</p>")  # fmt: skip
    if png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>Per frame</h2><img alt='per-frame curves' src='data:image/png;base64,{encoded}'>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(note)}</li>" for note in notes) + "</ul>")
    parts.append("</body></html>\n")
    path = Path(path)
    path.write_text("".join(parts), encoding="utf-8")
    return path
