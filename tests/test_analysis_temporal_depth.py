"""The temporal study on depth made by another process: `python -m analysis.temporal VIDEO --depth ...`,
separately given ground truth (--gt), relative depth alignment, comparisons and the report."""
import csv
import json

import numpy as np
import pytest
from synthetic_clips import render_clip, translation_pose
from test_analysis_temporal import write_scene_folder

from analysis.temporal import TemporalConfig, main, run_temporal_study
from analysis.temporal_sources import SequenceSource, sequence_sources
from common.depth_sequence import open_depth_sequence
from common.video_io import write_video

SIZE = (60, 80)
FRAMES = 5


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    """A static camera: a video file, its true depth and a scene folder (ground truth) for it."""
    root = tmp_path_factory.mktemp("static")
    poses = [translation_pose() for _ in range(FRAMES)]
    rgbs, depths, K = render_clip(poses, SIZE)
    video = write_video(root / "clip.mp4", rgbs, fps=10)
    scene = write_scene_folder(root / "truth", rgbs, depths, K, poses)
    return video, depths, scene


def write_npy_folder(folder, depths):
    folder.mkdir(parents=True)
    for i, depth in enumerate(depths):
        np.save(folder / f"depth_{i}.npy", depth.astype(np.float32))
    return folder


def run(args, out):
    assert main([*args, "--out", str(out), "--quiet", "--no-video"]) == 0
    return json.loads((out / "summary.json").read_text())


def test_an_exactly_consistent_sequence_scores_zero_at_a_static_camera(static, tmp_path):
    video, depths, _ = static
    folder = write_npy_folder(tmp_path / "consistent", depths)
    summary = run([str(video), "--depth", str(folder)], tmp_path / "out")
    assert summary["frames"] == FRAMES
    assert summary["flicker_mean"] == pytest.approx(0.0, abs=1e-9)
    assert summary["opw_mean"] == pytest.approx(0.0, abs=1e-9)
    assert summary["median_ratio_range"] == pytest.approx(0.0, abs=1e-9)
    assert summary["tae_mean"] is None  # no ground truth given
    assert summary["sources"][0]["name"] == "consistent"


def test_per_frame_scale_jumps_score_worse_by_the_expected_amount(static, tmp_path):
    video, depths, _ = static
    scales = [1.0, 1.25, 0.8, 1.1, 1.0]
    folder = write_npy_folder(tmp_path / "jumps", [depth * s for depth, s in zip(depths, scales)])
    summary = run([str(video), "--depth", str(folder)], tmp_path / "out")
    # Static camera: flow is zero and colours match, so every valid pixel has weight 1 and
    # OPW_t = sum|s_t D - s_t+1 D| / n / mean(s_t D) = |s_t - s_t+1| / s_t.
    expected_opw = np.mean([abs(scales[t] - scales[t + 1]) / scales[t] for t in range(FRAMES - 1)])  # 0.2, 0.36, 0.375, 0.0909
    assert summary["opw_mean"] == pytest.approx(expected_opw, rel=1e-4)
    assert summary["flicker_mean"] == pytest.approx(0.0, abs=1e-6)  # a pure scale change is aligned away
    assert summary["median_ratio_range"] == pytest.approx(1.25 - 0.8, rel=1e-5)


def test_mismatched_frame_counts_give_a_clear_error(static, tmp_path, capsys):
    video, depths, _ = static
    folder = write_npy_folder(tmp_path / "short", depths[:3])
    assert main([str(video), "--depth", str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "short: 3 depth frames, but the video has 5 frames" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_separate_ground_truth_gives_tae_abs_rel_and_the_reference_row(static, tmp_path):
    video, depths, scene = static
    noisy = [depth * (1 + 0.02 * np.random.default_rng(i).standard_normal(depth.shape)).astype(np.float32)
             for i, depth in enumerate(depths)]  # fmt: skip
    folder = write_npy_folder(tmp_path / "noisy", noisy)
    out = tmp_path / "out"
    assert main([str(video), "--depth", str(folder), "--gt", str(scene), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 0.005 < summary["abs_rel_mean"] < 0.03 and summary["tae_mean"] > 0.005
    reference = summary["reference"]
    assert reference["abs_rel_mean"] < 1e-3 and reference["tae_mean"] < 2e-3
    rows = {row["key"]: row for row in summary["measures"]}
    assert rows["abs_rel_mean"]["better"].startswith("↓") and rows["d1_mean"]["better"].startswith("↑")
    assert rows["tae_mean"]["reference (ground truth)"] == pytest.approx(reference["tae_mean"], rel=1e-2)
    assert rows["abs_rel_mean"]["noisy"] == pytest.approx(summary["abs_rel_mean"], rel=1e-2)
    for name in ("measures.csv", "measures.json", "report.html", "per_frame_all.csv", "depth_video.mp4"):
        assert (out / name).stat().st_size > 0, name
    with (out / "measures.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["measure"] == "flicker" and "meaning" in table[0]
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "<script" not in report and "AbsRel" in report
    assert str(tmp_path) not in report and str(tmp_path) not in (out / "measures.json").read_text()


def test_relative_depth_is_aligned_per_clip_or_per_frame_and_both_are_reported(static, tmp_path):
    video, depths, scene = static
    # Disparity up to scale and shift, with a scale jump at frame 2: per-clip alignment keeps the
    # jump (OPW sees it), per-frame alignment removes it (and would hide real flicker).
    scales = [1.0, 1.0, 1.5, 1.5, 1.5]
    disparity = [(0.3 / depth + 0.1) * s for depth, s in zip(depths, scales)]
    np.savez(tmp_path / "disp.npz", depth=np.stack(disparity).astype(np.float32))
    sequence = open_depth_sequence(tmp_path / "disp.npz", values="disparity")
    from common.frames import open_frames

    frames = open_frames(video, ground_truth=scene)
    sources = sequence_sources(sequence, "both", frames.has_ground_truth)
    assert [s.name for s in sources] == ["disp.npz · per-clip alignment", "disp.npz · per-frame alignment"]
    result = run_temporal_study(frames, sources, tmp_path / "out", write_depth_video=False, progress=False,
                                config=TemporalConfig())  # fmt: skip
    per_clip = result.by_source[sources[0].name].summary
    per_frame = result.by_source[sources[1].name].summary
    assert per_frame["abs_rel_mean"] < 1e-3 and per_frame["opw_mean"] < 1e-3  # exact disparity, re-fitted every frame
    assert per_clip["opw_mean"] > 0.02 and per_clip["abs_rel_mean"] > 0.05  # one fit cannot undo the jump (1 pair in 4)
    assert "per frame" in sources[1].alignment and "once for the clip" in sources[0].alignment
    # Without ground truth nothing can be aligned: disparity is inverted and analysed as relative depth.
    lone = SequenceSource(sequence, "clip")
    lone.prepare(open_frames(video))
    assert "without ground truth" in lone.alignment


def test_compare_a_model_with_a_sequence_on_one_clip(static, tmp_path):
    pytest.importorskip("mirror_model.predict", reason="the depth model loader is not available")
    video, depths, scene = static
    folder = write_npy_folder(tmp_path / "mine", depths)
    out = tmp_path / "out"
    assert main([str(video), "--model", "synthetic-tiny", "--depth", str(folder), "--gt", str(scene), "--out", str(out),
                 "--quiet", "--max-frames", "3"]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["sources"]] == ["synthetic-tiny", "mine", "ground truth"]
    assert summary["sources"][1]["summary"]["abs_rel_mean"] < 1e-6
    assert set(summary["measures"][0]) >= {"measure", "better", "reference (ground truth)", "synthetic-tiny", "mine", "meaning"}
    import cv2

    capture = cv2.VideoCapture(str(out / "depth_video.mp4"))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape[1] == 3 * SIZE[1]  # input | model | sequence


def test_flow_at_160_px_keeps_opw_within_the_stated_tolerance():
    """docs/analysis.md (temporal consistency, speed): optical flow on frames downscaled to 160 px moves OPW by a few per cent at most."""
    from test_analysis_temporal import LookupPredictor

    from analysis.temporal import FLOW_MAX_SIDE, analyze_stream
    from common.frames import FrameSample

    poses = [translation_pose(x=0.03 * i, z=0.02 * i, yaw_deg=0.6 * i) for i in range(4)]
    rgbs, depths, K = render_clip(poses, (240, 320))
    frames = [FrameSample(i, i / 10, rgb, depth, pose, K) for i, (rgb, depth, pose) in enumerate(zip(rgbs, depths, poses))]
    wobble = lambda depth, index: depth * (1 + 0.03 * (index % 2))  # noqa: E731 - something for OPW to see
    opw = {side: analyze_stream(frames, LookupPredictor(rgbs, depths, wobble), progress=False,
                                config=TemporalConfig(flow_max_side=side)).summary["opw_mean"]
           for side in (None, FLOW_MAX_SIDE)}  # fmt: skip
    assert opw[None] > 0.01
    assert opw[FLOW_MAX_SIDE] == pytest.approx(opw[None], rel=0.05)
