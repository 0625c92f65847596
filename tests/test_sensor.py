"""The camera model: identity when off, determinism by seed, and each effect's known behaviour."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from scenes.photo_manifest import to_linear
from scenes.sensor import SensorConfig, apply_sensor, disc_kernel, motion_kernel


def textured(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A picture with edges and fine texture: blocks plus pixel noise."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(30, 225, size=(height // 16, width // 16, 3)).repeat(16, axis=0).repeat(16, axis=1)
    return np.clip(blocks + rng.integers(-25, 26, size=blocks.shape), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def high_frequency_energy(rgb: np.ndarray) -> float:
    return float(np.var(cv2.Laplacian(rgb.astype(np.float32).mean(axis=2), cv2.CV_32F)))


def test_off_returns_the_input_exactly_and_records_nothing():
    image = textured()
    out, params = apply_sensor(image, np.random.default_rng(5), SensorConfig.off())
    assert out.dtype == np.uint8 and np.array_equal(out, image) and out is not image
    assert all(value is None for value in params.values())


def test_same_seed_same_picture_and_parameters_other_seed_differs():
    image = textured()
    first, params = apply_sensor(image, np.random.default_rng(11))
    again, params_again = apply_sensor(image, np.random.default_rng(11))
    other, params_other = apply_sensor(image, np.random.default_rng(12))
    assert np.array_equal(first, again) and params == params_again
    assert params != params_other
    assert first.shape == image.shape and first.dtype == np.uint8
    json.dumps(params)  # a dataset can store it


def test_parameters_do_not_depend_on_which_effects_are_on():
    full = apply_sensor(textured(), np.random.default_rng(3), SensorConfig().only("noise", "jpeg", "exposure"))[1]
    single = apply_sensor(textured(), np.random.default_rng(3), SensorConfig().only("jpeg"))[1]
    assert single["jpeg_quality"] == full["jpeg_quality"] and single["noise"] is None and full["noise"] is not None


def test_exposure_scales_linear_light_by_two_to_the_ev():
    image = np.full((16, 16, 3), 90, dtype=np.uint8)
    out, params = apply_sensor(image, np.random.default_rng(0), SensorConfig(exposure_ev=(1.0, 1.0)).only("exposure"))
    assert params["exposure_ev"] == 1.0
    np.testing.assert_allclose(to_linear(out), 2 * to_linear(image), rtol=0.02)


def test_vignetting_darkens_corners_by_its_strength_and_keeps_the_centre():
    image = np.full((33, 33, 3), 200, dtype=np.uint8)
    out, _ = apply_sensor(image, np.random.default_rng(0), SensorConfig(vignetting=(0.3, 0.3)).only("vignetting"))
    assert np.array_equal(out[16, 16], image[16, 16])
    np.testing.assert_allclose(to_linear(out[0, 0]), 0.7 * to_linear(image[0, 0]), rtol=0.02)


def test_white_balance_gains_change_red_and_blue_against_green():
    image = np.full((8, 8, 3), 120, dtype=np.uint8)
    out, params = apply_sensor(image, np.random.default_rng(4), SensorConfig(white_balance=0.2).only("white_balance"))
    gains = np.asarray(params["white_balance"])
    assert gains[1] == 1.0 and np.all(np.abs(np.log(gains)) <= 0.2)
    np.testing.assert_allclose(to_linear(out[0, 0]), to_linear(image[0, 0]) * gains, rtol=0.03)


def test_noise_standard_deviation_follows_the_poisson_gaussian_level():
    image = np.full((128, 128, 3), 128, dtype=np.uint8)
    signal = float(to_linear(np.uint8(128)))
    measured = []
    for shot in (1e-4, 1e-3, 4e-3):
        config = SensorConfig(shot_noise=(shot, shot), read_noise=(2e-3, 2e-3)).only("noise")
        out, params = apply_sensor(image, np.random.default_rng(1), config)
        assert params["noise"] == {"shot": pytest.approx(shot), "read": pytest.approx(2e-3)}
        measured.append(float(to_linear(out).std()))
    assert measured[0] < measured[1] < measured[2]
    expected = np.sqrt(4e-3 * signal + 2e-3**2)  # variance a x + b^2
    assert measured[2] == pytest.approx(expected, rel=0.1)


def test_lower_jpeg_quality_lowers_psnr():
    image = textured()
    scores = {}
    for quality in (95, 40, 10):
        out, params = apply_sensor(image, np.random.default_rng(0), SensorConfig(jpeg_quality=(quality, quality)).only("jpeg"))
        assert params["jpeg_quality"] == quality
        scores[quality] = psnr(image, out)
    assert scores[95] > scores[40] > scores[10] and scores[95] < float("inf")


@pytest.mark.parametrize("effect", ["defocus", "motion"])
def test_blur_lowers_high_frequency_energy(effect):
    image = textured()
    config = SensorConfig(defocus_px=(1.5, 1.5), motion_px=(6.0, 6.0)).only(effect)
    out, params = apply_sensor(image, np.random.default_rng(2), config)
    assert params["defocus" if effect == "defocus" else "motion_blur"] is not None
    assert high_frequency_energy(out) < 0.5 * high_frequency_energy(image)


def test_blur_kernels_keep_brightness_and_have_the_stated_extent():
    streak = motion_kernel(5.0, 0.0)
    assert streak.sum() == pytest.approx(1.0) and np.count_nonzero(streak.sum(axis=0)) == 5
    assert np.count_nonzero(streak.sum(axis=1)) == 1  # horizontal: one row
    assert disc_kernel(2.0).sum() == pytest.approx(1.0) and disc_kernel(2.0).shape == (5, 5)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32)])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        apply_sensor(bad, np.random.default_rng(0))


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="probability"):
        SensorConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="low <= high"):
        SensorConfig(exposure_ev=(1.0, -1.0))
    with pytest.raises(ValueError, match="noise levels above 0"):
        SensorConfig(shot_noise=(0.0, 1e-3))
    with pytest.raises(ValueError, match="unknown effect"):
        SensorConfig().only("bloom")
