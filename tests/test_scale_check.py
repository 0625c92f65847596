"""mirror_model.scale_check: absolute scale, with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mirror_model import scale_check


def test_scale_ratio_is_the_ratio_of_medians_over_valid_pixels_below_the_cap():
    gt = np.array([[1.0, 2.0, 3.0], [0.0, 12.0, 2.0]], np.float32)  # 0 is unknown, 12 m is over the cap
    assert scale_check.scale_ratio(2 * gt, gt) == pytest.approx(2.0)
    assert scale_check.scale_ratio(np.full_like(gt, 4.0), gt) == pytest.approx(2.0)  # true median 2 m
    assert math.isnan(scale_check.scale_ratio(gt, np.zeros_like(gt)))
    assert math.isnan(scale_check.scale_ratio(np.zeros_like(gt), gt))


def test_summary_known_answers():
    row = scale_check.summarise([2.0, 0.5, 1.0, 1.1, float("nan")])
    assert row["images"] == 4
    assert row["geometric_mean_ratio"] == pytest.approx(1.1 ** 0.25)
    assert row["mean_abs_log2_ratio"] == pytest.approx((1 + 1 + 0 + math.log2(1.1)) / 4)
    assert row["within_1.25"] == pytest.approx(0.5)


def test_cli_scores_a_scene_folder_against_the_image_blind_constant(tmp_path, capsys):
    from pathlib import Path

    scenes = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    out = tmp_path / "scale"
    assert scale_check.main(["--model", "synthetic-tiny", "--data", str(scenes), "--train-dir", str(scenes),
                             "--out", str(out)]) == 0
    record = __import__("json").loads((out / "scale.json").read_text())
    blind = next(row for name, row in record["rows"].items() if name.startswith(scale_check.BLIND))
    # The constant is the median of the images' medians, so its ratios straddle 1 on the same folder.
    assert blind["geometric_mean_ratio"] == pytest.approx(1.0, abs=0.35) and blind["images"] >= 2
    assert "synthetic-tiny" in record["rows"] and (out / "scale.md").read_text().startswith("# Absolute scale")


def test_bad_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert scale_check.main(["--model", "synthetic-tiny", "--data", str(tmp_path), "--train-dir", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: --data ") and "not a scene folder" in message and str(tmp_path.parent) not in message


def _far_folder(folder, depth_m: float = 20.0):
    """One frame of constant depth `depth_m`, stored as an outdoor split stores it (256 units per
    metre, 80 m cap in poses.json)."""
    from common.scene_folder import DEPTH_CAP_KEY, DEPTH_SCALE_KEY, write_poses, write_rgbd_frame

    write_rgbd_frame(folder, "far", np.full((24, 32, 3), 90, np.uint8), np.full((24, 32), depth_m, np.float32), 256.0)
    write_poses(folder, "scenes", [{"name": "far", "pose": np.eye(4).tolist()}], **{DEPTH_SCALE_KEY: 256.0, DEPTH_CAP_KEY: 80.0})
    return folder


def test_an_outdoor_folder_is_scored_at_its_own_cap_and_units(tmp_path):
    far = _far_folder(tmp_path / "far")
    assert scale_check.blind_ratios(far, 40.0) == [pytest.approx(2.0)]  # 20 m truth: over the rooms' 10 m cap
    assert scale_check.folder_median_depth(far) == pytest.approx(20.0, abs=0.01)


def test_bad_data_is_one_line_exit_2_before_any_model_runs(tmp_path, capsys):
    from pathlib import Path

    rooms = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    no_depth, empty, broken = tmp_path / "no_depth", tmp_path / "empty", tmp_path / "broken"
    (no_depth / "rgb").mkdir(parents=True)
    for sub in ("rgb", "depth"):
        (empty / sub).mkdir(parents=True)
        (broken / sub).mkdir(parents=True)
        (broken / sub / "a.png").write_bytes(b"not a picture")
    (tmp_path / "taken").write_text("a file")
    cases = [(["--data", str(no_depth), "--train-dir", str(rooms)], "--data no_depth: not a scene folder"),
             (["--data", str(empty), "--train-dir", str(rooms)], "--data empty: no frame"),
             (["--data", str(broken), "--train-dir", str(rooms)], "a.png"),
             (["--data", str(rooms), "--train-dir", str(rooms), "--out", str(tmp_path / "taken")], "--out taken: a file"),
             (["--data", str(_far_folder(tmp_path / "far")), "--train-dir", str(rooms)], "different worlds")]
    for arguments, expected in cases:
        assert scale_check.main(["--model", "synthetic-tiny", *arguments]) == 2
        message = capsys.readouterr().err
        assert "error: " in message and expected in message and str(tmp_path) not in message, message
