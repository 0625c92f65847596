"""`python -m mirror_model.evaluate` end to end on a tiny procedural scene folder, its metrics
recomputed here from the predictor's raw output with numpy (AbsRel by its definition)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.depth_metrics import METRIC_KEYS
from mirror_model.evaluate import main
from mirror_model.predict import load_predictor

ROOT = Path(__file__).resolve().parents[1]
MIN_DEPTH, CAP = 1e-3, 10.0  # the synthetic protocol: valid ground truth is 1e-3 < gt < 10 m


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from scenes.io import write_scenes

    return write_scenes(tmp_path_factory.mktemp("eval") / "scenes", count=3, size=(60, 80), seed=5, progress=False)


@pytest.fixture(scope="module")
def frames(folder) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB uint8, ground truth in metres) per scene, read straight from the PNG files."""
    pairs = []
    for rgb_path in sorted((folder / "rgb").glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(rgb_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        depth = cv2.imread(str(folder / "depth" / rgb_path.name), cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
        pairs.append((rgb, depth))
    assert len(pairs) == 3
    return pairs


@pytest.fixture(scope="module")
def predictor():
    return load_predictor("synthetic-tiny", device="cpu")


def evaluate(folder: Path, out: Path, *flags: str) -> dict:
    args = ["--model", "synthetic-tiny", "--data", "synthetic", "--data-root", str(folder), "--device", "cpu",
            "--out", str(out), *flags]
    assert main(args) == 0
    return json.loads(out.read_text())


def abs_rel(depths: list[np.ndarray], frames, median_scaling: bool) -> float:
    """Mean over images of mean(|p - g| / g) on valid pixels; median scaling per image first, then
    predictions clipped to [min depth, cap] (the documented protocol)."""
    per_image = []
    for depth, (_, gt) in zip(depths, frames):
        valid = (gt > MIN_DEPTH) & (gt < CAP)
        p, g = depth[valid].astype(np.float64), gt[valid]
        if median_scaling:
            p = p * (np.median(g) / np.median(p))
        p = np.clip(p, MIN_DEPTH, CAP)
        per_image.append(np.mean(np.abs(p - g) / g))
    return float(np.mean(per_image))


def test_report_has_every_metric_and_the_protocol(folder, tmp_path):
    report = evaluate(folder, tmp_path / "plain.json")
    assert set(report["metrics"]) == set(METRIC_KEYS)
    assert all(math.isfinite(value) for value in report["metrics"].values())
    assert report["images"] == 3
    assert report["protocol"]["flip_tta"] is False and report["protocol"]["median_scaling"] is False
    assert report["protocol"]["crop"] == "none" and report["protocol"]["cap_m"] == CAP


def test_plain_and_median_scaled_abs_rel_match_an_independent_computation(folder, frames, predictor, tmp_path):
    depths = predictor.predict([rgb for rgb, _ in frames])
    plain = evaluate(folder, tmp_path / "plain.json")["metrics"]
    scaled = evaluate(folder, tmp_path / "median.json", "--median-scaling")
    assert scaled["protocol"]["median_scaling"] is True
    assert all(math.isfinite(value) for value in scaled["metrics"].values())
    assert plain["abs_rel"] == pytest.approx(abs_rel(depths, frames, median_scaling=False), rel=1e-5)
    assert scaled["metrics"]["abs_rel"] == pytest.approx(abs_rel(depths, frames, median_scaling=True), rel=1e-5)
    assert abs(scaled["metrics"]["abs_rel"] - plain["abs_rel"]) > 1e-4  # the scaling changed the result


def test_flip_tta_averages_the_prediction_with_the_flipped_prediction_of_the_flipped_image(
        folder, frames, predictor, tmp_path):
    rgbs = [rgb for rgb, _ in frames]
    straight = predictor.predict(rgbs)
    mirrored = predictor.predict([np.ascontiguousarray(rgb[:, ::-1]) for rgb in rgbs])
    averaged = [0.5 * (a + b[:, ::-1]) for a, b in zip(straight, mirrored)]
    plain = evaluate(folder, tmp_path / "plain.json")["metrics"]
    tta = evaluate(folder, tmp_path / "tta.json", "--flip-tta")
    assert tta["protocol"]["flip_tta"] is True
    assert tta["metrics"]["abs_rel"] == pytest.approx(abs_rel(averaged, frames, median_scaling=False), rel=1e-5)
    assert abs(tta["metrics"]["abs_rel"] - plain["abs_rel"]) > 1e-4  # the flip made a difference
    both = evaluate(folder, tmp_path / "both.json", "--flip-tta", "--median-scaling")["metrics"]
    assert both["abs_rel"] == pytest.approx(abs_rel(averaged, frames, median_scaling=True), rel=1e-5)


def test_command_line_entry_point_and_bad_data_root(folder, tmp_path):
    out = tmp_path / "cli.json"
    done = subprocess.run([sys.executable, "-m", "mirror_model.evaluate", "--model", "synthetic-tiny", "--data",
                           "synthetic", "--data-root", str(folder), "--device", "cpu", "--limit", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())["images"] == 1
    assert "abs_rel ↓" in done.stdout and "1 images" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "mirror_model.evaluate", "--data", "synthetic", "--data-root",
                              str(tmp_path / "nowhere"), "--device", "cpu"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error:"), missing.stderr[-2000:]
