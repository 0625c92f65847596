"""Known answers for the temporal measures, the streaming analysis and the scene-folder reader.

Synthetic clips come from tests/synthetic_clips.py: a textured wall and box ray-cast in closed form,
so depth, poses and intrinsics are exact.
"""
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from synthetic_clips import render_clip, translation_pose

from analysis.temporal import TemporalAnalyzer, TemporalConfig, analyze_stream, read_ahead_bound, run_temporal_study
from analysis.temporal_metrics import (
    fit_scale_shift,
    flicker,
    opw_pair,
    tae_pair,
    temporal_alignment_error,
)
from common.depth_io import write_depth_png
from common.frames import FrameSample, open_frames

SIZE = (60, 80)


def moving_clip(frames=4):
    poses = [translation_pose(x=0.04 * i, z=0.03 * i, yaw_deg=0.8 * i) for i in range(frames)]
    rgbs, depths, K = render_clip(poses, SIZE)
    return rgbs, depths, K, poses


def static_clip(frames=4):
    poses = [translation_pose() for _ in range(frames)]
    rgbs, depths, K = render_clip(poses, SIZE)
    return rgbs, depths, K, poses


class LookupPredictor:
    """A predictor that knows the true depth of every frame it will see (an oracle), or that
    depth distorted by a fixed function, to give the measures known inputs end to end."""

    def __init__(self, rgbs, depths, distort=None):
        self.table = {rgb.tobytes(): depth for rgb, depth in zip(rgbs, depths)}
        self.distort = distort or (lambda depth, index: depth)
        self.calls = []
        self.info = SimpleNamespace(message="ground-truth lookup")

    def predict(self, images):
        self.calls.append(len(images))
        out = []
        for image in images:
            depth = self.table[np.ascontiguousarray(image).tobytes()]
            out.append(self.distort(depth, len(out) + sum(self.calls[:-1])))
        return out


def test_scale_shift_fit_is_exact():
    src = np.random.default_rng(0).uniform(1, 5, size=(20, 20))
    scale, shift = fit_scale_shift(src, 2.5 * src - 0.7)
    assert scale == pytest.approx(2.5) and shift == pytest.approx(-0.7)


def test_static_video_perfect_predictor_has_zero_flicker_and_tae():
    rgbs, depths, K, poses = static_clip()
    frames = [FrameSample(i, i / 10, rgb, depth, pose, K) for i, (rgb, depth, pose) in enumerate(zip(rgbs, depths, poses))]
    result = analyze_stream(frames, LookupPredictor(rgbs, depths), batch_size=3, progress=False)
    assert result.summary["frames"] == 4
    assert result.summary["flicker_mean"] == pytest.approx(0.0, abs=1e-9)
    assert result.summary["tae_mean"] == pytest.approx(0.0, abs=1e-9)
    assert result.summary["opw_mean"] == pytest.approx(0.0, abs=1e-6)
    assert result.summary["abs_rel_mean"] == pytest.approx(0.0, abs=1e-9)
    assert result.summary["drift_scale_max_abs_log"] == pytest.approx(0.0, abs=1e-9)
    assert result.summary["median_ratio_max_abs_log"] == pytest.approx(0.0, abs=1e-9)
    assert all(r["scale_to_gt"] == pytest.approx(1.0) for r in result.records)


def test_moving_camera_perfect_predictor_has_near_zero_tae():
    _, depths, K, poses = moving_clip()
    mean, per_pair = temporal_alignment_error(depths, K, poses, depths, align="clip")
    assert len(per_pair) == 3
    assert mean < 1e-4
    # A wrong depth for the same motion does not reproject consistently.
    noisy = [d * (1 + 0.1 * np.random.default_rng(i).standard_normal(d.shape)) for i, d in enumerate(depths)]
    assert temporal_alignment_error(noisy, K, poses, depths, align="clip")[0] > 0.05


def test_clip_alignment_removes_a_global_scale_for_tae():
    _, depths, K, poses = moving_clip()
    scaled = [3.0 * d for d in depths]
    aligned = temporal_alignment_error(scaled, K, poses, depths, align="clip")[0]
    unaligned = temporal_alignment_error(scaled, K, poses, depths, align="none")[0]
    assert aligned < 1e-4
    # Scale only shows through the camera translation (a few cm per frame here), so it is small but clear.
    assert unaligned > 1e-3 and unaligned > 50 * aligned


def test_tae_excludes_occlusions_with_ground_truth():
    _, depths, K, poses = moving_clip(2)
    # Without the ground-truth visibility test, the occluded wall behind the box still counts
    # wherever sampling is smooth; with it, the perfect prediction scores (almost) exactly 0.
    assert tae_pair(depths[0], depths[1], K, poses[0], poses[1], depths[0], depths[1]) < 1e-5


def test_global_scale_and_shift_changes_are_not_flicker():
    _, depths, _, _ = static_clip(1)
    assert flicker(depths[0], 1.3 * depths[0] + 0.2) == pytest.approx(0.0, abs=1e-9)


def test_flicker_grows_with_noise_that_alignment_cannot_remove():
    # Pure per-frame global scale noise is removed by the scale+shift fit, so inject per-region
    # scale noise: each 20x20 block of each frame gets its own random scale factor.
    rgbs, depths, K, poses = static_clip(6)

    def region_noise(level):
        def distort(depth, index):
            rng = np.random.default_rng(100 + index)
            factors = 1 + level * rng.standard_normal((SIZE[0] // 20, SIZE[1] // 20))
            return depth * np.kron(factors, np.ones((20, 20))).astype(np.float32)

        return distort

    means = []
    for level in (0.0, 0.02, 0.05, 0.1):
        frames = [FrameSample(i, i / 10, rgb) for i, rgb in enumerate(rgbs)]
        result = analyze_stream(frames, LookupPredictor(rgbs, depths, region_noise(level)), progress=False)
        means.append(result.summary["flicker_mean"])
    assert means[0] == pytest.approx(0.0, abs=1e-9)
    assert means[1] < means[2] < means[3]
    assert means[3] > 0.03


def test_opw_is_zero_for_a_perfectly_warped_pair():
    rgbs, depths, _, _ = static_clip(1)
    rgb, depth = rgbs[0], depths[0]
    shift = 3  # the next frame is this one moved 3 px left: pixel x in t is x-3 in t+1
    rgb_next = np.roll(rgb, -shift, axis=1)
    depth_next = np.roll(depth, -shift, axis=1)
    flow = np.zeros((*depth.shape, 2), np.float32)
    flow[..., 0] = -shift
    assert opw_pair(depth, depth_next, rgb, rgb_next, flow=flow) == 0.0
    # A 10% depth jump in the next frame is not scale-aligned away: OPW reports it.
    assert opw_pair(depth, 1.1 * depth_next, rgb, rgb_next, flow=flow) == pytest.approx(0.1, rel=1e-3)
    # With estimated flow (DIS), still close to zero.
    assert opw_pair(depth, depth_next, rgb, rgb_next) < 0.01


def test_analyzer_checks_depth_size():
    rgbs, depths, _, _ = static_clip(1)
    with pytest.raises(ValueError, match="RGB size"):
        TemporalAnalyzer().add(FrameSample(0, 0.0, rgbs[0]), depths[0][:10])


def test_stream_predicts_in_batches_and_keeps_one_record_per_frame():
    rgbs, depths, _, _ = moving_clip(5)
    frames = (FrameSample(i, i / 10, rgb) for i, rgb in enumerate(rgbs))  # a generator: consumed once
    predictor = LookupPredictor(rgbs, depths)
    seen = []
    result = analyze_stream(frames, predictor, batch_size=2, on_depth=lambda s, d: seen.append(s.index), progress=False)
    assert predictor.calls == [2, 2, 1]
    assert seen == [0, 1, 2, 3, 4]
    assert [r["index"] for r in result.records] == [0, 1, 2, 3, 4]
    assert np.isnan(result.records[0]["flicker"]) and np.isfinite(result.records[1]["flicker"])
    assert result.summary["tae_mean"] is None  # no ground truth in a plain video


def write_scene_folder(root, rgbs, depths, K, poses, fps=10.0):
    """The on-disk layout of python -m scenes --video."""
    (root / "rgb").mkdir(parents=True)
    records = []
    for i, (rgb, depth, pose) in enumerate(zip(rgbs, depths, poses)):
        name = f"frame_{i:05d}"
        cv2.imwrite(str(root / "rgb" / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        write_depth_png(root / "depth" / f"{name}.png", depth)
        records.append({"name": name, "pose": pose.tolist()})
    h, w = rgbs[0].shape[:2]
    (root / "intrinsics.json").write_text(json.dumps({"fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2],
                                                      "width": w, "height": h, "K": K.tolist()}))  # fmt: skip
    (root / "poses.json").write_text(json.dumps({"kind": "video", "fps": fps, "frames": records}))
    return root


def test_scene_reader_scales_intrinsics_and_samples(tmp_path):
    rgbs, depths, K, poses = moving_clip(6)
    scene = write_scene_folder(tmp_path / "walk", rgbs, depths, K, poses)
    source = open_frames(scene, target_fps=5, max_side=40)
    assert source.kind == "scene" and source.has_ground_truth and source.has_poses
    assert source.fps == 5 and source.expected_count == 3
    frames = list(source)
    assert [f.index for f in frames] == [0, 2, 4]
    assert frames[1].time_s == pytest.approx(0.2)
    assert frames[0].rgb.shape == (30, 40, 3) and frames[0].depth_gt.shape == (30, 40)
    assert frames[0].intrinsics[0, 0] == pytest.approx(K[0, 0] / 2)
    assert frames[0].intrinsics[0, 2] == pytest.approx((K[0, 2] + 0.5) / 2 - 0.5)
    assert np.allclose(frames[2].pose, poses[4])


def test_scene_reader_rejects_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_frames(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a scene folder"):
        open_frames(tmp_path / "empty")
    rgbs, depths, K, poses = moving_clip(2)
    scene = write_scene_folder(tmp_path / "scenes", rgbs, depths, K, poses)
    (scene / "poses.json").write_text(json.dumps({"kind": "scenes", "frames": []}))
    with pytest.raises(ValueError, match="independent scenes"):
        open_frames(scene)


def test_study_on_a_scene_folder_writes_every_output(tmp_path):
    rgbs, depths, K, poses = moving_clip(5)
    scene = write_scene_folder(tmp_path / "walk", rgbs, depths, K, poses)
    out = tmp_path / "out"
    kept = []
    result = run_temporal_study(scene, LookupPredictor(rgbs, depths), out, batch_size=2, progress=False,
                                on_frame=lambda sample, depth: kept.append((sample.index, depth.shape)))  # fmt: skip
    assert kept == [(i, SIZE) for i in range(5)]
    for name in ("summary.json", "per_frame.csv", "temporal_curves.html", "temporal_curves.png", "depth_video.mp4"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 5
    # Depth PNGs are millimetre-rounded, so the oracle is only mm-accurate against them.
    assert summary["tae_mean"] < 2e-3
    assert summary["abs_rel_mean"] < 1e-3
    assert summary["model"] == "ground-truth lookup"
    lines = (out / "per_frame.csv").read_text().splitlines()
    assert lines[0].startswith("index,time_s") and len(lines) == 6
    assert result.records[-1]["index"] == 4


def test_config_rejects_unknown_options():
    with pytest.raises(ValueError, match="flow method"):
        TemporalConfig(flow_method="lucas")
    with pytest.raises(ValueError, match="TAE alignment"):
        TemporalConfig(tae_align="clip")


def test_global_scale_drift_is_invisible_to_flicker_but_reported_as_drift():
    rgbs, depths, K, poses = static_clip(6)
    grow = lambda depth, index: depth * (1 + 0.1 * index)  # noqa: E731 - 10% more depth every frame
    frames = [FrameSample(i, i / 10, rgb, depth, pose, K) for i, (rgb, depth, pose) in enumerate(zip(rgbs, depths, poses))]
    result = analyze_stream(frames, LookupPredictor(rgbs, depths, grow), progress=False)
    assert result.summary["flicker_mean"] == pytest.approx(0.0, abs=1e-6)
    assert result.records[-1]["median_ratio"] == pytest.approx(1.5, rel=1e-5)
    assert result.summary["median_ratio_range"] == pytest.approx(0.5, rel=1e-5)
    assert result.summary["drift_scale_last"] == pytest.approx(1 / 1.5, rel=1e-5)
    assert result.records[-1]["drift_scale"] == pytest.approx(1 / 1.5, rel=1e-5)
    assert result.summary["scale_to_gt_drift_max_abs_log"] == pytest.approx(np.log(1.5), rel=1e-5)
    # OPW is not scale-aligned: |D_t - D_t+1| / D_t = 0.1 / (1 + 0.1 t) for the pair (t, t+1).
    expected_opw = np.mean([0.1 / (1 + 0.1 * t) for t in range(5)])
    assert result.summary["opw_mean"] == pytest.approx(expected_opw, rel=1e-3)


def test_expected_frame_count_matches_what_is_read(tmp_path):
    from common.video_io import write_video

    path = write_video(tmp_path / "clip.mp4", [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(24)], fps=10)
    for fps in (None, 1, 3, 4, 7, 30):
        source = open_frames(path, fps)
        assert source.kind == "video" and not source.has_ground_truth
        assert source.expected_count == len(list(source)) == len(list(source)), fps  # iterable more than once
        assert source.fps == (min(fps, 10) if fps else 10)
    assert open_frames(path, None, max_frames=5).expected_count == 5


@pytest.mark.parametrize("pipeline", [False, True])
def test_stream_reads_ahead_a_bounded_number_of_frames(pipeline):
    """Memory stays flat in clip length: without worker threads only the batch being predicted
    is held; with them, at most read_ahead_bound(batch) frames more, however long the clip."""
    rgbs, depths, _, _ = moving_clip(16)
    produced = []

    def frames():
        for i, rgb in enumerate(rgbs):
            produced.append(i)
            yield FrameSample(i, i / 10, rgb)

    class CountingPredictor(LookupPredictor):
        def predict(self, images):
            self.seen_when_called = getattr(self, "seen_when_called", []) + [len(produced)]
            return super().predict(images)

    predictor = CountingPredictor(rgbs, depths)
    result = analyze_stream(frames(), predictor, batch_size=2, progress=False, pipeline=pipeline)
    assert len(result.records) == 16
    if not pipeline:
        assert predictor.seen_when_called == [2, 4, 6, 8, 10, 12, 14, 16]
    else:
        bound = read_ahead_bound(2)
        assert bound < 16 - 2  # the clip is long enough for the bound to bite
        for call, seen in enumerate(predictor.seen_when_called):
            assert seen <= 2 * (call + 1) + bound, (call, seen)


def test_pipeline_and_sequential_runs_give_the_same_numbers():
    rgbs, depths, K, poses = moving_clip(6)
    frames = [FrameSample(i, i / 10, rgb, depth, pose, K) for i, (rgb, depth, pose) in enumerate(zip(rgbs, depths, poses))]
    noisy = lambda depth, index: depth * (1 + 0.05 * (index % 2))  # noqa: E731
    one = analyze_stream(frames, LookupPredictor(rgbs, depths, noisy), batch_size=4, progress=False, pipeline=True)
    two = analyze_stream(frames, LookupPredictor(rgbs, depths, noisy), batch_size=4, progress=False, pipeline=False)
    assert one.summary == two.summary
