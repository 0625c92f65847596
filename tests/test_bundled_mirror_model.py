"""The bundled offline depth model: small, documented, and clearly better than its untrained twin
on procedural scenes it never saw (the held-out seed of `python -m mirror_model.bundle`)."""
import json
from pathlib import Path

import numpy as np
import pytest

from common.depth_metrics import MetricAccumulator
from mirror_model.bundle import SPLITS

BUNDLE = Path(__file__).resolve().parents[1] / "checkpoints" / "mirror-synthetic-tiny"


def test_bundle_is_small_and_its_card_names_data_metrics_and_command():
    size_mb = sum(f.stat().st_size for f in BUNDLE.iterdir()) / 1e6
    world_clip_mb = sum(f.stat().st_size for f in (BUNDLE.parent / "world-clip-256").iterdir()) / 1e6
    assert size_mb + world_clip_mb <= 25.0  # the mirror checkpoint and the CLIP it sits on
    card = json.loads((BUNDLE / "card.json").read_text())
    assert card["trained"] is True and (card["clip_name"], card["clip_pretrained"]) == ("world-vit-256", "procedural-world")
    assert card["config"]["decoder"]["image_channels"] == 0  # maps only: depth goes through the text side
    assert not (BUNDLE / "clip.safetensors").exists()  # the CLIP is the shared world-clip-256 checkpoint
    assert card["command"].startswith("python -m mirror_model.bundle")
    assert "procedural" in card["training_data"]
    assert card["metrics"]["test"]["abs_rel"] < card["references"]["untrained twin (fresh mirror + decoder)"]["abs_rel"]
    assert (BUNDLE / "train_log.jsonl").is_file() and (BUNDLE / "evaluation.md").is_file()


def held_out_metrics(predictor, frames) -> dict:
    accumulator = MetricAccumulator()
    for frame, depth in zip(frames, predictor.predict([f.rgb for f in frames])):
        accumulator.update(depth, frame.depth, max_depth=10.0)
    return accumulator.mean()


def test_bundled_model_beats_its_untrained_twin_on_unseen_rooms():
    from mirror_model.predict import load_predictor
    from scenes.generate import render_scene, scene_seed

    frames = [render_scene(scene_seed(SPLITS["test"] + 1000, i), (240, 320)) for i in range(8)]
    trained = held_out_metrics(load_predictor("synthetic-tiny"), frames)
    untrained = held_out_metrics(load_predictor("synthetic-tiny", untrained=True), frames)
    assert trained["abs_rel"] < 0.6 * untrained["abs_rel"], (trained, untrained)
    assert trained["d1"] > untrained["d1"] + 0.15, (trained, untrained)
    assert np.isfinite(list(trained.values())).all()


def test_bundle_command_renders_trains_evaluates_and_writes_a_card(tmp_path):
    """The bundling command end to end at toy scale (the real run is 1,000 scenes, 1,500 steps)."""
    from mirror_model.bundle import main

    out = tmp_path / "bundle"
    assert main(["--out", str(out), "--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run"),
                 "--train-count", "4", "--val-count", "2", "--test-count", "2", "--steps", "4"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["trained"] is True and card["training"]["steps"] == 4
    assert card["command"].startswith("python -m mirror_model.bundle --out")
    assert set(card["references"]) >= {"trained (learned mirror)", "untrained twin (fresh mirror + decoder)",
                                       "DepthCLIP zero-shot, same CLIP", "trained, mirror source = zeros"}
    for name in ("model.safetensors", "train_log.jsonl", "metrics.json", "evaluation.md"):
        assert (out / name).is_file(), name


def test_bundle_refuses_an_out_that_is_not_a_previous_bundle_and_deletes_nothing(tmp_path, capsys):
    from mirror_model.bundle import main

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    runs = tmp_path / "runs"
    (runs / "arm" / "seed0").mkdir(parents=True)
    factorial = ["--from-factorial", str(tmp_path / "report"), "--factorial-runs", str(runs), "--data-dir", str(tmp_path / "data")]
    for out, expected in ((notes, "is not a previous bundle (holds notes.txt)"), (runs, "overlaps --factorial-runs runs"),
                          (runs / "arm", "overlaps --factorial-runs runs"), (tmp_path, "overlaps --from-factorial report")):
        assert main([*factorial, "--out", str(out)]) == 2
        message = capsys.readouterr().err
        assert expected in message and str(tmp_path) not in message, message
    assert (notes / "notes.txt").read_text() == "mine" and (runs / "arm" / "seed0").is_dir()
    with pytest.raises(SystemExit):  # no default: a smoke bundle never replaces the shipped model by accident
        main(factorial)


def test_a_previous_bundle_may_be_replaced_and_copies_get_default_permissions(tmp_path):
    import os

    import torch
    from safetensors.torch import save_file

    from mirror_model.bundle import check_out, copy_run

    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(run / "best" / "model.safetensors"))
    os.chmod(run / "best" / "model.safetensors", 0o600)  # as the safetensors writer leaves it
    (run / "best" / "card.json").write_text(json.dumps({"command": "python -m mirror_model.bundle --out x"}))
    for name in ("train_log.jsonl", "metrics.json"):
        (run / name).write_text("{}\n")
    out = tmp_path / "bundle"
    copy_run(run, out)
    check_out(out, {"--run-dir": run})  # a previous bundle of this command: may be replaced
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask
    (out / "card.json").write_text(json.dumps({"command": "something else"}))
    with pytest.raises(ValueError, match="no card written by this command"):
        check_out(out, {})


def test_a_split_rendered_with_another_photo_library_is_refused_not_reused(tmp_path):
    from mirror_model.bundle import render_split
    from scenes.photos import load_library

    split = tmp_path / "test"
    (split / "rgb").mkdir(parents=True)
    (split / "rgb" / "scene_00000.png").write_bytes(b"")
    for library, reused in ((load_library().identity, True), ("0123456789abcdef", False)):
        (split / "poses.json").write_text(json.dumps({"kind": "scenes", "seed": 300, "photo_library": library, "frames": []}))
        if reused:
            assert render_split(tmp_path, "test", 1) == split
        else:
            with pytest.raises(ValueError, match="photo library 0123456789abcdef"):
                render_split(tmp_path, "test", 1)
    assert (split / "rgb" / "scene_00000.png").is_file()  # refused, not deleted


def test_evaluate_only_refuses_a_factorial_bundle_whose_test_rooms_are_its_own(tmp_path, capsys):
    import shutil

    from mirror_model.bundle import main

    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    before = (copy / "card.json").read_text()
    assert main(["--evaluate-only", "--out", str(copy), "--data-dir", str(tmp_path / "data")]) == 2
    assert "bundled from the factorial" in capsys.readouterr().err
    assert (copy / "card.json").read_text() == before and not (tmp_path / "data").exists()
