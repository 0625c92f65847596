"""The video study's cheaper paths give the very numbers of the plain computations they replace
(bit for bit, not approximately): optical flow from grey frames made once per frame, the flicker
and drift fits sharing one preparation of each frame's pixels."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.flow import flow_between, flow_image, flow_pair, optical_flow
from analysis.temporal import TemporalAnalyzer, TemporalConfig
from analysis.temporal_metrics import Pixels, fit_pixels, fit_scale_shift, flicker, flicker_pixels
from common.frames import FrameSample, open_frames
from common.video_io import ffmpeg_available, read_video_frames, write_video

WALK = Path(__file__).resolve().parents[1] / "examples" / "video"


@pytest.fixture(scope="module")
def walk():
    """The bundled camera walk's first frames (RGB 240x320, a moving camera)."""
    return [sample.rgb for sample, _ in zip(open_frames(WALK), range(4))]


def _flow_as_written_before(image_a, image_b, max_side):
    """Flow of a pair as flow_pair computed it before frames were shared between pairs: both frames
    made grey and shrunk for this pair, the vectors scaled up by an (x, y) ratio pair."""
    h, w = image_a.shape[:2]
    scale = max_side / max(h, w)
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    small_a = cv2.resize(cv2.cvtColor(image_a, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    small_b = cv2.resize(cv2.cvtColor(image_b, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    ratio = np.array([w / size[0], h / size[1]], dtype=np.float32)
    return tuple(cv2.resize(optical_flow(a, b), (w, h), interpolation=cv2.INTER_LINEAR) * ratio
                 for a, b in ((small_a, small_b), (small_b, small_a)))  # fmt: skip


@pytest.mark.parametrize("crop", [(240, 320), (233, 311)])  # x and y ratios equal (2, 2); unequal (1.944, 1.942)
def test_flow_from_shared_grey_frames_is_the_pairwise_flow(walk, crop):
    frames = [np.ascontiguousarray(rgb[: crop[0], : crop[1]]) for rgb in walk]
    grey = [flow_image(rgb, 160) for rgb in frames]
    assert grey[0].shape == (120, 160)
    for i in range(1, len(frames)):
        expected = _flow_as_written_before(frames[i - 1], frames[i], 160)
        shared = flow_between(grey[i - 1], grey[i], crop)
        assert all(np.array_equal(a, b) for a, b in zip(shared, expected))
        assert all(np.array_equal(a, b) for a, b in zip(flow_pair(frames[i - 1], frames[i], max_side=160), expected))
    assert np.abs(expected[0]).max() > 0.5  # the camera moves: the vectors were really scaled up


def test_flow_at_full_size_is_unscaled(walk):
    forward, backward = flow_pair(walk[0], walk[1], max_side=None)
    assert np.array_equal(forward, optical_flow(walk[0], walk[1])) and np.array_equal(backward, optical_flow(walk[1], walk[0]))


def _depths(count: int, hole: int | None = None):
    """Depth maps that change shape and scale from frame to frame; `hole`: that frame has no depth
    in a corner (so its pixels cannot be shared)."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    maps = []
    for i in range(count):
        depth = (1.5 + 0.02 * x + 0.01 * i * y) * (1 + 0.05 * i) + rng.normal(0, 0.03, x.shape).astype(np.float32)
        if i == hole:
            depth[:10, :10] = 0.0
        maps.append(depth.astype(np.float32))
    return maps


def test_shared_pixels_give_the_selected_pixels_fits():
    prev, depth, first = _depths(3)
    every = np.ones(depth.shape, bool)
    assert flicker_pixels(Pixels.of_every_pixel(prev), Pixels.of_every_pixel(depth)) == flicker(prev, depth)
    assert fit_pixels(Pixels.of_every_pixel(depth), Pixels.of_every_pixel(first)) == fit_scale_shift(depth, first, every)
    assert flicker(prev, depth) > 0.001  # not a trivial zero


@pytest.mark.parametrize("hole", [None, 0, 3])  # every pixel valid; the first frame has a hole; a middle one has
def test_analyzer_records_are_the_fits_of_each_pair_and_of_the_first_frame(hole):
    depths = _depths(6, hole)
    rgb = np.zeros(depths[0].shape + (3,), np.uint8)
    analyzer = TemporalAnalyzer(TemporalConfig())
    still = np.zeros(depths[0].shape + (2,), np.float32)
    for i, depth in enumerate(depths):
        analyzer.add(FrameSample(i, i / 10, rgb), depth, (still, still))
    for i, record in enumerate(analyzer.records[1:], start=1):
        valid_first = depths[0] > 0
        assert record["flicker"] == flicker(depths[i - 1], depths[i])
        assert (record["drift_scale"], record["drift_shift"]) == fit_scale_shift(depths[i], depths[0], (depths[i] > 0) & valid_first)
        assert record["median_ratio"] == float(np.median(depths[i][depths[i] > 0])) / float(np.median(depths[0][valid_first]))


@pytest.mark.skipif(not ffmpeg_available(), reason="the H.264 encoder needs the ffmpeg binary")
def test_depth_video_keeps_its_colours(tmp_path):
    # The writer hands the encoder YUV 4:2:0 it converted itself: pure colours and greys must come
    # back as they went in (swapped or mis-scaled chroma would turn red into blue, or wash it out).
    colours = [(230, 20, 20), (20, 200, 30), (25, 40, 220), (128, 128, 128), (250, 240, 20), (10, 10, 10)]
    frame = np.concatenate([np.full((32, 32, 3), colour, np.uint8) for colour in colours], axis=1)
    path = write_video(tmp_path / "colours.mp4", [frame] * 3, fps=10)
    decoded = [rgb for _, _, rgb in read_video_frames(path)]
    assert len(decoded) == 3
    for i, colour in enumerate(colours):
        patch = decoded[1][8:24, 32 * i + 8: 32 * i + 24].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - colour).max() < 6, (colour, patch)
