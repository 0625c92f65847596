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


def measure_rows(summaries: dict[str, dict[str, Any]], reference: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per measure that any source (or the reference) has: measure, better, reference,
    one value per source, meaning. Values rounded to 3 significant digits (None: not measurable)."""
    rows = []
    for measure in MEASURES:
        values = {name: summary.get(measure.key) for name, summary in summaries.items()}
        ref = None if reference is None else reference.get(measure.key)
        if all(v is None for v in values.values()) and ref is None:
            continue
        row = {"measure": measure.label, "key": measure.key, "better": BETTER_SYMBOL[measure.better],
               "reference (ground truth)": rounded(ref)}  # fmt: skip
        row.update({name: rounded(value) for name, value in values.items()})
        row["meaning"] = measure.meaning
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]], with_key: bool = False) -> str:
    if not rows:
        return "No measure could be computed."
    columns = [c for c in rows[0] if with_key or c != "key"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if c not in ("measure", "better", "meaning") else "---"
                                                                for c in columns) + "|"]  # fmt: skip
    for row in rows:
        lines.append("| " + " | ".join(shown(row[c]) if c not in ("measure", "better", "meaning") else _cell(str(row[c]))
                                       for c in columns) + " |")  # fmt: skip
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for one Markdown table cell: a bare | would end the cell (|depth - truth| in a meaning)."""
    return text.replace("|", "\\|").replace("\n", " ")


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
                if column in ("measure", "better", "meaning"):
                    cells.append(f"<td>{esc(str(row[column]))}</td>")
                else:
                    cells.append(f"<td class='num'>{esc(shown(row[column]))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    else:
        parts.append("<p>No measure could be computed.</p>")
    parts.append("<p class='small'>Reference (ground truth): the same measure on the true depth of this clip, "
                 "i.e. what a perfect model scores under this camera motion. – : not measurable (no ground truth, "
                 "or no pair of frames).</p>")  # fmt: skip
    if png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>Per frame</h2><img alt='per-frame curves' src='data:image/png;base64,{encoded}'>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(note)}</li>" for note in notes) + "</ul>")
    parts.append("</body></html>\n")
    path = Path(path)
    path.write_text("".join(parts), encoding="utf-8")
    return path
