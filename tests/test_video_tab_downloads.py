"""Depth taken away from the video tab and brought back: the analysed frames' depth as a .zip of
16-bit PNGs (mm) and a float16 .npz (m), each holding which clip frame every depth frame is, read
back unchanged by the comparison panel; and the whole clip analysed by default."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from common.depth_metrics import compute_depth_metrics
from common.depth_sequence import DepthSequenceWriter, check_matches, missing_frames, open_uploaded_sequences
from common.frames import open_frames

ROOT = Path(__file__).resolve().parents[1]
VIDEO = str(ROOT / "examples" / "video" / "video.mp4")  # 24 frames at 10 fps, 320x240
BUNDLED = "synthetic-tiny"


def analyse(video=VIDEO, fps=5, max_frames=240, depth_files=None, include_model=True, values="auto", gt_files=None):
    from demos.errors import guarded
    from demos.video_tab import analyse_video

    return guarded(analyse_video)(video, fps, max_frames, 160, BUNDLED, "", depth_files, values, "auto", "both", gt_files,
                                  include_model)


def download(result, suffix: str) -> str:
    (path,) = [f for f in result[5] if f.endswith(suffix)]
    return path


@pytest.fixture(scope="module")
def walk():
    """The example walk analysed as the tab does by default (5 fps, every frame that fits)."""
    return analyse()


def test_writer_round_trip_keeps_values_clip_indices_and_holes(tmp_path):
    rng = np.random.default_rng(3)
    written = {}
    writer = DepthSequenceWriter(tmp_path / "d.zip", tmp_path / "d.npz", clip_frames=30, fps=4.0)
    for index in (0, 3, 7, 12):
        depth = rng.uniform(0.3, 60.0, (18, 24)).astype(np.float32)
        depth[2, 5] = 0.0  # no depth stays no depth
        depth[4, 4] = np.nan
        written[index] = depth
        writer.add(index, depth)
    zip_path, npz_path = writer.close()
    assert not (tmp_path / "d.npz.part").exists()
    with zipfile.ZipFile(zip_path) as archive:
        record = json.loads(archive.read("frames.json"))
    assert record["clip_frames"] == 30 and record["frames"]["frame_000007.png"] == 7
    zipped, stacked = open_uploaded_sequences([zip_path, npz_path], tmp_path / "work")
    for sequence, tolerance in ((zipped, 0.0005 / 0.3 + 1e-6), (stacked, 2.0**-11 + 1e-6)):  # 1 mm at 0.3 m; float16's step
        assert sequence.values == "metric" and sequence.count == 4 and sequence.clip_count == 30
        assert sequence.frame_indices == (0, 3, 7, 12) and sequence.fps == 4.0
        check_matches(sequence, 30, (180, 240))  # belongs to a 30-frame clip, at a tenth of its size
        seen = []
        for index, frame in sequence:
            truth = written[index]
            assert frame[2, 5] == 0 and frame[4, 4] == 0
            valid = np.isfinite(truth) & (truth > 0)
            assert np.max(np.abs(frame[valid] - truth[valid]) / truth[valid]) <= tolerance
            seen.append(index)
        assert seen == [0, 3, 7, 12]
        assert missing_frames(sequence, [0, 3, 6]) == [6]


def test_a_sampled_sequence_refuses_another_clip_length(tmp_path):
    writer = DepthSequenceWriter(tmp_path / "d.zip", tmp_path / "d.npz", clip_frames=24, fps=5.0)
    writer.add(0, np.ones((6, 8), np.float32))
    writer.add(2, np.ones((6, 8), np.float32))
    for sequence in open_uploaded_sequences(list(writer.close()), tmp_path / "work"):
        with pytest.raises(ValueError, match="made for a clip of 24 frames, but the video has 30"):
            check_matches(sequence, 30, (6, 8))


def test_a_damaged_frame_index_is_refused_in_words(tmp_path):
    for record, words in (({"clip_frames": 24, "frames": {"a.npy": 2, "b.npy": 1}}, "must increase"),
                          ({"clip_frames": 24, "frames": {"a.npy": 0}}, "does not say which clip frame b.npy"),
                          ({"clip_frames": "many", "frames": {"a.npy": 0, "b.npy": 1}}, "positive whole number")):  # fmt: skip
        archive = tmp_path / "seq.zip"
        with zipfile.ZipFile(archive, "w") as handle:
            for name in ("a.npy", "b.npy"):
                handle.writestr(name, _npy(np.ones((6, 8), np.float32)))
            handle.writestr("frames.json", json.dumps(record))
        with pytest.raises(ValueError, match=words):
            open_uploaded_sequences([archive], tmp_path / f"work{len(words)}")
    np.savez(tmp_path / "bad.npz", depth=np.ones((2, 6, 8), np.float16), frame_index=np.array([0.5, 1.5]), clip_frames=4)
    with pytest.raises(ValueError, match="whole numbers"):
        open_uploaded_sequences([tmp_path / "bad.npz"], tmp_path / "work")


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_the_downloads_hold_the_models_own_depth_at_the_analysed_size(walk, tmp_path):
    from demos.models import registry

    zipped, stacked = open_uploaded_sequences([download(walk, ".zip"), download(walk, ".npz")], tmp_path)
    frames = list(open_frames(VIDEO, target_fps=5, max_side=160))
    assert [f.index for f in frames] == list(range(0, 24, 2))  # the whole clip at 5 fps: 12 of its 24 frames
    predicted = registry().get(BUNDLED).predictor.predict([f.rgb for f in frames])
    for sequence in (zipped, stacked):
        assert sequence.shape == (120, 160) and sequence.frame_indices == tuple(range(0, 24, 2))
        for (index, depth), model, frame in zip(sequence, predicted, frames):
            assert index == frame.index
            abs_rel = compute_depth_metrics(depth, np.asarray(model, np.float32))["abs_rel"]
            assert abs_rel < 1e-3, f"{sequence.name} frame {index}: AbsRel {abs_rel} against the model's own depth"


def test_the_downloads_come_back_as_metric_depth_equal_to_the_model(walk):
    again = analyse(depth_files=[download(walk, ".zip"), download(walk, ".npz")])
    measures = json.loads(Path(download(again, "measures.json")).read_text())
    notes = {source["name"]: source["note"] for source in measures["sources"]}
    assert "depth_16bit_mm" in notes and "depth_float16_m.npz" in notes
    for name in ("depth_16bit_mm", "depth_float16_m.npz"):
        assert "(12 frames, metric); metric depth, used as it is" in notes[name]  # no alignment, no unknown scale
        for row in measures["measures"]:
            model = row[BUNDLED]
            assert row[name] == pytest.approx(model, rel=5e-3, abs=1e-4), (row["measure"], name)


def test_a_download_analysed_at_another_rate_is_refused_plainly(walk):
    from tests.test_hostile_inputs import assert_plain

    with pytest.raises(gr.Error) as refused:
        analyse(fps=10, depth_files=[download(walk, ".npz")], include_model=False)
    assert_plain(refused.value.message, "depth_float16_m.npz holds depth for 12 of the clip's frames (it was made at 5 fps)",
                 "not for frame 1", "Analyse at the rate the depth was made at")


def test_the_whole_clip_is_analysed_by_default_and_a_cut_says_why(walk):
    from demos.video_tab import MAX_FRAMES, analysed_note, build  # noqa: F401  (build: the slider's default below)

    assert walk[6].startswith(r"Analysed 12 frames\: the whole clip \(2\.4 s\) at 5 fps\.")
    frames = open_frames(VIDEO, target_fps=5, max_frames=11, max_side=160)
    assert analysed_note(frames, 11) == ("Analysed 11 of the clip's 12 frames at 5 fps, the first 2.2 s of 2.4 s: "
                                         "Max frames is set to 11.")
    frames = open_frames(VIDEO, target_fps=10, max_frames=MAX_FRAMES, max_side=160)
    assert analysed_note(frames, 24) == "Analysed 24 frames: the whole clip (2.4 s) at 10 fps."


def test_the_max_frames_slider_starts_at_the_limit():
    from demos.video_tab import MAX_FRAMES, build

    with gr.Blocks() as blocks:
        build()
    sliders = [b for b in blocks.blocks.values() if isinstance(b, gr.Slider) and (b.label or "").startswith("Max frames")]
    assert [s.value for s in sliders] == [MAX_FRAMES]
