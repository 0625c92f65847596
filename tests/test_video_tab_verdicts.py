"""Measures a non-expert can read: every row of the video study's table gets a plain verdict
against a reference level (the true depth's own, else the input video's own brightness measured
the same way, a still camera's, or a published range), and the table reads as cards on a phone."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from analysis.temporal_baseline import BRIGHTNESS_NAME, BrightnessSource, luminance, trim_baseline_curves
from analysis.temporal_report import BASELINE_COLUMN, markdown_table, measure_rows, verdict

ROOT = Path(__file__).resolve().parents[1]
VIDEO = str(ROOT / "examples" / "video" / "video.mp4")  # 24 frames at 10 fps, 320x240


def test_luminance_is_rec_601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(luminance(rgb), [[0.299, 0.587, 0.114, 1.0]], atol=1e-6)
    assert BrightnessSource.is_baseline and not BrightnessSource.is_reference


@pytest.mark.parametrize("key, value, truth, base, expected", [
    ("flicker_mean", 0.05, None, 0.25, "steady: flickers less than the video itself"),
    ("flicker_mean", 0.27, None, 0.25, "flickers about as much as the video itself"),
    ("flicker_mean", 0.40, None, 0.25, "flickers more than the video itself"),
    ("flicker_mean", 0.05, 0.05, 0.25, "flickers about as much as the true depth"),  # the truth comes first
    ("opw_mean", 0.062, None, 0.046, "changes more along the motion than the video itself"),
    ("opw_mean", 0.01, None, 0.06, "steady: changes less along the motion than the video itself"),
    ("tae_mean", 0.0575, 0.00013, None, "less consistent in 3D than the true depth"),
    ("abs_rel_mean", 0.07, 0.0, None, "close to the truth"),
    ("abs_rel_mean", 0.159, 0.0, None, "rough"),
    ("abs_rel_mean", 0.4, 0.0, None, "far from the truth"),
    ("d1_mean", 0.95, 1.0, None, "close to the truth"),
    ("d1_mean", 0.5, 1.0, None, "far from the truth"),
    ("scale_to_gt_drift_max_abs_log", 0.02, 0.0, None, "steady scale"),
    ("scale_to_gt_drift_max_abs_log", 0.104, 0.0, None, "scale drifts a little"),
    ("median_ratio_range", 0.01, None, None, "steady over the clip"),  # a still camera's level: no change
    ("median_ratio_range", 0.2, None, None, "changes a little over the clip"),
    ("drift_scale_last", 0.567, None, None, "changes a lot over the clip"),
    ("median_ratio_range", 0.201, 0.32, None, "wanders less than the true depth"),
    ("drift_scale_last", 0.567, 1.1, None, "drifts more than the true depth"),
    ("flicker_mean", None, None, 0.25, "–"),
])
def test_verdicts_against_their_reference_level(key, value, truth, base, expected):
    assert verdict(key, value, truth, base) == expected


def test_rows_show_the_videos_own_level_only_where_it_is_the_reference_and_name_each_sources_verdict():
    summaries = {"model": {"flicker_mean": 0.05, "median_ratio_range": 0.3}, "upload": {"flicker_mean": 0.5}}
    baseline = {"flicker_mean": 0.25, "median_ratio_range": 0.4}
    rows = {row["key"]: row for row in measure_rows(summaries, None, baseline)}
    assert rows["flicker_mean"][BASELINE_COLUMN] == 0.25 and rows["median_ratio_range"][BASELINE_COLUMN] is None
    assert rows["flicker_mean"]["verdict"] == ("model: steady: flickers less than the video itself; "
                                               "upload: flickers more than the video itself")
    assert rows["median_ratio_range"]["verdict"] == "model: changes a lot over the clip; upload: –"
    assert list(rows["flicker_mean"])[-2:] == ["verdict", "meaning"]


def test_the_labelled_table_carries_each_cells_column_for_the_phone_cards():
    rows = measure_rows({"model": {"flicker_mean": 0.05}}, None, {"flicker_mean": 0.25})
    line = markdown_table(rows, labelled=True).splitlines()[2]
    assert line.startswith("| flicker | ↓ lower | <span class=\"no-value\">–</span> | ")
    assert f'<span class="cell-label">{BASELINE_COLUMN}:</span> 0.25' in line
    assert '<span class="cell-label verdict">verdict:</span> steady: flickers less than the video itself' in line
    assert "<span" not in markdown_table(rows)  # the command line's table stays plain


def test_trimmed_curves_keep_only_the_brightness_measures_that_mean_something():
    curves = {"model": {"flicker": [1], "abs_rel": [2]}, BRIGHTNESS_NAME: {"flicker": [3], "opw": [4], "abs_rel": [5]}}
    assert trim_baseline_curves(curves) == {"model": {"flicker": [1], "abs_rel": [2]}, BRIGHTNESS_NAME: {"flicker": [3], "opw": [4]}}


def analyse(depth_files, include_model=False):
    from demos.errors import guarded
    from demos.video_tab import analyse_video

    return guarded(analyse_video)(VIDEO, 5, 240, 160, "synthetic-tiny", "", depth_files, "metric", "auto", "both", None,
                                  include_model)


def test_a_flickering_depth_flickers_more_than_the_video_and_a_still_one_is_steady(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "noise.npy", rng.uniform(0.5, 10.0, (24, 120, 160)).astype(np.float32))  # new depth each frame, analysed size
    ramp = np.linspace(1.0, 6.0, 60 * 80, dtype=np.float32).reshape(60, 80)
    np.save(tmp_path / "still.npy", np.stack([ramp] * 24))  # the same depth every frame
    result = analyse([str(tmp_path / "noise.npy"), str(tmp_path / "still.npy")])
    measures = json.loads(next(Path(f) for f in result[5] if f.endswith("measures.json")).read_text())
    rows = {row["key"]: row for row in measures["measures"]}
    assert rows["flicker_mean"]["verdict"] == ("noise.npy: flickers more than the video itself; "
                                               "still.npy: steady: flickers less than the video itself")
    assert rows["flicker_mean"][BASELINE_COLUMN] > 0  # the walk's own brightness changes from frame to frame
    assert rows["drift_scale_last"]["verdict"].endswith("still.npy: steady over the clip")
    assert BRIGHTNESS_NAME not in result[4]["sources"]  # not a depth source: no column of its own, no panel
    assert result[1].count('class="colourbar"') == 2
    report = next(Path(f) for f in result[5] if f.endswith("report.html")).read_text()
    assert "<th>verdict</th>" in report and "The video itself (brightness): the same measure" in report


def test_the_raw_json_panel_is_not_on_the_page():
    from demos.video_tab import build

    with gr.Blocks() as blocks:
        build()
    panels = [b for b in blocks.blocks.values() if isinstance(b, gr.JSON)]
    assert [p.visible for p in panels] == [False]  # kept for API callers only
