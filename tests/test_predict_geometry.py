"""How frames of any aspect ratio meet the model: one pass at the frame's own patch grid (the default),
and the geometries it was measured against; seams of the bundled model's depth on real photos."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.spatial import seam_ratio
from common.image_io import load_rgb
from mirror_model.predict import GEOMETRIES, feather_weights, grid_size, join_aligned, load_predictor, main

REPO = Path(__file__).resolve().parent.parent
PHOTOS = sorted((REPO / "examples" / "photos").glob("*.jpg"))
SEAM_TARGET = 1.5  # seam ratio at another aspect ratio / the same photo's at 4:3


@pytest.fixture(scope="module")
def predictor():
    return load_predictor("synthetic-tiny", device="cpu")


def centre_crop(image: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred crop with width / height = aspect."""
    height, width = image.shape[:2]
    if width / height > aspect:
        new_w = round(height * aspect)
        return image[:, (width - new_w) // 2 : (width - new_w) // 2 + new_w]
    new_h = round(width / aspect)
    return image[(height - new_h) // 2 : (height - new_h) // 2 + new_h]


def seam_vs_four_three(predictor, aspect: float, **kwargs) -> dict[str, float]:
    """Per example photo: seam ratio of its depth at `aspect` over that of its 4:3 crop's depth."""
    ratios = {}
    for path in PHOTOS:
        photo = load_rgb(path)
        reference = seam_ratio(predictor.predict(centre_crop(photo, 4 / 3))).ratio
        ratios[path.stem] = seam_ratio(predictor.predict(centre_crop(photo, aspect), **kwargs)).ratio / reference
    return ratios


def geometric_mean(values) -> float:
    return math.exp(np.mean(np.log(list(values))))


@pytest.mark.skipif(len(PHOTOS) < 3, reason="examples/photos holds fewer than 3 photos")
@pytest.mark.parametrize("aspect", [16 / 9, 9 / 16], ids=["16:9", "9:16"])
def test_depth_at_other_aspect_ratios_has_no_more_seams_than_at_four_three(predictor, aspect):
    """Fails on averaged training-size windows (each draws its own scale: straight edges at the joins)."""
    ratios = seam_vs_four_three(predictor, aspect)
    assert geometric_mean(ratios.values()) <= SEAM_TARGET, ratios
    assert max(ratios.values()) <= 2.0, ratios


@pytest.mark.skipif(len(PHOTOS) < 3, reason="examples/photos holds fewer than 3 photos")
def test_the_measure_sees_the_seams_of_averaged_windows(predictor):
    ratios = seam_vs_four_three(predictor, 16 / 9, geometry="windows")
    assert geometric_mean(ratios.values()) > 2 * SEAM_TARGET, ratios
    # and it finds them where the windows join: 16:9 at 240x427, windows at columns 0 and 107
    photo = centre_crop(load_rgb(PHOTOS[0]), 16 / 9)
    found = seam_ratio(predictor.predict(photo, geometry="windows")).column
    joins = [107 / 427 * photo.shape[1], 320 / 427 * photo.shape[1]]
    assert min(abs(found + 1 - join) for join in joins) <= 2


def test_grid_size_keeps_the_aspect_ratio_at_the_training_area_on_the_patch_grid():
    assert grid_size((480, 640), (240, 320), 16) == (240, 320)  # 4:3: exactly the training input
    assert grid_size((1080, 1920), (240, 320), 16) == (208, 368)  # 16:9: 13x23 patches
    assert grid_size((1920, 1080), (240, 320), 16) == (368, 208)
    assert grid_size((500, 500), (240, 320), 16) == (272, 272)  # sqrt(240 * 320) = 277 -> 17 patches
    assert grid_size((480, 640), (416, 544), 32) == (416, 544)  # DepthCLIP's NYU input, ResNet stride
    assert grid_size((37, 53), (240, 320), 16, "native") == (32, 48)  # native: own size, snapped
    assert grid_size((352, 1216), (352, 704), 16, "native") == (352, 1216)  # KITTI's benchmark crop, whole
    assert min(grid_size((4, 4000), (240, 320), 16)) == 16  # never below one patch
    with pytest.raises(ValueError, match="scale"):
        grid_size((10, 10), (240, 320), 16, "zoom")


def test_every_geometry_returns_depth_at_the_frame_size(predictor):
    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    for geometry in GEOMETRIES:
        depth = predictor.predict(frame, geometry=geometry)
        assert depth.shape == (90, 160) and depth.dtype == np.float32, geometry
        assert np.isfinite(depth).all() and depth.min() > 0 and depth.max() <= predictor.max_depth, geometry
    # a 4:3 frame is one training-size window in every geometry: the same depth
    four_three = frame[:, 20:140]
    same = [predictor.predict(four_three, geometry=g) for g in GEOMETRIES]
    for other in same[1:]:
        np.testing.assert_array_equal(other, same[0])
    with pytest.raises(ValueError, match="geometry must be one of"):
        predictor.predict(frame, geometry="tiles")
    with pytest.raises(ValueError, match="letterbox"):
        predictor.predict(frame, geometry="letterbox", scale="native")


def test_plans_of_the_other_geometries(predictor):
    box = predictor.plan((360, 640), "fit", "letterbox")  # 16:9 fitted into 240x320, grey above and below
    assert (box.size, box.canvas, box.offset, box.corners) == ((180, 320), (240, 320), (30, 0), ((0, 0),))
    blend = predictor.plan((360, 640), "fit", "blend")
    assert blend.corners == ((0, 0), (0, 107)) and blend.join == "aligned"
    assert predictor.plan((360, 640), "fit", "windows").join == "mean"
    assert load_predictor("synthetic-tiny", device="cpu", geometry="windows").plan((360, 640)).corners == ((0, 0), (0, 107))
    with pytest.raises(ValueError, match="geometry"):
        load_predictor("synthetic-tiny", device="cpu", geometry="tiles")


def test_feather_weights_fade_towards_the_window_edges():
    weights = feather_weights((6, 8))
    assert weights.shape == (6, 8) and float(weights.min()) > 0
    torch.testing.assert_close(weights, weights.flip(0))
    torch.testing.assert_close(weights, weights.flip(1))
    assert float(weights[2:4, 3:5].min()) == float(weights.max())  # flat top at the centre
    assert bool((weights[3, :4].diff() > 0).all())  # rising towards the centre


def test_aligned_join_removes_a_scale_disagreement_between_windows():
    x = torch.linspace(0, 1, 30)
    scene = (2.0 + x[None, :] + 0.5 * torch.sin(6 * x)[None, :]).expand(10, 30)[None]  # (1, 10, 30)
    left, right = scene[..., :20].clone(), 1.25 * scene[..., 10:].clone()  # the right window reads 25 % farther
    joined = join_aligned([left, right], [(0, 0), (0, 10)], (10, 30))
    ratio = joined / scene
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.mean())), rtol=1e-4, atol=1e-4)  # one scale
    plain = torch.zeros_like(scene)
    plain[..., :20] += left
    plain[..., 10:] += right
    plain[..., 10:20] /= 2
    assert float(joined.median()) == pytest.approx(float(plain.median()), rel=1e-5)  # the windows' consensus scale


def test_cli_takes_a_geometry(tmp_path, capsys):
    import cv2

    image = tmp_path / "wide.png"
    cv2.imwrite(str(image), np.random.default_rng(1).integers(0, 256, (72, 128, 3), dtype=np.uint8))
    for geometry in ("grid", "windows"):
        assert main(["--input", str(image), "--out", str(tmp_path / geometry), "--geometry", geometry, "--device", "cpu"]) == 0
    grid, windows = (np.load(tmp_path / g / "wide.npy") for g in ("grid", "windows"))
    assert grid.shape == windows.shape == (72, 128) and not np.allclose(grid, windows)
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(image), "--out", str(tmp_path), "--geometry", "tiles"])
    assert exit_info.value.code == 2


def test_evaluation_goes_through_the_same_geometry_and_records_it(predictor):
    from mirror_model.data import build_dataset
    from mirror_model.evaluate import evaluate_predictor

    dataset = build_dataset("synthetic", REPO / "examples" / "scenes")
    result = evaluate_predictor(predictor, dataset, "synthetic", limit=1, progress=False)
    assert (result["protocol"]["geometry"], result["protocol"]["scale"]) == ("grid", "fit")
    assert result["protocol"]["input_size"] == [240, 320] and result["images"] == 1


def test_seam_benchmark_refuses_bad_arguments_with_one_line(capsys):
    from benchmarks.bench_seams import main as bench_main

    assert bench_main(["--geometries", "tiles"]) == 2
    assert bench_main(["--rooms", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)


@pytest.mark.slow
def test_seam_benchmark_prints_its_table():
    import re
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_seams", "--geometries", "grid,windows", "--rooms", "2",
                             "--video-frames", "1"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = re.findall(r"^(grid|windows)\s+(16:9|1:1|9:16)\s+(\d+\.\d+)", result.stdout, flags=re.M)
    assert len(rows) == 6
    assert all(float(ratio) > 1.5 for geometry, _, ratio in rows if geometry == "windows")
