"""Command-line entries end to end on the committed fixture: data -> train (MLM, fine-tune) ->
evaluate -> attention -> compare, with tiny models and a handful of steps."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eembed_model import attention, compare, compare_report, data, evaluate, material_report, train
from eembed_model.batching import ElementwiseTextEncoder
from eembed_model.checkpoint import BUNDLED_CHECKPOINT, load_checkpoint, save_checkpoint
from eembed_model.config import EEmbedConfig
from eembed_model.model import EEmbedModel

FIXTURE = Path(__file__).parent / "fixtures" / "debtags_small.jsonl"
TINY = ["--v", "8", "--c", "8", "--layers", "2", "--max-len", "16", "--batch-size", "16",
        "--vocab-size", "300", "--log-every", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("debtags_small")
    assert data.main(["file", "--input", str(FIXTURE), "--out", str(out), "--min-count", "5"]) == 0
    return out


@pytest.fixture(scope="module")
def elementwise_models(dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("ee")
    mlm, ft = root / "mlm", root / "ft"
    assert train.main(["--task", "mlm", "--embedding", "elementwise", "--data", str(dataset), "--out", str(mlm),
                       "--steps", "6", *TINY]) == 0
    assert train.main(["--task", "multilabel", "--data", str(dataset), "--init", str(mlm), "--out", str(ft),
                       "--steps", "6", *TINY]) == 0
    return mlm, ft


def test_train_writes_checkpoint_card_and_log(elementwise_models, dataset):
    mlm, ft = elementwise_models
    for path in (mlm, ft):
        assert (path / "model.safetensors").is_file()
        assert len((path / "train_log.jsonl").read_text().splitlines()) == 3
    card = json.loads((ft / "card.json").read_text())
    assert card["task"] == "multilabel" and card["config"]["num_labels"] == len(data.load_labels(dataset))
    assert card["config"]["v"] == 8 and card["config"]["c"] == 8
    assert card["command"].startswith("python -m eembed_model.train")
    assert 0 < card["threshold"] < 1 and card["parameters"]["material_table"] == 256 * 8
    assert len(card["label_train_counts"]) == len(card["labels"])


def test_fine_tuning_starts_from_the_pretrained_encoder(elementwise_models):
    mlm, ft = elementwise_models
    pre, tuned = load_checkpoint(mlm).model, load_checkpoint(ft).model
    # The fine-tuned element table moved away from, but started at, the pretrained one: compare
    # against a fresh model with the same seed to show it was not re-initialised.
    fresh = EEmbedModel(load_checkpoint(ft).config)
    table = lambda m: m.material_table.elements.weight
    assert (table(tuned) - table(pre)).abs().mean() < (table(fresh) - table(pre)).abs().mean()


def test_evaluate_cli_reports_f1_precision_and_frequency_buckets(elementwise_models, dataset, tmp_path):
    _, ft = elementwise_models
    out = tmp_path / "metrics.json"
    assert evaluate.main(["--model", str(ft), "--data", str(dataset), "--split", "test", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    for key in ("micro_f1", "macro_f1", "precision_at_1", "threshold", "by_label_frequency"):
        assert key in metrics
    assert 0 <= metrics["micro_f1"] <= 1 and len(metrics["by_label_frequency"]) == 3
    mlm, _ = elementwise_models
    assert evaluate.main(["--model", str(mlm), "--data", str(dataset)]) == 2  # no multilabel head


def test_subword_baseline_trains_with_its_own_wordpiece_table(dataset, tmp_path):
    mlm, ft = tmp_path / "mlm", tmp_path / "ft"
    assert train.main(["--task", "mlm", "--embedding", "subword", "--data", str(dataset), "--out", str(mlm),
                       "--steps", "4", *TINY]) == 0
    assert (mlm / "tokenizer.json").is_file()
    assert train.main(["--task", "multilabel", "--embedding", "subword", "--data", str(dataset), "--init",
                       str(mlm), "--out", str(ft), "--steps", "4", "--pooling", "mean", *TINY]) == 0
    loaded = load_checkpoint(ft)
    assert loaded.config.embedding == "subword" and loaded.config.heads == 8
    assert loaded.config.pooling == "mean" and loaded.model.multilabel_head.pooling == "mean"
    assert loaded.config.vocab_size == loaded.tokenizer.get_vocab_size() <= 300


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    config = EEmbedConfig(v=8, c=8, layers=2, max_len=16, num_labels=4)
    model = EEmbedModel(config).eval()
    batch = ElementwiseTextEncoder(8, 16)(["vim editor", "日本語 café 🙂"])
    before = model.multilabel(batch.inputs, batch.attention_mask).logits
    save_checkpoint(model, tmp_path, {"task": "multilabel", "labels": list("abcd")})
    loaded = load_checkpoint(tmp_path)
    after = loaded.model.multilabel(batch.inputs, batch.attention_mask).logits
    assert torch.equal(before, after) and loaded.labels == list("abcd") and loaded.config == config
    with pytest.raises(FileNotFoundError, match="card.json"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(TypeError, match="model first"):
        save_checkpoint(tmp_path, model, {})  # the old (directory, model) order


def test_a_card_with_a_config_field_this_code_does_not_know_fails_naming_it(tmp_path):
    model = EEmbedModel(EEmbedConfig(v=8, c=8, layers=1, max_len=16))
    save_checkpoint(model, tmp_path, {"task": "mlm"})
    card = json.loads((tmp_path / "card.json").read_text())
    card["config"]["rotary_positions"] = True
    (tmp_path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"'config' of .*card.json has unknown fields \['rotary_positions'\]") as err:
        load_checkpoint(tmp_path)
    assert "\n" not in str(err.value)


def test_reused_pretraining_needs_a_training_config_this_code_knows(tmp_path):
    wanted = train.TrainConfig(task="mlm", steps=5)
    card = {"train": {**vars(wanted), "out": "elsewhere"}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    assert compare.reusable_run(tmp_path, wanted) == card  # out is ignored
    assert compare.reusable_run(tmp_path, train.TrainConfig(task="mlm", steps=6)) is None
    older = {k: v for k, v in card["train"].items() if k != "pooling"}  # a card from before a field
    (tmp_path / "card.json").write_text(json.dumps({"train": older}))
    assert compare.reusable_run(tmp_path, wanted) is not None
    (tmp_path / "card.json").write_text(json.dumps({"train": {**card["train"], "grad_accumulation": 4}}))
    with pytest.raises(ValueError, match=r"'train' of .*card.json has unknown fields \['grad_accumulation'\]"):
        compare.reusable_run(tmp_path, wanted)


def test_material_report_cli_reads_a_dataset_split(dataset, tmp_path, capsys):
    assert material_report.main(["--data", str(dataset), "--v", "4", "8"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["v"] for r in reports] == [4, 8] and all(r["level"] == "word" for r in reports)
    assert reports[0]["total_materials"] == reports[1]["total_materials"] > 0
    assert reports[0]["share_longer_than_v"] > reports[1]["share_longer_than_v"]
    assert material_report.main(["--data", str(tmp_path / "none")]) == 2
    assert "no train split" in capsys.readouterr().err


def test_attention_api_returns_materials_grids_and_normalised_attention(elementwise_models, tmp_path):
    _, ft = elementwise_models
    model = attention.load_attention_model(str(ft))
    result = attention.attention_for_text("vim café 日本語", model=model)
    assert result["materials"] == ["[CLS]", "vim", "café", "日", "本", "語", "[SEP]"]  # CJK apart, as BERT
    assert result["v"] == 8 and result["layers"] == 2
    assert [len(row) for row in result["byte_grids"]] == [8] * 7
    att = torch.tensor(result["attentions"])
    assert att.shape == (2, 8, 7, 7)
    assert torch.allclose(att.sum(-1), torch.ones(2, 8, 7), atol=1e-5)
    summary = result["per_head_summary"]
    assert len(summary) == 2 * 8
    for row in summary:
        for top in row["top_materials"]:
            material, n = top["material"], row["character_position"]
            if material == "café" and n == 3:
                assert top["nth_character"] == "é"  # byte 3 starts the 2-byte é
            if material == "vim" and n == 1:
                assert top["nth_character"] == "i"
    assert attention.nth_character("日本語", 4) == "本" and attention.nth_character("vim", 5) == ""
    # The weight-level alignment is computed once per loaded model, not once per text.
    assert attention.attention_for_text("gcc", model=model)["alignment"] is result["alignment"]
    with pytest.raises(ValueError, match="empty"):
        attention.attention_for_text("   ", model=model)
    with pytest.raises(FileNotFoundError, match="no eembed checkpoint"):
        attention.load_attention_model(str(tmp_path / "none"))
    out = tmp_path / "attn.json"
    assert attention.main(["--text", "gcc GNU C compiler", "--model", str(ft), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert {"materials", "byte_grids", "attentions", "per_head_summary", "alignment"} <= set(written)
    shares = torch.tensor(written["alignment"]["qkv_byte_share"])
    assert shares.shape == (2, 8, 8) and torch.allclose(shares.sum(-1), torch.ones(2, 8, dtype=shares.dtype))
    assert attention.main(["--text", "", "--model", str(ft)]) == 2


def test_compare_writes_a_table_for_both_embeddings(dataset, tmp_path, capsys):
    out, bundle_dir = tmp_path / "cmp", tmp_path / "bundle"
    args = ["--data", str(dataset), "--out", str(out), "--variants", "elementwise,subword", "--seeds", "0",
            "--mlm-steps", "2", "--ft-steps", "2", "--v", "8", "--c", "8", "--layers", "1", "--max-len", "16",
            "--batch-size", "16", "--vocab-size", "300", "--resamples", "50"]
    assert compare.main([*args, "--bundle", str(bundle_dir)]) == 0
    weights = out / "elementwise" / "seed0" / "model.safetensors"
    trained_at = weights.stat().st_mtime_ns
    # Same settings: every run is reused, nothing is trained again.
    assert compare.main(args) == 0
    assert weights.stat().st_mtime_ns == trained_at
    table = (out / "comparison.md").read_text()
    assert "| elementwise |" in table and "| subword |" in table and "## Claims" in table
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["sets"] == ["test"] and summary["seeds"] == [0]
    card = json.loads((bundle_dir / "card.json").read_text())
    assert card["test_metrics"]["split"] == "test" and card["reproduce"].startswith("python -m eembed_model.compare")
    assert load_checkpoint(bundle_dir).config.embedding == "elementwise"
    assert compare.main([*args[:4], "--variants", "elementwise,bert-large"]) == 2
    assert "unknown variant(s) bert-large" in capsys.readouterr().err
    assert compare.main([*args, "--more-seeds", "canine-hash"]) == 2
    assert "--more-seeds names canine-hash" in capsys.readouterr().err
    # --more-seeds: subword fine-tuned with seeds 0-4, elementwise kept at seed 0 and reused.
    assert compare.main([*args, "--more-seeds", "subword"]) == 0
    assert weights.stat().st_mtime_ns == trained_at
    more = json.loads((out / "comparison.json").read_text())
    assert more["results"]["subword"]["seed_values"] == [0, 1, 2, 3, 4] and len(more["results"]["subword"]["seeds"]) == 5
    assert more["results"]["elementwise"]["seed_values"] == [0]
    assert more["comparisons"][0]["sets"]["test"]["micro_f1"]["seeds"] == [1, 5]
    assert "Seeds [0] ([0, 1, 2, 3, 4] for subword)" in (out / "comparison.md").read_text()
    assert compare.main(args) == 0  # back to one seed a side: the table above again
    (out / "comparison.md").unlink()
    assert compare_report.main(["--out", str(out)]) == 0  # redraws from comparison.json alone
    assert (out / "comparison.md").read_text() == table and (out / "robustness.png").is_file()
    # The stored predictions alone rebuild every number: move the runs away and recompute.
    stored = out / "predictions"
    assert (stored / "gold.npz").is_file() and (stored / "elementwise" / "seed0.npz").is_file()
    assert sum(f.stat().st_size for f in stored.rglob("*.npz")) < 200_000
    for run in ("elementwise", "subword"):
        (out / run).rename(tmp_path / f"moved-{run}")
    before = json.loads((out / "comparison.json").read_text())
    (out / "comparison.md").unlink()
    assert compare.main(["--recompute", str(out)]) == 0
    after = json.loads((out / "comparison.json").read_text())
    assert after["comparisons"] == before["comparisons"] and after["results"] == before["results"]
    assert (out / "comparison.md").read_text() == table
    assert compare.main(["--recompute", str(tmp_path / "nothing")]) == 2
    assert "no comparison.json" in capsys.readouterr().err
    assert compare_report.main(["--out", str(tmp_path)]) == 2
    assert "no comparison.json" in capsys.readouterr().err


def test_compare_sets_spelled_words_against_words_cut_at_v_bytes(dataset, tmp_path):
    out = tmp_path / "cmp"
    args = ["--data", str(dataset), "--out", str(out), "--variants", "elementwise,elementwise-truncate", "--seeds", "0",
            "--mlm-steps", "2", "--ft-steps", "2", "--v", "8", "--c", "8", "--layers", "1", "--max-len", "16",
            "--batch-size", "16", "--resamples", "50"]
    assert compare.main(args) == 0
    cards = {name: json.loads((out / name / "seed0" / "card.json").read_text())["train"]
             for name in ("elementwise", "elementwise-truncate")}
    assert cards["elementwise"]["long_words"] == "spell" and cards["elementwise-truncate"]["long_words"] == "truncate"
    assert cards["elementwise-truncate"]["init"] == cards["elementwise"]["init"]  # one pretraining: only the cut differs
    assert load_checkpoint(out / "elementwise-truncate" / "seed0").config.long_words == "truncate"
    assert load_checkpoint(out / "elementwise" / "seed0").config.long_words == "spell"
    summary = json.loads((out / "comparison.json").read_text())
    pair = next(e for e in summary["comparisons"] if e["b"] == "elementwise-truncate")
    assert pair["a"] == "elementwise" and pair["sets"]["test"]["micro_f1"]["seeds"] == [1, 1]
    assert "| input: long words spelled on, not cut at v bytes | spelled − truncated elementwise" in \
        (out / "comparison.md").read_text()


def test_cli_errors_exit_with_code_2(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--steps", "1"]) == 2
    assert "no train split" in capsys.readouterr().err
    assert train.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--steps", "0"]) == 2
    done = subprocess.run([sys.executable, "-m", "eembed_model.train", "--help"], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0 and "--embedding" in done.stdout


def test_bundled_model_is_small_documented_and_viewable():
    bundle_dir = BUNDLED_CHECKPOINT
    assert (bundle_dir / "model.safetensors").stat().st_size <= 10 * 2**20
    model = attention.load_attention_model()
    card = model.card
    assert model.config.embedding == "elementwise" and model.config.heads == model.config.v
    assert card["reproduce"].startswith("python -m eembed_model.compare")
    assert 0 < card["test_metrics"]["micro_f1"] <= 1 and (bundle_dir / "train_log.jsonl").is_file()
    result = attention.attention_for_text("emacs GNU Emacs editor", model)
    assert len(result["attentions"]) == model.config.layers
    assert len(result["attentions"][0]) == model.config.v
