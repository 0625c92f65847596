"""The "only the first N frames are analysed" note appears exactly when frames are cut, in the CLI
and in the app (one count: common.frames.FrameSource.available_count)."""
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
