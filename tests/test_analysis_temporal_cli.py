"""The temporal study's command line, on the project's procedural video and its depth model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.temporal import main
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
    assert main([str(tmp_path / "fake.mp4"), "--out", str(tmp_path / "out"), "--batch", "0"]) == 2


def test_cli_end_to_end_with_the_bundled_model(walk, tmp_path):
    pytest.importorskip("mirror_model.predict", reason="mirror_model.predict (the depth model loader) is not available")
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
    pytest.importorskip("mirror_model.predict", reason="mirror_model.predict (the depth model loader) is not available")
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
