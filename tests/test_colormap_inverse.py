"""Colour-mapped depth videos are read through their colormap, never as grey (common.colormap_inverse)."""
from __future__ import annotations

import numpy as np
import pytest

from common import colormap_inverse
from common.depth_io import colormap_lut
from common.depth_sequence import open_depth_sequence
from common.video_io import write_video


def _ramp(height: int = 48, width: int = 64) -> np.ndarray:
    """Disparity in [0, 1]: larger to the right (nearer), with some vertical variation."""
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 0.2, height, dtype=np.float32)[:, None]
    return np.clip(0.8 * x + y, 0.0, 1.0)


def _paint(values: np.ndarray, name: str) -> np.ndarray:
    return colormap_lut(name)[np.round(values * 255).astype(np.int64)]


@pytest.mark.parametrize("name", ["inferno", "turbo", "Spectral_r", "viridis"])
def test_a_painted_frame_is_recognised_and_inverted(name):
    values = _ramp()
    rgb = _paint(values, name)
    assert colormap_inverse.detect_colormap(rgb) == name
    np.testing.assert_allclose(colormap_inverse.invert_colormap(rgb, name), values, atol=0.04)


def test_grey_is_grey_and_colour_that_fits_no_colormap_is_refused():
    grey = np.repeat((_ramp() * 255).astype(np.uint8)[..., None], 3, axis=2)
    assert colormap_inverse.detect_colormap(grey) is None
    photo_like = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="not painted with a colormap this reader knows"):
        colormap_inverse.detect_colormap(photo_like)


def test_a_video_depth_anything_style_inferno_video_reads_as_its_disparity(tmp_path):
    values = [np.roll(_ramp(), shift, axis=1) for shift in (0, 4, 8)]
    path = write_video(tmp_path / "depth_vis.mp4", [_paint(v, "inferno") for v in values], fps=10, h264=False)
    sequence = open_depth_sequence(path, values="disparity")
    assert sequence.colormap == "inferno"
    frames = [frame for _, frame in sequence]
    assert len(frames) == 3
    for frame, truth in zip(frames, values):
        # Compressed video moves colours a little; the order and the level survive.
        assert np.median(np.abs(frame - truth)) < 0.05
        assert np.corrcoef(frame.ravel(), truth.ravel())[0, 1] > 0.97


def test_a_colour_video_that_is_not_depth_is_refused_with_what_to_upload(tmp_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    path = write_video(tmp_path / "holiday.mp4", frames, fps=10, h264=False)
    with pytest.raises(ValueError) as raised:
        open_depth_sequence(path, values="disparity")
    message = str(raised.value)
    assert message.startswith("holiday.mp4: its frames are in colour") and "grey video, 16-bit PNGs or an .npz" in message
    assert str(tmp_path) not in message
