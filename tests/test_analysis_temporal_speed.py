"""The video study's faster paths give the same numbers: OPW's colour weighting and occlusion check
against hand-computed answers, the pipelined study against the sequential one on a synthetic clip,
and the depth video streamed to the encoder (every frame there, no half-written file on failure)."""
import csv
import json
import math

import numpy as np
import pytest
from synthetic_clips import render_clip, translation_pose

from analysis.flow import consistency_mask, sampling_maps, warp_backward, warp_with
from analysis.temporal import run_temporal_study
from analysis.temporal_metrics import flicker, opw_pair
from common.video_io import VideoWriter, ffmpeg_available, probe_video, read_video_frames, write_video

SIZE = (60, 80)


def test_opw_weights_each_pixel_by_its_colour_match():
    # Zero flow; the left half keeps its colour, the right half's colour changes by 20 grey levels
    # in every channel, so its weight is exp(-50 * 3 * (20/255)^2). Depth errs by 10 % on the left
    # and 30 % on the right: OPW is their weighted mean, relative to the mean depth (2 m).
    h, w = SIZE
    rgb = np.full((h, w, 3), 100, np.uint8)
    rgb_next = rgb.copy()
    rgb_next[:, w // 2:] += 20
    depth = np.full((h, w), 2.0, np.float32)
    depth_next = depth.copy()
    depth_next[:, : w // 2] *= 1.1
    depth_next[:, w // 2:] *= 1.3
    flow = np.zeros((h, w, 2), np.float32)
    weight_right = math.exp(-50 * 3 * (20 / 255) ** 2)
    expected = (0.2 + weight_right * 0.6) / (1 + weight_right) / 2.0
    assert opw_pair(depth, depth_next, rgb, rgb_next, flow, flow) == pytest.approx(expected, rel=1e-5)


def test_occlusion_check_keeps_consistent_flow_and_drops_the_rest():
    h, w = SIZE
    forward = np.zeros((h, w, 2), np.float32)
    forward[..., 0] = 3.0  # every pixel moves 3 px right
    backward = -forward
    mask = consistency_mask(forward, backward)
    assert mask[:, : w - 3].all() and not mask[:, w - 3:].any()  # the last 3 columns leave the image
    assert not consistency_mask(forward, forward).any()  # a round trip of 6 px fails everywhere
    # One set of sampling maps serves every warp with that flow, as warp_backward does alone.
    image = np.random.default_rng(0).uniform(0, 255, (h, w, 3)).astype(np.float32)
    maps = sampling_maps(forward)
    warped, inside = warp_backward(image, forward)
    assert np.array_equal(warp_with(image, maps), warped) and np.array_equal(maps[2], inside)
    assert np.array_equal(warped[:, : w - 3], image[:, 3:])


def test_flicker_of_an_affine_copy_is_zero_and_of_noise_is_its_relative_size():
    depth = np.linspace(1.0, 3.0, SIZE[0] * SIZE[1], dtype=np.float32).reshape(SIZE)
    assert flicker(depth, 2.0 * depth + 0.5) == pytest.approx(0.0, abs=1e-6)
    wobble = np.where(np.indices(SIZE).sum(axis=0) % 2 == 0, 0.1, -0.1).astype(np.float32)  # zero mean, no trend
    # The current frame is fitted onto the previous one; the wobble is uncorrelated with it, so the
    # fit is the identity and what is left is the wobble: 0.1 m against a 2 m mean.
    assert flicker(depth + wobble, depth) == pytest.approx(0.1 / 2.0, rel=1e-2)


class ShadeDepth:
    """A deterministic stand-in model: depth from the frame's brightness (1 to 3 m)."""

    def predict(self, images):
        return [1.0 + np.asarray(image, np.float32).mean(axis=-1) / 128.0 for image in images]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    poses = [translation_pose(x=0.03 * i, yaw_deg=0.6 * i) for i in range(12)]
    rgbs, _, _ = render_clip(poses, SIZE)
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", rgbs, fps=10)


def _per_frame(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_pipelined_study_gives_the_sequential_numbers_and_a_complete_depth_video(clip, tmp_path):
    runs = {}
    for pipeline in (True, False):
        out = tmp_path / ("pipelined" if pipeline else "sequential")
        result = run_temporal_study(clip, ShadeDepth(), out, batch_size=5, pipeline=pipeline, progress=False, plot_html=False)
        runs[pipeline] = (result, out)
    (fast, fast_out), slow_out = runs[True], runs[False][1]
    assert fast.summary["opw_mean"] == runs[False][0].summary["opw_mean"]
    assert _per_frame(fast_out / "per_frame.csv") == _per_frame(slow_out / "per_frame.csv")
    assert json.loads((fast_out / "measures.json").read_text()) == json.loads((slow_out / "measures.json").read_text())
    assert fast.summary["frames"] == 12 and fast.summary["opw_mean"] > 0 and fast.summary["flicker_mean"] > 0
    video = probe_video(fast_out / "depth_video.mp4")
    assert (video.frame_count, video.width, video.height) == (12, 2 * SIZE[1], SIZE[0])  # input | depth, every frame
    assert fast.summary["depth_video_codec"] == ("h264" if ffmpeg_available() else "mp4v")
    assert not list(fast_out.glob("*.partial.mp4"))


def test_writer_streams_every_frame_and_refuses_frames_after_its_input_ended(tmp_path):
    frames = [np.full((24, 32, 3), 40 + 20 * i, np.uint8) for i in range(6)]
    writer = VideoWriter(tmp_path / "v.mp4", fps=10)
    for frame in frames:
        writer.write(frame)
    writer.end_input()
    if ffmpeg_available():
        with pytest.raises(ValueError, match="after its input ended"):
            writer.write(frames[0])
    path = writer.close()
    brightness = [float(rgb.mean()) for _, _, rgb in read_video_frames(path)]
    assert brightness == pytest.approx([40 + 20 * i for i in range(6)], abs=3)
    assert writer.close() == path  # closing twice is harmless


@pytest.mark.skipif(not ffmpeg_available(), reason="the H.264 encoder needs the ffmpeg binary")
def test_an_encoder_that_cannot_write_fails_plainly_and_leaves_no_file(tmp_path):
    (tmp_path / "v.partial.mp4").mkdir()  # the encoder's output path is taken by a folder: it cannot write
    writer = VideoWriter(tmp_path / "v.mp4", fps=10)
    with pytest.raises(OSError, match="encoder"):
        for _ in range(200):  # the encoder fails on its first frames; the pipe then breaks
            writer.write(np.zeros((240, 320, 3), np.uint8))
        writer.close()
    writer.discard()
    assert not (tmp_path / "v.mp4").exists()
