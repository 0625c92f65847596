"""The pieces of the claims comparison: the aligned variant, the alignment statistic, the noise
and domain-shift test sets, per-label thresholds, the balanced loss and the paired bootstrap."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eembed_model import compare, data, robustness
from eembed_model.alignment import alignment_report, qkv_byte_shares
from eembed_model.checkpoint import load_checkpoint, save_checkpoint
from eembed_model.config import EEmbedConfig
from eembed_model.metrics import f1_scores, paired_bootstrap, per_label_thresholds
from eembed_model.model import EEmbedModel
from eembed_model.train import balanced_positive_weights

FIXTURE = Path(__file__).parent / "fixtures" / "debtags_small.jsonl"
REPO = Path(__file__).parent.parent


def first_layer_attention(model: EEmbedModel, grid: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(grid, torch.ones(grid.shape[:2], dtype=torch.bool), output_attentions=True).attentions[0][0]


@pytest.mark.parametrize("aligned", [True, False])
def test_the_aligned_first_layer_reads_only_element_n(aligned):
    torch.manual_seed(0)
    model = EEmbedModel(EEmbedConfig(v=8, c=8, layers=2, max_len=16, aligned=aligned)).eval()
    grid = torch.randint(0, 0xF0, (1, 6, 8))
    before = first_layer_attention(model, grid)
    changed = grid.clone()
    changed[0, 2, 5] = (changed[0, 2, 5] + 1) % 0xF0  # another byte (5) of one material
    after = first_layer_attention(model, changed)
    others = [n for n in range(8) if n != 5]
    moved = (after - before).abs().amax(dim=(1, 2))
    if aligned:
        assert moved[others].max() == 0.0          # heads n != 5 do not see byte 5 at all
        assert moved[5] > 1e-4                      # head 5 does
        # The mask is a weight parametrization of the library's Linear layers; their forward is untouched.
        from torch.nn.utils import parametrize
        first = model.encoder.encoder.layer[0].attention.self
        assert all(parametrize.is_parametrized(getattr(first, name), "weight") for name in ("query", "key", "value"))
        assert type(first.query).forward is torch.nn.Linear.forward
    else:
        assert moved[others].min() > 1e-6           # a free model mixes every byte into every head


def test_alignment_shares_are_one_on_the_aligned_diagonal_and_near_uniform_at_random_init():
    torch.manual_seed(0)
    aligned = EEmbedModel(EEmbedConfig(v=8, c=8, layers=2, max_len=16, aligned=True))
    shares = qkv_byte_shares(aligned)
    assert shares.shape == (2, 3, 8, 8)
    assert torch.allclose(torch.tensor(shares[0]).diagonal(dim1=-2, dim2=-1), torch.ones(3, 8, dtype=torch.float64))
    report = alignment_report(EEmbedModel(EEmbedConfig(v=8, c=8, layers=2, max_len=16)))
    own = torch.tensor(report["own_byte_share"])
    assert report["uniform_share"] == 0.125 and own.shape == (2, 8)
    assert ((own - 0.125).abs() < 0.04).all()
    subword = EEmbedModel(EEmbedConfig(embedding="subword", vocab_size=50, v=8, c=8, layers=1, max_len=16))
    assert alignment_report(subword)["applies"] is False


def test_an_aligned_checkpoint_loads_back_block_diagonal(tmp_path):
    model = EEmbedModel(EEmbedConfig(v=8, c=8, layers=2, max_len=16, aligned=True))
    save_checkpoint(model, tmp_path, {"task": "mlm"})
    loaded = load_checkpoint(tmp_path).model
    assert alignment_report(loaded)["own_byte_share"][0] == [1.0] * 8
    with pytest.raises(ValueError, match="aligned needs the elementwise embedding in the BERT encoder"):
        EEmbedConfig(v=8, c=8, aligned=True, encoder="albert")


def test_noise_is_deterministic_changes_the_stated_share_of_words_and_keeps_rate_zero_clean():
    texts = [json.loads(line)["text"] for line in FIXTURE.read_text().splitlines()]
    assert [robustness.add_noise(t, 0.1) for t in texts] == [robustness.add_noise(t, 0.1) for t in texts]
    assert all(robustness.add_noise(t, 0.0)[0] == t for t in texts)
    for rate in (0.05, 0.10, 0.20):
        changed = eligible = 0
        # The same text always gets the same noise, so widen the sample with numbered copies.
        for copy, text in enumerate(texts * 4):
            original = f"{text} copy{copy}"
            noisy, n_changed, n_eligible = robustness.add_noise(original, rate)
            assert sum(a != b for a, b in zip(original.split(" "), noisy.split(" "))) == n_changed  # every edit shows
            changed, eligible = changed + n_changed, eligible + n_eligible
        assert abs(changed / eligible - rate) < 0.2 * rate + 0.005, (rate, changed / eligible)
    with pytest.raises(ValueError, match="within 0..1"):
        robustness.add_noise("a b", 1.5)


def test_noise_does_not_depend_on_the_interpreter_hash_seed():
    code = "from eembed_model.robustness import add_noise; print(add_noise('vim Vi IMproved enhanced vi editor', 0.5))"
    outputs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert outputs[0] == outputs[1] and outputs[0].startswith("(")
    assert outputs[0].strip() == str(robustness.add_noise("vim Vi IMproved enhanced vi editor", 0.5))


def test_claims_dataset_holds_sections_out_of_training_and_writes_noisy_copies(tmp_path, capsys):
    source = tmp_path / "data"
    assert data.main(["file", "--input", str(FIXTURE), "--out", str(source), "--min-count", "5"]) == 0
    out = tmp_path / "claims"
    assert robustness.main(["--data", str(source), "--out", str(out), "--hold-out", "games,sound"]) == 0
    load = lambda name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
    for split in data.SPLITS:
        assert all(r["section"] not in ("games", "sound") for r in load(split))
    shifted = load("test-shift")
    assert shifted and {r["section"] for r in shifted} == {"games", "sound"}
    noisy, clean = load("test-noise20"), load("test")
    assert [r["original_text"] for r in noisy] == [r["text"] for r in clean]
    assert [r["labels"] for r in noisy] == [r["labels"] for r in clean]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["sizes"]["test-shift"] == len(shifted) and 0.1 < stats["measured_word_change_rates"]["test-noise20"] < 0.3
    assert compare.eval_sets(str(out)) == ["test", "test-noise05", "test-noise10", "test-noise20", "test-shift"]
    capsys.readouterr()
    assert robustness.main(["--data", str(source), "--out", str(tmp_path / "x"), "--hold-out", "astrology"]) == 2
    assert "held-out sections not in the data: astrology" in capsys.readouterr().err


def test_per_label_thresholds_pick_each_labels_best_and_keep_the_global_one_without_positives():
    probs = torch.tensor([[0.9, 0.2, 0.5, 0.01], [0.6, 0.15, 0.5, 0.01], [0.1, 0.05, 0.5, 0.01]])
    gold = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]).bool()
    cuts = per_label_thresholds(probs, gold, fallback=0.3)
    assert cuts[0] <= 0.6 and cuts[0] > 0.1            # both positives in, the negative out
    assert 0.15 < cuts[1] <= 0.2                        # only the first text's 0.2
    assert cuts[2] == pytest.approx(0.3)                # no positive: the global threshold
    assert cuts[3] == pytest.approx(0.3)                # a positive no threshold finds: not the lowest one
    assert f1_scores((probs >= cuts)[:, :2], gold[:, :2])["micro_f1"] == 1.0


def test_balanced_weights_lift_rare_labels_and_leave_common_ones_at_one():
    targets = torch.zeros(100, 3)
    targets[:50, 0] = 1
    targets[:4, 1] = 1
    weights = balanced_positive_weights(targets)
    assert weights[0] == pytest.approx(1.0) and weights[1] == pytest.approx((96 / 4) ** 0.5)
    assert weights[2] == pytest.approx(99 ** 0.5)      # never seen: counted as one positive


def test_paired_bootstrap_is_zero_for_identical_predictions_and_positive_for_a_better_side():
    torch.manual_seed(0)
    gold = torch.rand(300, 6) < 0.3
    noise = torch.rand(300, 6) < 0.2
    good, bad = gold ^ (noise & (torch.rand(300, 6) < 0.3)), gold ^ noise
    same = paired_bootstrap([bad, bad], [bad, bad], gold, resamples=200)
    assert same["micro_f1"] == {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0, "welch_p": None, "seeds": [2, 2]}
    better = paired_bootstrap([good], [bad], gold, resamples=200)
    assert better["micro_f1"]["ci_low"] > 0 and better["macro_f1"]["ci_low"] > 0
    assert better["micro_f1"]["difference"] == pytest.approx(
        f1_scores(good, gold)["micro_f1"] - f1_scores(bad, gold)["micro_f1"])


def test_the_interval_counts_seeds_a_side_whose_seeds_disagree_is_not_shown_better():
    torch.manual_seed(0)
    gold = torch.rand(300, 6) < 0.3
    noise = torch.rand(300, 6) < 0.2
    good, bad = gold ^ (noise & (torch.rand(300, 6) < 0.3)), gold ^ noise
    # Over texts alone two good seeds and a bad one beat three bad ones; but one draw in 27 of A's
    # seeds is bad three times (3.7 % > 2.5 %), so once seeds are resampled the interval reaches 0.
    mixed = paired_bootstrap([good, good, bad], [bad, bad, bad], gold, resamples=2000)["micro_f1"]
    assert mixed["difference"] > 0 and mixed["ci_low"] <= 1e-12 and mixed["ci_high"] > 0
    assert mixed["welch_p"] is not None and mixed["seeds"] == [3, 3]
    consistent = paired_bootstrap([good, good, good], [bad, bad, bad], gold, resamples=2000)["micro_f1"]
    assert consistent["ci_low"] > 0


def test_the_constant_baseline_picks_the_frequent_labels_on_validation():
    from eembed_model.metrics import constant_baseline

    gold = torch.zeros(100, 4, dtype=torch.bool)
    gold[:, 0] = True            # every text has label 0
    gold[:60, 1] = True          # most have label 1
    gold[:5, 2] = True
    baseline = constant_baseline([90, 50, 5, 1], gold, gold)
    assert baseline["k"] == 2    # labels 0 and 1 for every text: 160 right, 40 wrong, 5 missed
    assert baseline["test_micro_f1"] == pytest.approx(2 * 160 / (2 * 160 + 40 + 5))


def test_alignment_cli_prints_each_heads_own_byte_share_and_writes_the_report(tmp_path, capsys):
    from eembed_model import alignment

    model = EEmbedModel(EEmbedConfig(v=8, c=8, layers=2, max_len=16, aligned=True))
    save_checkpoint(model, tmp_path / "m", {"task": "mlm"})
    assert alignment.main(["--model", str(tmp_path / "m"), "--out", str(tmp_path / "a.json")]) == 0
    printed = capsys.readouterr().out
    assert "layer 0: " + " ".join(["100.0"] * 8) in printed and "uniform 12.5 %" in printed
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["aligned_first_layer"] is True and len(report["by_projection"]["key"][0]) == 8
    assert alignment.main(["--model", str(tmp_path / "none")]) == 2
    assert "no eembed checkpoint" in capsys.readouterr().err


def test_change_interval_is_zero_for_equal_sides_and_positive_when_one_side_keeps_its_score():
    from eembed_model.metrics import change_bootstrap

    torch.manual_seed(1)
    gold = torch.rand(300, 6) < 0.3
    clean = gold ^ (torch.rand(300, 6) < 0.1)
    hurt = clean ^ (torch.rand(300, 6) < 0.2)
    same = change_bootstrap([clean], [hurt], [clean], [hurt], gold, gold, paired=True, resamples=200)
    assert same["ci_low"] == same["ci_high"] == 0.0 and same["paired"] is True
    kept = change_bootstrap([clean], [clean], [clean], [hurt], gold, gold, paired=True, resamples=200)
    assert kept["ci_low"] > 0  # A loses nothing, B loses: A - B > 0


def test_compact_predictions_give_every_threshold_decision_and_the_top_label_exactly(tmp_path):
    from eembed_model.metrics import THRESHOLDS
    from eembed_model.predictions import load_golds, load_predictions, save_golds, save_predictions

    torch.manual_seed(0)
    probs = torch.rand(200, 30) ** 3                      # mostly small, like a multilabel model's
    probs[0, :3] = torch.tensor([0.05, 0.1499, 0.95])      # on and just under grid points
    save_predictions(tmp_path / "p.npz", {"test": probs})
    back, top = load_predictions(tmp_path / "p.npz")
    for t in THRESHOLDS:
        assert torch.equal(back["test"] >= t, probs >= t), t
    assert torch.equal(top["test"], probs.argmax(1))
    gold = torch.rand(200, 30) < 0.2
    save_golds(tmp_path / "g.npz", {"test": gold})
    assert torch.equal(load_golds(tmp_path / "g.npz")["test"], gold)


def test_predictions_of_the_earlier_zlib_format_are_read_and_repacked_unchanged(tmp_path):
    import numpy as np

    from eembed_model.predictions import GRID, load_predictions, repack_predictions

    torch.manual_seed(1)
    probs = torch.rand(3000, 380) ** 6  # a multilabel model's: mostly near 0
    level = np.floor(probs.numpy() * GRID + 1e-6).astype(np.uint8)
    top = probs.argmax(1).numpy().astype(np.uint16)
    top[0] = 7  # a stored top label is kept as stored, not recomputed from the cells
    np.savez_compressed(tmp_path / "old.npz", **{"test.level": level, "test.top": top})
    old_probs, old_top = load_predictions(tmp_path / "old.npz")
    repack_predictions(tmp_path / "old.npz", tmp_path / "new.npz")
    new_probs, new_top = load_predictions(tmp_path / "new.npz")
    assert torch.equal(new_probs["test"], old_probs["test"]) and torch.equal(new_top["test"], old_top["test"])
    assert int(new_top["test"][0]) == 7
    # (random levels compress little either way; on the comparison's real predictions LZMA is 2-3x smaller)
    assert (tmp_path / "new.npz").stat().st_size < (tmp_path / "old.npz").stat().st_size
    np.savez_compressed(tmp_path / "other.npz", weights=level)
    with pytest.raises(ValueError, match="not a predictions file"):
        load_predictions(tmp_path / "other.npz")


def test_a_near_constant_model_is_never_called_robust():
    from eembed_model.compare_report import beats_baseline, claims_rows

    def result(clean):
        per_set = {"global": {"micro_f1": {"mean": clean, "sd": 0.0, "values": [clean, clean, clean]}}}
        return {"summary": {"test": per_set}, "parameters": {"material_table": 1}}

    summary = {"seeds": [0, 1, 2], "sets": ["test", "test-shift"], "comparisons": [], "alignment": {},
               "constant_baseline": {"k": 3, "test_micro_f1": 0.40},
               "results": {"elementwise": result(0.41), "subword": result(0.39)},
               "degradation": [{"a": "elementwise", "b": "subword", "set": "test-shift", "difference": 0.05,
                                "ci_low": 0.02, "ci_high": 0.08, "change_a": {"mean": -0.01, "sd": 0.0},
                                "change_b": {"mean": -0.06, "sd": 0.0}}]}
    assert not beats_baseline(summary, "elementwise", "subword")
    shift = [row for row in claims_rows(summary) if row[0] == "(c) robust to domain shift"][0]
    assert shift[3].startswith("not counted: a clean score does not beat the constant baseline (0.400)")
    summary["results"]["subword"] = result(0.55)
    summary["results"]["elementwise"] = result(0.56)
    shift = [row for row in claims_rows(summary) if row[0] == "(c) robust to domain shift"][0]
    assert shift[3] == "supported"


def test_an_undecided_change_asks_for_more_seeds_and_names_its_variants():
    from eembed_model.compare_report import degradation_table, undecided_variants, verdict

    def entry(low, high, difference, seeds):
        return {"difference": difference, "ci_low": low, "ci_high": high, "welch_p": 0.3, "seeds": seeds}

    decided, unclear = entry(0.01, 0.03, 0.02, [3, 3]), entry(-0.005, 0.026, 0.011, [3, 3])
    summary = {
        "results": {"elementwise": {}, "subword": {}, "aligned": {}},
        "comparisons": [{"a": "aligned", "b": "elementwise", "sets": {"test": {"micro_f1": decided, "macro_f1": decided}}}],
        "degradation": [{"a": "elementwise", "b": "subword", "set": "test-shift", "change_a": {"mean": -0.3, "sd": 0.01},
                         "change_b": {"mean": -0.31, "sd": 0.01}, **unclear}],
    }
    assert undecided_variants(summary) == ["elementwise", "subword"]
    assert "(needs 5 seeds)" in degradation_table(summary)
    assert verdict(unclear["ci_low"], unclear["ci_high"], unclear) == "not shown (interval includes 0; run 5 seeds)"
    settled = dict(unclear, seeds=[5, 5])  # with 5 seeds a side the same interval is simply not shown
    assert verdict(settled["ci_low"], settled["ci_high"], settled) == "not shown (interval includes 0)"
    summary["degradation"][0].update(seeds=[5, 5])
    assert undecided_variants(summary) == [] and "needs" not in degradation_table(summary)


def test_the_committed_claims_tables_are_rebuilt_from_the_committed_predictions(tmp_path, capsys):
    """docs/results/eembed-claims holds every run's predictions: --recompute gives back every
    score, interval and verdict of the committed comparison (a stale table or a lost file fails)."""
    import json
    import shutil
    from pathlib import Path

    from eembed_model import compare

    committed = Path(__file__).resolve().parents[1] / "docs" / "results" / "eembed-claims"
    shutil.copy2(committed / "comparison.json", tmp_path / "comparison.json")
    shutil.copytree(committed / "predictions", tmp_path / "predictions")
    assert compare.main(["--recompute", str(tmp_path)]) == 0
    capsys.readouterr()
    before = json.loads((committed / "comparison.json").read_text())
    after = json.loads((tmp_path / "comparison.json").read_text())
    assert after["comparisons"] == before["comparisons"] and after["degradation"] == before["degradation"]
    assert after["results"] == before["results"]
    assert (tmp_path / "comparison.md").read_text() == (committed / "comparison.md").read_text()
    assert sum(f.stat().st_size for f in (committed / "predictions").rglob("*.npz")) < 10 * 2**20
