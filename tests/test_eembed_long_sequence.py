"""The long-sequence study: long descriptions from Translation-en, and the study command on tiny
models (coverage, cost and accuracy per model and L)."""
import json
from pathlib import Path

import numpy as np
import pytest

from eembed_model import data, long_sequence

FIXTURE = Path(__file__).parent / "fixtures" / "debtags_small.jsonl"

PACKAGES = """Package: vim
Source: vim (2:9.0-1)
Description: Vi IMproved - enhanced vi editor
Description-md5: aaaa
Tag: devel::editor, use::editing

Package: nano
Description: small, friendly text editor inspired by Pico
Description-md5: bbbb
Tag: devel::editor, use::editing

Package: orphan
Description: a tagged package whose long description is missing
Description-md5: cccc
Tag: use::editing
"""
TRANSLATION = """Package: vim
Description-md5: aaaa
Description-en: Vi IMproved - enhanced vi editor
 Vim is an almost compatible version of the UNIX editor Vi.
 .
 Many new features have been added:
 multi level undo, syntax highlighting.

Package: nano
Description-md5: bbbb
Description-en: small, friendly text editor inspired by Pico
 GNU nano is an easy-to-use text editor.
"""


def test_long_descriptions_join_lines_and_keep_paragraphs(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "x_main_binary-amd64_Packages").write_text(PACKAGES)
    assert data.main(["debtags", "--long", "--lists", str(lists), "--out", str(tmp_path / "none"), "--min-count", "1"]) == 2
    (lists / "x_main_i18n_Translation-en").write_text(TRANSLATION)
    assert data.main(["debtags", "--long", "--lists", str(lists), "--out", str(tmp_path / "long"), "--min-count", "1"]) == 0
    rows = [json.loads(line) for split in data.SPLITS for line in (tmp_path / "long" / f"{split}.jsonl").read_text().splitlines()]
    by_name = {r["package"]: r for r in rows}
    assert set(by_name) == {"vim", "nano"}     # no long description, no record
    assert by_name["vim"]["text"] == ("vim Vi IMproved - enhanced vi editor\nVim is an almost compatible version of the "
                                      "UNIX editor Vi.\n\nMany new features have been added: multi level undo, syntax "
                                      "highlighting.")
    stats = json.loads((tmp_path / "long" / "stats.json").read_text())
    assert stats["without_long_description"] == 1 and stats["words_per_text"] > 10


def test_the_study_measures_coverage_cost_and_accuracy_per_model_and_length(tmp_path, capsys):
    source = tmp_path / "data"
    assert data.main(["file", "--input", str(FIXTURE), "--out", str(source), "--min-count", "5"]) == 0
    out = tmp_path / "study"
    args = ["--data", str(source), "--out", str(out), "--kinds", "elementwise,canine", "--lengths", "8,32",
            "--mlm-steps", "2", "--ft-steps", "2", "--batch-size", "8", "--cost-batch", "2", "--c", "4",
            "--layers", "1", "--seeds", "0,1"]
    assert long_sequence.main(args) == 0
    summary = json.loads((out / "long_sequence.json").read_text())
    rows = {(r["kind"], r["length"]): r for r in summary["rows"]}
    assert set(rows) == {("elementwise", 8), ("elementwise", 32), ("canine", 8), ("canine", 32)}
    for kind in ("elementwise", "canine"):
        assert rows[kind, 8]["share_of_words_seen"] < rows[kind, 32]["share_of_words_seen"] <= 1
        assert rows[kind, 8]["activation_mb"] < rows[kind, 32]["activation_mb"]
        row = rows[kind, 32]
        assert [r["seed"] for r in row["runs"]] == [0, 1]
        assert row["micro_f1"] == pytest.approx(np.mean([r["micro_f1"] for r in row["runs"]]))
        low, high = row["micro_f1_interval"]   # the seeds' spread, not only the mean
        assert low <= row["micro_f1"] <= high and row["micro_f1_sd"] >= 0
    # Beside the models: the constant baseline, and elementwise minus the other kind at each L.
    assert 0 < summary["constant_baseline"]["test_micro_f1"] < 1
    for row in summary["rows"]:   # 2-step models: each run either beats the baseline or is counted at it
        at_baseline = [r["micro_f1"] <= summary["constant_baseline"]["test_micro_f1"] + 1e-6 for r in row["runs"]]
        assert row["runs_at_baseline"] == sum(at_baseline)
    assert [(d["length"], d["b"], d["seeds"]) for d in summary["differences"]] == [(8, "canine", [2, 2]), (32, "canine", [2, 2])]
    report = (out / "long_sequence.md").read_text()
    assert "Constant baseline" in report and "L = 32: elementwise - canine" in report and "2 seeds" in report
    # A position holds a word on one side, a character on the other (the fixture's short texts fit
    # whole into 32 elementwise positions).
    assert rows["elementwise", 8]["share_of_words_seen"] > 2 * rows["canine", 8]["share_of_words_seen"]
    assert rows["elementwise", 32]["share_of_words_seen"] == 1.0 > rows["canine", 32]["share_of_words_seen"]
    assert rows["canine", 32]["deep_stack_positions"] == 8
    assert (out / "long_sequence.png").is_file() and "| canine | 32 |" in (out / "long_sequence.md").read_text()
    weights = out / "elementwise" / "L32" / "seed0" / "model.safetensors"
    trained_at = weights.stat().st_mtime_ns
    assert long_sequence.main(args) == 0 and weights.stat().st_mtime_ns == trained_at   # resumed, not retrained
    capsys.readouterr()
    assert long_sequence.main([*args[:4], "--kinds", "gpt"]) == 2
    assert "unknown model kind(s) gpt" in capsys.readouterr().err
    assert long_sequence.main([*args[:4], "--lengths", "4"]) == 2
    assert long_sequence.main([*args[:4], "--lr", "0"]) == 2
    assert "--lr must be a positive number" in capsys.readouterr().err


def test_seed_intervals_are_student_t_over_the_per_seed_scores():
    from eembed_model.metrics import seed_interval, welch_interval

    low, high = seed_interval([1.0, 2.0, 3.0])   # mean 2, sd 1, t(0.975, 2) = 4.303
    assert (low, high) == pytest.approx((2 - 4.303 / 3 ** 0.5, 2 + 4.303 / 3 ** 0.5), abs=1e-3)
    low, high = welch_interval([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])   # difference 1, df 4, t = 2.776
    assert (low, high) == pytest.approx((1 - 2.776 * (2 / 3) ** 0.5, 1 + 2.776 * (2 / 3) ** 0.5), abs=1e-3)
    assert seed_interval([0.5]) is None and welch_interval([0.5], [0.4, 0.6]) is None
    assert welch_interval([0.5, 0.5], [0.4, 0.4]) == pytest.approx([0.1, 0.1])


def test_words_seen_counts_the_words_whose_first_position_is_inside():
    from eembed_model.batching import ElementwiseTextEncoder

    batch = ElementwiseTextEncoder(8, 5)(["alpha internationalization gamma delta"])
    # 3 positions after [CLS]/[SEP]: 'alpha', then two rows of 'internationalization': 2 of 4 words.
    assert long_sequence.words_seen("elementwise", batch, ["alpha internationalization gamma delta"], 5) == [0.5]
    assert long_sequence.words_seen("canine", None, ["abc defgh ij"], 8) == [2 / 3]  # 'abc defgh'[:6] = 'abc de'


def _study(lr: float, scores: dict[tuple[str, int], tuple[float, float]]) -> dict:
    """A finished study's summary: per (kind, L), 3 runs with the given (validation, test) micro-F1."""
    rows = [{"kind": kind, "length": length, "share_of_words_seen": 0.5, "texts_seen_whole": 0.1, "step_seconds": 0.1,
             "activation_mb": 10.0, "runs": [{"seed": s, "micro_f1": test + 0.01 * s, "val_micro_f1": val + 0.01 * s}
                                             for s in range(3)],
             **long_sequence.seed_summary([test + 0.01 * s for s in range(3)])}
            for (kind, length), (val, test) in scores.items()]
    return {"data": "d", "seeds": [0, 1, 2], "mlm_steps": 4, "multilabel_steps": 4, "batch_size": 8, "width": 8, "layers": 1, "lr": lr,
            "rows": rows, "cost_batch": 2, "constant_baseline": {"k": 2, "test_micro_f1": 0.3}, "torch_threads": 1}


def test_the_learning_rate_is_chosen_per_model_and_length_on_validation_only(tmp_path, capsys):
    # At lr 1e-3 elementwise L64 stays at the prior; 3e-4 is better on validation but worse on test
    # for subword L64: the choice must follow validation, whatever the test split says.
    high = _study(1e-3, {("elementwise", 64): (0.31, 0.30), ("subword", 64): (0.50, 0.45)})
    low = _study(3e-4, {("elementwise", 64): (0.40, 0.38), ("subword", 64): (0.52, 0.40)})
    chosen = long_sequence.choose_learning_rate([high, low], "cmd")
    rows = {(r["kind"], r["length"]): r for r in chosen["rows"]}
    assert rows["elementwise", 64]["lr"] == 3e-4 and rows["elementwise", 64]["micro_f1"] == pytest.approx(0.39)
    assert rows["subword", 64]["lr"] == 3e-4 and rows["subword", 64]["micro_f1"] == pytest.approx(0.41)
    assert rows["subword", 64]["lr_validation"] == pytest.approx({"0.001": 0.51, "0.0003": 0.53})
    assert [(d["b"], round(d["difference"], 3)) for d in chosen["differences"]] == [("subword", -0.02)]
    assert "| 0.0003 (0.001: 0.320, 0.0003: 0.410) |" in long_sequence.markdown(chosen)

    # From the command line, on two finished study folders; bad combinations are one message each.
    for name, summary in (("a", high), ("b", low)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "long_sequence.json").write_text(json.dumps(summary))
    assert long_sequence.main(["--choose-lr", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "long_sequence.json").read_text())["rows"][0]["lr"] == 3e-4
    assert (tmp_path / "c" / "long_sequence.png").is_file()
    capsys.readouterr()
    for studies, out, message in (
            (f"{tmp_path / 'a'},{tmp_path / 'a'}", "d", "share a learning rate"),
            (f"{tmp_path / 'a'},{tmp_path / 'b'}", "a", "--out must be a new folder"),
            (f"{tmp_path / 'a'},{tmp_path / 'none'}", "d", "no finished study in"),
            (f"{tmp_path / 'a'}", "d", "at least two studies"),
            (f"{tmp_path / 'a'},{tmp_path / 'c'}", "d", "already a choice between learning rates")):
        assert long_sequence.main(["--choose-lr", studies, "--out", str(tmp_path / out)]) == 2
        assert message in capsys.readouterr().err
    other = {**low, "multilabel_steps": 8, "batch_size": 16}
    with pytest.raises(ValueError, match="differ in multilabel_steps, batch_size"):
        long_sequence.choose_learning_rate([high, other], "cmd")
    old = json.loads(json.dumps(high))
    del old["rows"][0]["runs"][0]["val_micro_f1"]
    with pytest.raises(ValueError, match="no validation scores"):
        long_sequence.choose_learning_rate([old, low], "cmd")
