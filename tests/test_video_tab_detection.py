"""The comparison panel in plain words: what an upload's numbers mean is detected from the upload
(grey or colour-mapped video; value range → metres or closeness of unknown scale) and said in the
notes, and colourbars show metres only where the unit is known."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest

from common.depth_io import colormap_lut, read_depth_png, write_depth_png
from common.depth_sequence import detect_values, open_depth_sequence
from common.video_io import write_video

ROOT = Path(__file__).resolve().parents[1]
VIDEO = str(ROOT / "examples" / "video" / "video.mp4")  # 24 frames at 10 fps, 320x240
TRUTH = sorted((ROOT / "examples" / "video" / "depth").glob("*.png"))
JARGON = re.compile(r"\b(metric|relative|disparity|near-dark|near-bright|align|per clip|per frame)\b", re.I)


def _stack(tmp_path, name, frames):
    np.save(tmp_path / name, np.stack(frames))
    return open_depth_sequence(tmp_path / name)


def _ramp(low: float, high: float, dtype=np.float32) -> list[np.ndarray]:
    values = np.linspace(low, high, 48 * 64).reshape(48, 64)
    return [values.astype(dtype), values[::-1].astype(dtype)]


@pytest.mark.parametrize("low, high, dtype, expected, words", [
    (0.6, 7.5, np.float32, "metric", "values 0.6 to 7.5 (first frame), read as distances in metres"),
    (0.0, 1.0, np.float32, "disparity", "numbers normalised to 0-1, so not metres"),
    (-0.4, 2.0, np.float32, "disparity", "negative numbers, so not distances"),
    (0, 255, np.uint8, "disparity", "whole numbers up to 255"),
    (0.2, 0.9, np.float32, "metric", "read as distances in metres"),  # a close-up scene, all within a metre
    (3, 180, np.uint8, "metric", "values 3 to 180"),  # whole metres, not an 8-bit stretch
])
def test_a_stack_is_read_as_what_its_value_range_says(tmp_path, low, high, dtype, expected, words):
    values, note = detect_values(_stack(tmp_path, "stack.npy", _ramp(low, high, dtype)))
    assert values == expected and words in note and note.startswith("stack.npy: ")


def test_16_bit_pngs_are_millimetres_unless_stretched_to_the_full_range(tmp_path):
    (tmp_path / "mm").mkdir()
    (tmp_path / "full").mkdir()
    for i, depth in enumerate(_ramp(0.5, 8.0)):
        write_depth_png(tmp_path / "mm" / f"{i}.png", depth)
        cv2.imwrite(str(tmp_path / "full" / f"{i}.png"), np.round(depth / 8.0 * 65535).astype(np.uint16))
    values, note = detect_values(open_depth_sequence(tmp_path / "mm"))
    assert values == "metric" and "values 500 to 8000 (first frame), read as distances in millimetres" in note
    values, note = detect_values(open_depth_sequence(tmp_path / "full"))
    assert values == "disparity" and "stretched to the full range" in note


def test_videos_say_whether_grey_or_colour_mapped(tmp_path):
    ramp = np.linspace(0.05, 0.95, 48 * 64).reshape(48, 64)
    grey = np.repeat(np.round(ramp * 255).astype(np.uint8)[..., None], 3, axis=2)
    inferno = colormap_lut("inferno")[np.round(ramp * 255).astype(np.int64)]
    for name, frame, words in (("grey.mp4", grey, "a grey 8-bit video"),
                               ("vda.mp4", inferno, "a colour-mapped video (inferno), read through its colormap")):  # fmt: skip
        sequence = open_depth_sequence(write_video(tmp_path / name, [frame] * 3, fps=10, h264=False))
        values, note = detect_values(sequence)
        assert values == "disparity" and note == f"{name}: {words}; its values have no unit"


def analyse(depth_files, values="auto", gt_files=None, include_model=False):
    from demos.errors import guarded
    from demos.video_tab import analyse_video

    return guarded(analyse_video)(VIDEO, 5, 240, 160, "synthetic-tiny", "", depth_files, values, "auto", "both", gt_files,
                                  include_model)


@pytest.fixture(scope="module")
def grey_video(tmp_path_factory) -> str:
    """The walk's true depth as Video Depth Anything's grey output: closeness stretched to 0-255, near bright."""
    folder = tmp_path_factory.mktemp("grey")
    closeness = [1.0 / np.maximum(read_depth_png(p), 0.1) for p in TRUTH]
    low, high = min(c.min() for c in closeness), max(c.max() for c in closeness)
    frames = [np.repeat(np.round(255 * (c - low) / (high - low)).astype(np.uint8)[..., None], 3, axis=2) for c in closeness]
    return str(write_video(folder / "vda_grey.avi", frames, fps=10, h264=False))


def test_a_grey_video_gets_no_metres_on_its_colourbars_and_the_notes_say_what_was_detected(grey_video):
    result = analyse([grey_video])
    video_bar, notes, frame_bar = result[1], result[6], result[11]
    assert "no unit" in video_bar and "no unit" in frame_bar
    assert not re.search(r"\d m\b", video_bar + frame_bar), "a grey video's values shown as metres"
    assert r"Detected vda\_grey\.avi\: a grey 8\-bit video" in notes and "closeness of unknown scale" in notes
    assert result[5] == [f for f in result[5] if not f.endswith((".zip", ".npz"))]  # no metres to take away


def test_with_the_true_depth_the_grey_video_is_matched_to_it_and_shown_in_metres(grey_video):
    gt_files = [str(p) for p in TRUTH] + [str(ROOT / "examples" / "video" / n) for n in ("intrinsics.json", "poses.json")]
    video_bar = analyse([grey_video], gt_files=gt_files)[1]
    assert "no unit" not in video_bar and re.search(r"near \d+\.\d\d m .* far \d+\.\d\d m", video_bar)


def test_a_choice_is_said_as_chosen(tmp_path):
    np.save(tmp_path / "stack.npy", np.stack([np.full((24, 32), 0.5, np.float32)] * 24))
    notes = analyse([str(tmp_path / "stack.npy")], values="relative")[6]
    assert r"stack\.npy\: read as distances of unknown scale \(larger is farther\), as chosen\." in notes


def test_the_comparison_questions_are_in_plain_words():
    from demos.video_tab import ALIGN_CHOICES, POLARITY_CHOICES, VALUE_CHOICES, build

    with gr.Blocks() as blocks:
        build()
    radios = [b for b in blocks.blocks.values() if isinstance(b, gr.Radio)]
    assert len(radios) == 3
    for radio in radios:
        shown = [radio.label, radio.info or ""] + [label for label, _ in radio.choices]
        assert not any(JARGON.search(text) for text in shown), shown
    # The values sent (and the API's) stay the analysis's own words.
    assert [v for _, v in VALUE_CHOICES] == ["auto", "metric", "relative", "disparity"]
    assert [v for _, v in POLARITY_CHOICES] == ["auto", "near-dark", "near-bright"]
    assert [v for _, v in ALIGN_CHOICES] == ["clip", "frame", "both"]


def test_a_sequence_without_any_depth_is_refused_not_read_as_steady(tmp_path):
    import numpy as np
    import pytest as _pytest

    from common.depth_sequence import detect_values, open_depth_sequence

    for name, values in (("nan", np.full((4, 12, 16), np.nan, np.float32)), ("negative", -np.ones((4, 12, 16), np.float32))):
        path = tmp_path / f"{name}.npz"
        np.savez(path, depth=values)
        with _pytest.raises(ValueError, match="holds no depth"):
            detect_values(open_depth_sequence(path))
