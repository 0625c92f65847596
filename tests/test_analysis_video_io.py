"""Video reading (sampling, limits, resizing, bad files) and writing."""
import subprocess

import numpy as np
import pytest

from common.video_io import (
    VideoWriter,
    ffmpeg_available,
    probe_video,
    read_video_frames,
    side_by_side,
    write_video,
)


def numbered_frames(count=30, size=(48, 64)):
    """Frames whose brightness encodes their number (survives lossy compression)."""
    return [np.full((*size, 3), 6 * i + 40, dtype=np.uint8) for i in range(count)]


@pytest.fixture(scope="module")
def clip_30fps(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, numbered_frames(), fps=30.0)
    return path


def test_probe_reports_rate_count_size(clip_30fps):
    info = probe_video(clip_30fps)
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == 30
    assert (info.height, info.width) == (48, 64)
    assert info.duration_s == pytest.approx(1.0)


def test_reads_every_frame_in_order(clip_30fps):
    frames = list(read_video_frames(clip_30fps))
    assert [i for i, _, _ in frames] == list(range(30))
    brightness = [float(rgb.mean()) for _, _, rgb in frames]
    assert np.allclose(brightness, [6 * i + 40 for i in range(30)], atol=4)
    assert frames[0][2].dtype == np.uint8 and frames[0][2].shape == (48, 64, 3)


def test_target_fps_max_frames_and_max_side(clip_30fps):
    frames = list(read_video_frames(clip_30fps, target_fps=10, max_frames=4, max_side=32))
    assert [i for i, _, _ in frames] == [0, 3, 6, 9]
    assert [t for _, t, _ in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all(rgb.shape == (24, 32, 3) for _, _, rgb in frames)
    # The kept frames really are the sampled ones (brightness encodes the source index).
    assert float(frames[3][2].mean()) == pytest.approx(6 * 9 + 40, abs=4)
    # A target above the source rate never duplicates frames.
    assert len(list(read_video_frames(clip_30fps, target_fps=120))) == 30


def test_bad_files_fail_at_the_call(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_video_frames(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(ValueError, match="cannot be opened|no decodable"):
        read_video_frames(text)
    with pytest.raises(ValueError, match="not a file"):
        read_video_frames(tmp_path)


def test_truncated_video_is_rejected(clip_30fps, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip_30fps.read_bytes()[:200])
    with pytest.raises(ValueError):
        read_video_frames(broken)


def test_bad_options_are_rejected(clip_30fps):
    for kwargs in ({"target_fps": 0}, {"max_frames": 0}, {"max_side": 2}):
        with pytest.raises(ValueError):
            read_video_frames(clip_30fps, **kwargs)


def test_writer_pads_odd_sizes_and_checks_frames(tmp_path):
    writer = VideoWriter(tmp_path / "odd.mp4", fps=12)
    for frame in numbered_frames(5, size=(25, 31)):
        writer.write(frame)
    with pytest.raises(ValueError, match="same size"):
        writer.write(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        writer.write(np.zeros((26, 32), np.float32))
    path = writer.close()
    info = probe_video(path)
    assert (info.height, info.width, info.frame_count) == (26, 32, 5)
    assert not (tmp_path / "odd.mp4v.mp4").exists()  # the intermediate file is cleaned up
    assert writer.codec == ("h264" if ffmpeg_available() else "mp4v")


@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg binary not installed: videos stay mp4v")
def test_written_video_is_h264_for_browsers(tmp_path):
    path = write_video(tmp_path / "h264.mp4", numbered_frames(4), fps=10)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True)  # fmt: skip
    assert probe.stdout.strip() == "h264"


def test_side_by_side_joins_rgb_and_colourised_depth():
    rgb = np.full((20, 30, 3), 200, np.uint8)
    depth = np.linspace(1, 5, 10 * 15, dtype=np.float32).reshape(10, 15)  # half resolution: resized
    joined = side_by_side(rgb, depth, vmin=1, vmax=5)
    assert joined.shape == (20, 60, 3)
    assert (joined[:, :30] == 200).all()
    assert joined[:, 30:].std() > 10  # a colour ramp, not a flat image
    assert not np.array_equal(joined[0, 30], joined[-1, -1])  # near and far get different colours
