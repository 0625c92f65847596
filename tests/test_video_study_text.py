"""What the video study says in words: the "only the first N frames are analysed" note appears exactly
when frames are cut (one count: common.frames.FrameSource.available_count), and table cells stay whole."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.temporal import limit_notes
from common.frames import open_frames

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "video" / "video.mp4"  # 24 frames at 10 fps


@pytest.mark.parametrize("fps, max_frames, count", [(10, 24, 24), (5, 12, 12), (30, 24, 24)])
def test_no_note_when_every_frame_fits(fps, max_frames, count):
    frames = open_frames(VIDEO, target_fps=fps, max_frames=max_frames, max_side=640)
    assert frames.available_count == count
    assert limit_notes(frames, max_frames, 640) == []


def test_the_note_gives_the_true_count_when_frames_are_cut():
    frames = open_frames(VIDEO, target_fps=5, max_frames=11, max_side=640)
    (note,) = limit_notes(frames, 11, 640)
    assert note.startswith("the video has 12 frames at 5 fps") and "only the first 11" in note


def test_the_app_says_the_same():
    from demos.video_tab import _open_video

    _, notes = _open_video(str(VIDEO), 10.0, 24, 640)
    assert notes == []
    _, notes = _open_video(str(VIDEO), 5.0, 11, 640)
    assert notes == ["At 5 fps the video has 12 frames; the first 11 are analysed."]


def test_meaning_cells_survive_a_bar_in_their_text():
    from analysis.temporal_report import markdown_table, measure_rows

    rows = measure_rows({"model": {"abs_rel_mean": 0.2, "scale_to_gt_drift_max_abs_log": 0.1}}, None)
    lines = markdown_table(rows).splitlines()
    header_cells = lines[0].count(" | ") + 1
    for line in lines[2:]:
        cells = line.replace("\\|", "").count(" | ") + 1  # an escaped bar stays inside its cell
        assert cells == header_cells, line
    assert "mean \\|depth - truth\\| / truth per frame" in lines[2]
