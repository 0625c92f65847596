"""Dataset builders: debtags from an apt index, JSONL/CSV files, stable source-grouped splits; metrics."""
import json
from pathlib import Path

import pytest
import torch

from eembed_model import data
from eembed_model.metrics import best_threshold, f1_scores, frequency_breakdown, precision_at_1

FIXTURE = Path(__file__).parent / "fixtures" / "debtags_small.jsonl"

PACKAGES = """Package: vim
Version: 2:9.0-1
Source: vim (2:9.0-1)
Description: Vi IMproved - enhanced vi editor
Description-md5: 0000
Tag: devel::editor, implemented-in::c, interface::commandline,
 role::program, use::editing

Package: vim-runtime
Source: vim
Description: Vi IMproved - Runtime files
Tag: role::app-data, use::editing

Package: untagged
Description: no tags here

Package: nano
Description: small, friendly text editor inspired by Pico
 A long description line that must not be used.
Tag: implemented-in::c, role::program, use::editing
"""


def write_lists(tmp_path: Path) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.example_dists_main_binary-amd64_Packages").write_text(PACKAGES)
    return lists


def test_debtags_records_parse_stanzas_with_continuations_and_sources(tmp_path):
    records, stanzas = data.read_debtags(str(write_lists(tmp_path)))
    by_name = {r["package"]: r for r in records}
    assert stanzas == 3 and set(by_name) == {"vim", "vim-runtime", "nano"}
    assert by_name["vim"]["text"] == "vim Vi IMproved - enhanced vi editor"
    assert by_name["vim"]["labels"] == ["devel::editor", "implemented-in::c", "interface::commandline",
                                        "role::program", "use::editing"]
    assert by_name["vim"]["source"] == "vim" and by_name["vim-runtime"]["source"] == "vim"
    assert by_name["nano"]["source"] == "nano"
    assert by_name["nano"]["text"] == "nano small, friendly text editor inspired by Pico"


def test_build_debtags_filters_rare_labels_and_keeps_sources_on_one_side(tmp_path):
    out = tmp_path / "ds"
    stats = data.build_debtags(out, min_count=2, lists_dir=str(write_lists(tmp_path)))
    assert stats["tagged_packages"] == 3 and stats["tags"] == 6
    assert data.load_labels(out) == ["implemented-in::c", "role::program", "use::editing"]
    rows = [r for s in data.SPLITS for r in data.load_split(out, s, allow_empty=True)]  # 3 texts: a split is empty
    assert len(rows) == 3
    sides = {r["package"]: s for s in data.SPLITS for r in data.load_split(out, s, allow_empty=True)}
    assert sides["vim"] == sides["vim-runtime"]
    assert json.loads((out / "stats.json").read_text())["split_sizes"]


def test_missing_apt_index_gives_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="apt-get update"):
        data.read_debtags(str(tmp_path))
    assert data.main(["debtags", "--out", str(tmp_path / "x"), "--lists", str(tmp_path)]) == 2
    assert "apt-get update" in capsys.readouterr().err


def test_split_is_stable_and_roughly_80_10_10():
    keys = [f"pkg{i}" for i in range(3000)]
    first = [data.split_of(k) for k in keys]
    assert first == [data.split_of(k) for k in keys]
    share = {s: first.count(s) / len(keys) for s in data.SPLITS}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["test"] < 0.13


def test_build_from_jsonl_fixture_and_csv(tmp_path):
    stats = data.build_from_file(FIXTURE, tmp_path / "j", min_count=5)
    assert sum(stats["split_sizes"].values()) == stats["records_after_filter"] > 300
    labels = data.load_labels(tmp_path / "j")
    assert "role::program" in labels
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("text,labels\nan editor,a|b\na compiler,b\nnothing,\n")
    stats = data.build_from_file(csv_path, tmp_path / "c", min_count=1)
    assert stats["records_after_filter"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("body,tags\nx,y\n")
    with pytest.raises(ValueError, match="'text' and 'labels'"):
        data.read_text_label_file(bad)
    with pytest.raises(FileNotFoundError, match="no train split"):
        data.load_split(tmp_path / "nowhere", "train")


def test_hub_source_explains_missing_datasets_package(tmp_path):
    try:
        import datasets  # noqa: F401
        pytest.skip("datasets is installed; the offline message is not reachable")
    except ImportError:
        pass
    with pytest.raises(ValueError, match="pip install datasets"):
        data.build_from_hub("ccdv/patent-classification", tmp_path)


def test_multilabel_metrics_on_known_values():
    gold = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=torch.bool)
    probs = torch.tensor([[0.9, 0.2, 0.6], [0.1, 0.4, 0.3], [0.2, 0.1, 0.7]])
    pred = probs >= 0.5
    scores = f1_scores(pred, gold)
    # tp=2 (0,0),(0,2); fp=1 (2,2); fn=2 (1,1),(2,0) -> P=2/3, R=1/2, F1=4/7
    assert scores["micro_f1"] == pytest.approx(4 / 7)
    # per label F1: label0 2/3, label1 0, label2 2/3 -> macro 4/9
    assert scores["macro_f1"] == pytest.approx(4 / 9)
    assert precision_at_1(probs, gold) == pytest.approx(2 / 3)  # rows 0 and 1 right, row 2 wrong
    # Gold positives score 0.9, 0.6, 0.4, 0.2; negatives 0.7, 0.3, 0.2, 0.1, 0.1. Micro F1 = 2tp/(2tp+fp+fn):
    # t <= 0.10: tp 4 fp 5 fn 0 -> 8/13      0.10 < t <= 0.20: tp 4 fp 3 fn 0 -> 8/11
    # 0.20 < t <= 0.30: tp 3 fp 2 fn 1 -> 2/3   0.30 < t <= 0.40: tp 3 fp 1 fn 1 -> 3/4 (the best)
    # 0.40 < t <= 0.60: 4/7   0.60 < t <= 0.70: 1/3   0.70 < t <= 0.90: 2/5   t > 0.90: 0.
    # 0.35 and 0.40 tie at 3/4; the higher threshold wins the tie.
    threshold, best = best_threshold(probs, gold)
    assert best == pytest.approx(3 / 4) and threshold == pytest.approx(0.40)
    assert best_threshold(probs, gold, thresholds=(0.5, 0.65)) == (0.5, pytest.approx(4 / 7))
    buckets = frequency_breakdown(pred, gold, [100, 10, 1])
    assert [b["bucket"] for b in buckets] == ["frequent", "medium", "rare"]
    assert buckets[0]["train_examples_min"] == 100
    # one label per bucket, its F1 at 0.5 from above: label0 2/3, label1 0, label2 2/3
    assert [b["macro_f1"] for b in buckets] == pytest.approx([2 / 3, 0.0, 2 / 3])


def test_real_apt_index_builds_when_present(tmp_path):
    try:
        data.find_index_files()
    except FileNotFoundError:
        pytest.skip("no apt index on this machine (apt-get update creates one)")
    try:
        stats = data.build_debtags(tmp_path, min_count=20)
    except ValueError as exc:  # an index without Tag: fields (not Debian main)
        pytest.skip(str(exc))
    assert stats["tagged_packages"] > 1000 and stats["tags_with_at_least_20"] <= stats["tags"]
    assert 0 < stats["share_words_over_12_bytes"] < stats["share_words_over_8_bytes"] < 1
    train_rows = data.load_split(tmp_path, "train")
    test_sources = {r["source"] for r in data.load_split(tmp_path, "test")}
    assert not test_sources & {r["source"] for r in train_rows}
