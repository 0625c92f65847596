"""The one RGB loader: EXIF orientation as Pillow applies it, one alpha rule."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from common.image_io import load_rgb, to_rgb_uint8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    stored = rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)
    path = tmp_path / f"o{orientation}.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif)
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    np.testing.assert_array_equal(load_rgb(path), expected)
    assert load_rgb(path).shape == ((20, 12, 3) if orientation >= 5 else (12, 20, 3))


def test_alpha_is_composited_over_black():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = [0, 51, 102, 153, 204, 255, 255, 0]
    rgb = to_rgb_uint8(rgba)
    np.testing.assert_array_equal(rgb[0, :, 0], [0, 40, 80, 120, 160, 200, 200, 0])


def test_a_jpeg_cut_short_is_refused_not_decoded_with_a_grey_half(tmp_path):
    from pathlib import Path as _Path

    from common.image_io import load_rgb as _load

    whole = _Path(__file__).resolve().parents[1] / "examples" / "photos" / "astronaut.jpg"
    assert _load(whole).shape == (512, 512, 3)
    half = tmp_path / "half.jpg"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut short"):
        _load(half)
