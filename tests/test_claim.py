"""The factorial claim experiment: its statistics have known answers (seed variance widens the
intervals, verdicts follow them), its per-image evaluation is the evaluation command's, and the
pipeline trains every arm x seed on features cached once per image tower, reuses finished runs and
writes the table, the figure and the verdicts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mirror_model.claim import (
    ARMS,
    CONSTANT,
    analyse,
    hierarchical_bootstrap,
    main,
    per_image_metrics,
    select_best,
    verdict,
)

SCENES = Path(__file__).resolve().parents[1] / "examples" / "scenes"


def test_bootstrap_is_paired_per_image_and_carries_seed_variance():
    base = np.random.default_rng(0).uniform(0.1, 0.5, 30)
    shifted = hierarchical_bootstrap(np.stack([base - 0.1, base - 0.1]), base[None], draws=500)
    assert shifted["difference"] == pytest.approx(-0.1)
    assert shifted["low"] == pytest.approx(-0.1) and shifted["high"] == pytest.approx(-0.1)  # paired: image spread cancels
    # Two seeds 0.1 apart around the reference: image resampling alone would say exactly 0 (the
    # seed mean equals the reference on every image); resampling seeds gives the seeds' spread.
    seeds = np.stack([base + 0.05, base - 0.05])
    wide = hierarchical_bootstrap(seeds, base[None], draws=2000)
    assert wide["difference"] == pytest.approx(0.0, abs=1e-12)
    assert wide["low"] == pytest.approx(-0.05) and wide["high"] == pytest.approx(0.05)
    assert hierarchical_bootstrap(seeds.mean(0, keepdims=True), base[None], draws=200)["high"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="same images"):
        hierarchical_bootstrap(base[None], base[None, :10])


def test_verdicts_follow_the_intervals_and_the_ratio_target():
    assert verdict({"difference": -0.05, "low": -0.08, "high": -0.02})["status"] == "supported"
    off = verdict({"difference": -0.01, "low": -0.03, "high": 0.012})
    assert off["status"] == "not supported" and "+0.0120" in off["detail"]
    assert verdict({"difference": -0.1, "low": -0.12, "high": -0.08}, ratio=0.8)["status"] == "not supported"
    assert "by 0.10" in verdict({"difference": -0.1, "low": -0.12, "high": -0.08}, ratio=0.8)["detail"]
    assert verdict({"difference": -0.1, "low": -0.12, "high": -0.08}, ratio=0.65)["status"] == "supported"
    assert verdict(None)["status"] == "untested"


def _run(slug: str, seed: int, val: float, test: list[float]) -> dict:
    return {"arm": {"slug": slug}, "seed": seed, "training": {"best_val_abs_rel": val, "best_step": 10, "last_step": 10},
            "curve": [[10, val]], "test": {"abs_rel": test, "d1": [0.5] * len(test)}}


def test_selection_uses_validation_only_and_untested_claims_say_so():
    results = {"pretrained-image.pretrained-text": [_run("pretrained-image.pretrained-text", 0, 0.30, [0.10, 0.10])],
               "pretrained-image.random-text": [_run("pretrained-image.random-text", 0, 0.20, [0.40, 0.40])]}
    results["pretrained-image.pretrained-text"].append(_run("pretrained-image.pretrained-text", 1, 0.25, [0.40, 0.40]))
    # Among every arm: the lowest validation AbsRel, not the better test run.
    assert select_best(results, arms=None)["arm"]["slug"] == "pretrained-image.random-text"
    # The bundle's candidates are the paper's model's seeds only; again by validation, not test.
    chosen = select_best(results)
    assert (chosen["arm"]["slug"], chosen["seed"]) == ("pretrained-image.pretrained-text", 1)
    references = {CONSTANT: {"abs_rel": [0.3, 0.3], "abs_rel_median_scaled": [0.3, 0.3]}}
    analysis = analyse(results, references, draws=100)
    statuses = [v["status"] for v in analysis["verdicts"].values()]
    assert statuses == ["not supported", "untested", "not supported"]  # (b) has no run without a text encoder
    assert analysis["selected"]["ratio"] == pytest.approx(0.4 / 0.3)
    assert analysis["selected"]["best_overall"]["arm"] == "pretrained-image.random-text"


def test_per_image_figures_average_to_the_evaluation_commands_figures():
    from mirror_model.data import build_dataset
    from mirror_model.evaluate import evaluate_predictor
    from mirror_model.predict import load_predictor

    predictor = load_predictor("synthetic-tiny")
    mine = per_image_metrics(predictor, SCENES)
    dataset = build_dataset("synthetic", SCENES)
    raw = evaluate_predictor(predictor, dataset, "synthetic", progress=False)
    scaled = evaluate_predictor(predictor, dataset, "synthetic", median_scaling=True, progress=False)
    assert len(mine["abs_rel"]) == raw["images"] == 4
    assert np.mean(mine["abs_rel"]) == pytest.approx(raw["metrics"]["abs_rel"], rel=1e-9)
    assert np.mean(mine["d1"]) == pytest.approx(raw["metrics"]["d1"], rel=1e-9)
    assert np.mean(mine["abs_rel_median_scaled"]) == pytest.approx(scaled["metrics"]["abs_rel"], rel=1e-9)


def _arguments(tmp_path: Path, arms: str, seeds: str = "0,1", steps: int = 4) -> list[str]:
    return ["--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"),
            "--clip", "world-vit-256/procedural-world", "--mirror-tokens", "8", "--train-count", "4", "--val-count", "2",
            "--test-count", "2", "--steps", str(steps), "--val-every", "2", "--seeds", seeds, "--arms", arms, "--draws", "200"]


def test_runs_share_one_feature_cache_per_tower_and_finished_runs_are_reused(tmp_path):
    from mirror_model.claim import ARM_BY_SLUG, Recipe, run_factorial

    recipe = Recipe(clip="world-vit-256/procedural-world", mirror_tokens=8, train_count=2, val_count=1, test_count=1, steps=2,
                    val_every=2)
    arm = ARM_BY_SLUG["pretrained-image.none-text"]
    done = run_factorial(recipe, tmp_path / "data", tmp_path / "runs", [0, 1], [arm], progress=False)
    assert done["caches_built"] == ["pretrained"]  # two seeds, one cache
    finished = tmp_path / "runs" / arm.slug / "seed1" / "result.json"
    result = json.loads(finished.read_text())
    assert result["curve"][0][0] == 2 and len(result["test"]["abs_rel"]) == 1 and result["arm"]["text_path"] == "none"
    stamp = finished.stat().st_mtime_ns
    again = run_factorial(recipe, tmp_path / "data", tmp_path / "runs", [0, 1], [arm], progress=False)
    assert again["caches_built"] == [] and finished.stat().st_mtime_ns == stamp  # nothing is built or trained again
    recipe.steps = 3
    with pytest.raises(ValueError, match="another recipe"):
        run_factorial(recipe, tmp_path / "data", tmp_path / "runs", [0], [arm], progress=False)


@pytest.mark.slow
def test_factorial_command_writes_the_report_and_the_bundle_takes_the_selected_run(tmp_path, capsys):
    arms = "pretrained-image.pretrained-text,random-image.none-text"
    recipe_args = _arguments(tmp_path, arms)
    assert main(recipe_args) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "cache").iterdir()) == ["pretrained", "random"]
    finished = tmp_path / "runs" / "random-image.none-text" / "seed1" / "result.json"
    result = json.loads(finished.read_text())
    assert [step for step, _ in result["curve"]] == [2, 4] and len(result["test"]["abs_rel"]) == 2
    stamp = finished.stat().st_mtime_ns
    assert main(recipe_args) == 0  # everything is reused: no run is trained again
    assert finished.stat().st_mtime_ns == stamp

    table = (tmp_path / "out" / "table.md").read_text()
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "| pretrained image tower, random text encoder + mirror | 0 | untested |" in table
    verdicts = list(report["analysis"]["verdicts"].values())
    assert verdicts[0]["status"] == verdicts[1]["status"] == "untested"  # no random or absent text encoder on this tower
    assert verdicts[2]["status"] in ("supported", "not supported")
    assert (tmp_path / "out" / "learning_curves.png").stat().st_size > 10_000
    assert set(report["arms"]) == set(arms.split(",")) and len(report["references"]) == 3

    # The bundle takes the run selected on validation, with the experiment in its card, within budget.
    from mirror_model.bundle import main as bundle

    assert bundle(["--from-factorial", str(tmp_path / "out"), "--factorial-runs", str(tmp_path / "runs"),
                   "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "bundle")]) == 0
    card = json.loads((tmp_path / "bundle" / "card.json").read_text())
    selected = report["analysis"]["selected"]
    assert (card["selection"]["arm"], card["selection"]["seed"]) == (selected["arm"], selected["seed"])
    assert card["factorial"]["table"] == table and card["command"].startswith("python -m mirror_model.bundle --from-factorial")
    assert card["size_mb"]["total"] <= 25 and card["size_mb"]["clip"] > 10  # the world CLIP it loads is counted
    assert "untrained twin (fresh mirror + decoder)" in card["references"]
    if card["config"]["text_path"] == "none":
        assert "trained, mirror source = prompt" not in card["references"]  # no text encoder to read a prompt

    capsys.readouterr()
    assert main(_arguments(tmp_path, "pretrained-image.mirror")) == 2
    assert "unknown arms" in capsys.readouterr().err


@pytest.mark.slow
def test_every_arm_of_the_factorial_runs(tmp_path):
    assert main(_arguments(tmp_path, "all", steps=4)) == 0
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(report["arms"]) == {arm.slug for arm in ARMS}
    assert all(v["status"] != "untested" for v in report["analysis"]["verdicts"].values())


@pytest.mark.parametrize("flag,value,named", [("--batch-size", "0", "--batch-size must be at least 1"),
                                              ("--patience", "-1", "--patience must be at least 1"),
                                              ("--threads", "-1", "--threads must be at least 1"),
                                              ("--threads", "0", "--threads must be at least 1"),
                                              ("--draws", "0", "--draws must be at least 100"),
                                              ("--draws", "-3", "--draws must be at least 100"),
                                              ("--seeds", "a", "--seeds must be whole numbers"),
                                              ("--seeds", "0,0", "--seeds lists a seed twice"),
                                              ("--lr", "nan", "--lr must be a positive number"),
                                              ("--lr", "0", "--lr must be a positive number")])
def test_settings_no_run_could_use_are_refused_before_anything_is_made(tmp_path, capsys, flag, value, named):
    assert main([*_arguments(tmp_path, "all"), flag, value]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"error: {named}") and message.count("\n") == 1 and "Traceback" not in message
    assert not any(tmp_path.iterdir())  # nothing rendered, cached or written


def test_report_only_renders_and_trains_nothing_and_says_what_is_missing(tmp_path, capsys):
    arguments = [*_arguments(tmp_path, "all"), "--report-only"]
    assert main(arguments) == 2
    message = capsys.readouterr().err
    assert "no finished run of this recipe in --runs runs; train them first" in message and str(tmp_path) not in message
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()
    other = tmp_path / "runs" / "pretrained-image.none-text" / "seed0"
    other.mkdir(parents=True)
    (other / "result.json").write_text(json.dumps({"recipe": {"steps": 99}}))  # a run of another recipe
    assert main(arguments) == 2
    assert "its 1 runs were made with another recipe" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_help_explains_every_setting(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--seeds SEEDS training seeds", "--steps STEPS most training steps", "--batch-size BATCH_SIZE training images",
                  "--lr LR peak learning rate", "--val-every VAL_EVERY steps between", "--train-count TRAIN_COUNT training scenes"):
        assert words in text, words
