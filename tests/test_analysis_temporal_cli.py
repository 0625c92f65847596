"""The temporal study's command line, on the project's procedural video and its depth model."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.temporal import TemporalConfig, analyze_stream, main
from analysis.temporal_metrics import temporal_alignment_error
from common.frames import open_frames

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A tiny camera walk written by the project's scene generator (open3d ray casting)."""
    from scenes.io import write_video

    return write_video(tmp_path_factory.mktemp("walk") / "walk", 6, (48, 64), seed=1, fps=10.0, progress=False)


def test_scene_generator_poses_agree_with_tae_geometry(walk):
    """Ground truth reprojected with the generator's poses and intrinsics lands on itself."""
    frames = list(open_frames(walk))
    depths = [f.depth_gt for f in frames]
    mean, _ = temporal_alignment_error(depths, frames[0].intrinsics, [f.pose for f in frames], depths, align="none")
    assert mean < 2e-3  # millimetre-rounded PNG depth


@pytest.mark.parametrize("module", ["analysis.temporal", "analysis.spatial"])
def test_help(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "usage" in done.stdout


def test_bad_input_exits_2_without_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    (tmp_path / "fake.mp4").write_text("not a video")
    assert main([str(tmp_path / "fake.mp4"), "--out", str(tmp_path / "out")]) == 2
    with pytest.raises(SystemExit) as caught:  # a bad number is a usage error, before the source is opened
        main([str(tmp_path / "fake.mp4"), "--out", str(tmp_path / "out"), "--batch", "0"])
    assert caught.value.code == 2 and "argument --batch: the value must be between 1 and 1024; got 0." in capsys.readouterr().err


def test_cli_end_to_end_with_the_bundled_model(walk, tmp_path):
    out = tmp_path / "study"
    code = main([str(walk), "--model", "synthetic-tiny", "--out", str(out), "--max-frames", "4", "--batch", "2", "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 4
    for key in ("flicker_mean", "opw_mean", "tae_mean", "abs_rel_mean"):
        assert summary[key] is not None and summary[key] >= 0, key
    assert summary["model"]
    for name in ("per_frame.csv", "temporal_curves.html", "temporal_curves.png", "depth_video.mp4"):
        assert (out / name).stat().st_size > 0, name


def test_cli_on_the_video_file(walk, tmp_path):
    out = tmp_path / "video_study"
    assert main([str(walk / "video.mp4"), "--out", str(out), "--max-frames", "3", "--fps", "5", "--no-video", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["tae_mean"] is None  # a plain video has no ground truth
    assert not (out / "depth_video.mp4").exists()


def test_ground_truth_reference_level(walk, tmp_path, capsys):
    out = tmp_path / "reference"
    assert main([str(walk), "--model", "ground-truth", "--out", str(out), "--no-video", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["abs_rel_mean"] < 1e-3 and summary["tae_mean"] < 2e-3
    assert summary["flicker_mean"] > 0  # the camera moves: true depth changes between frames
    # A plain video has no ground truth to stand in for a model.
    assert main([str(walk / "video.mp4"), "--model", "ground-truth", "--out", str(out), "--quiet"]) == 2
    assert "no ground-truth depth" in capsys.readouterr().err


# ---------------------------------------------------------------- the study's options, by their effect

def read_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def read_flicker(out: Path) -> list[float]:
    """The per-frame flicker column (nan where it was not measured: the first frame)."""
    with (out / "per_frame.csv").open(newline="") as handle:
        return [float(row["flicker"]) if row["flicker"] else math.nan for row in csv.DictReader(handle)]


def walk_frames(walk: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB uint8, ground-truth metres) per frame, read straight from the PNG files."""
    frames = []
    for rgb_path in sorted((walk / "rgb").glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(rgb_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        depth = cv2.imread(str(walk / "depth" / rgb_path.name), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0
        frames.append((rgb, depth))
    return frames


def flicker_by_definition(prev: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> float:
    """Least-squares scale and shift of depth onto prev over mask, then mean|s d + b - prev| / mean|prev|."""
    x, y = depth[mask].astype(np.float64), prev[mask].astype(np.float64)
    scale, shift = np.polyfit(x, y, 1)
    return float(np.mean(np.abs(scale * x + shift - y)) / np.mean(np.abs(y)))


class TwiceTheTruth:
    """A fake model: each frame's ground truth times 2 (right shape, wrong metric scale)."""

    def __init__(self, frames):
        self.truth = {sample.rgb.tobytes(): sample.depth_gt for sample in frames}

    def predict(self, rgbs):
        return [2.0 * self.truth[rgb.tobytes()] for rgb in rgbs]


def test_tae_align_frame_removes_a_per_frame_scale_error(walk):
    truth = analyze_stream(open_frames(walk), None, progress=False)
    twice = {align: analyze_stream(open_frames(walk), TwiceTheTruth(open_frames(walk)),
                                   config=TemporalConfig(tae_align=align), progress=False)
             for align in ("none", "frame")}
    # Aligned per frame (median to ground truth), twice the truth is the truth: its TAE is the reference level.
    assert [r["scale_to_gt"] for r in twice["frame"].records] == pytest.approx([2.0] * 6)
    assert [r["tae"] for r in twice["frame"].records][1:] == pytest.approx([r["tae"] for r in truth.records][1:],
                                                                           rel=1e-6)
    assert twice["frame"].summary["tae_mean"] < 2e-3
    # Unaligned, the doubled depth does not reproject onto itself: the camera's translation is not doubled.
    assert twice["none"].summary["tae_mean"] > 5 * truth.summary["tae_mean"]
    assert twice["none"].summary["tae_mean"] > 2e-3


def test_cli_tae_align_frame_is_recorded_and_keeps_the_truth_at_its_reference(walk, tmp_path):
    args = [str(walk), "--model", "ground-truth", "--no-video", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "none")]) == 0
    assert main([*args, "--tae-align", "frame", "--out", str(tmp_path / "frame")]) == 0
    none, frame = read_summary(tmp_path / "none"), read_summary(tmp_path / "frame")
    assert none["config"]["tae_align"] == "none" and frame["config"]["tae_align"] == "frame"
    assert frame["tae_mean"] == pytest.approx(none["tae_mean"], rel=1e-6)  # the truth's scale to itself is 1


def test_cli_static_only_measures_flicker_on_still_pixels_only(walk, tmp_path):
    args = [str(walk), "--model", "ground-truth", "--no-video", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "all")]) == 0
    assert main([*args, "--static-only", "--out", str(tmp_path / "static")]) == 0
    assert read_summary(tmp_path / "all")["config"]["static_only"] is False
    assert read_summary(tmp_path / "static")["config"]["static_only"] is True
    everywhere, still = read_flicker(tmp_path / "all"), read_flicker(tmp_path / "static")
    frames = walk_frames(walk)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # the study's default flow
    measured_still = 0
    for index in range(1, len(frames)):
        (prev_rgb, prev), (rgb, depth) = frames[index - 1], frames[index]
        valid = (prev > 0) & (depth > 0)
        assert everywhere[index] == pytest.approx(flicker_by_definition(prev, depth, valid), rel=1e-4)
        gray_prev, gray = (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in (prev_rgb, rgb))
        flow = dis.calc(gray_prev, gray, None)
        static = valid & (np.linalg.norm(flow, axis=-1) < 0.5)  # moved less than half a pixel
        if static.sum() < 2:
            assert math.isnan(still[index])  # undefined without still pixels, not silently all pixels
            continue
        measured_still += 1
        assert still[index] == pytest.approx(flicker_by_definition(prev, depth, static), rel=1e-4)
        assert still[index] != pytest.approx(everywhere[index], rel=1e-3)
    assert measured_still >= 1


def test_cli_farneback_flow_runs_and_is_recorded(walk, tmp_path):
    args = [str(walk), "--model", "ground-truth", "--no-video", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "dis")]) == 0
    assert main([*args, "--flow", "farneback", "--out", str(tmp_path / "farneback")]) == 0
    dis, farneback = read_summary(tmp_path / "dis"), read_summary(tmp_path / "farneback")
    assert dis["config"]["flow_method"] == "dis" and farneback["config"]["flow_method"] == "farneback"
    assert farneback["opw_mean"] is not None and math.isfinite(farneback["opw_mean"]) and farneback["opw_mean"] >= 0
    assert farneback["opw_mean"] != pytest.approx(dis["opw_mean"], rel=1e-6)  # OPW warps with the chosen flow
    assert farneback["flicker_mean"] == pytest.approx(dis["flicker_mean"], rel=1e-9)  # flicker needs no flow here
    with pytest.raises(SystemExit) as refused:
        main([*args, "--flow", "lucas-kanade", "--out", str(tmp_path / "bad")])
    assert refused.value.code == 2
