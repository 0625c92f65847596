"""Bad input to the eembed_model commands ends in one short message naming the problem, exit 2,
no traceback: empty or malformed splits, a label list of other data, an --init of another
architecture, unreadable stored predictions, out-of-range numbers."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from eembed_model import compare, data, evaluate, long_sequence, train
from eembed_model.predictions import load_golds, load_predictions, save_golds, save_predictions

FIXTURE = Path(__file__).parent / "fixtures" / "debtags_small.jsonl"
TINY = ["--layers", "1", "--c", "4", "--max-len", "16", "--batch-size", "8", "--vocab-size", "200",
        "--log-every", "2", "--curve-every", "0", "--threads", "1", "--steps", "2"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("debtags_small")
    assert data.main(["file", "--input", str(FIXTURE), "--out", str(out), "--min-count", "5"]) == 0
    return out


@pytest.fixture(scope="module")
def subword_mlm(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("subword") / "mlm"
    assert train.main(["--task", "mlm", "--embedding", "subword", "--data", str(dataset), "--out", str(out), *TINY]) == 0
    return out


def copy_of(dataset: Path, target: Path) -> Path:
    shutil.copytree(dataset, target)
    return target


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")][-1]


def test_an_empty_split_is_named_not_a_max_of_an_empty_sequence(dataset, tmp_path, capsys):
    broken = copy_of(dataset, tmp_path / "d")
    (broken / "train.jsonl").write_text("")
    assert train.main(["--task", "mlm", "--data", str(broken), "--out", str(tmp_path / "run"), *TINY]) == 2
    message = one_line_error(capsys)
    assert "train split" in message and "holds no records" in message
    with pytest.raises(ValueError, match="the train split .* holds no records"):
        data.load_split(broken, "train")


def test_a_malformed_record_names_its_file_and_line(dataset, tmp_path, capsys):
    broken = copy_of(dataset, tmp_path / "d")
    lines = (broken / "train.jsonl").read_text().splitlines()
    (broken / "train.jsonl").write_text("\n".join([lines[0], '{"txt": "no text key", "labels": []}', *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl, line 2: a record needs a 'text' string"):
        data.load_split(broken, "train")
    assert train.main(["--task", "mlm", "--data", str(broken), "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "line 2" in one_line_error(capsys)
    (broken / "train.jsonl").write_text("\n".join([lines[0], '{"text": "cut off', *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl, line 2: not a JSON record"):
        data.load_split(broken, "train")
    (broken / "labels.json").write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="labels.json is not a list of label names"):
        data.load_labels(broken)


def test_a_label_list_of_other_data_is_refused_not_trained_on_all_negative_targets(dataset, tmp_path, capsys):
    other = copy_of(dataset, tmp_path / "d")
    (other / "labels.json").write_text(json.dumps(["x::y", "z::w"]))
    assert train.main(["--task", "multilabel", "--data", str(other), "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "none of the 2 labels" in one_line_error(capsys)
    assert not (tmp_path / "run" / "card.json").exists()


def test_evaluate_refuses_data_without_any_of_the_models_labels(dataset, subword_mlm, tmp_path, capsys):
    ft = tmp_path / "ft"
    assert train.main(["--task", "multilabel", "--data", str(dataset), "--init", str(subword_mlm), "--out", str(ft),
                       *TINY]) == 0
    other = copy_of(dataset, tmp_path / "d")
    for split in ("validation", "test"):
        rows = [json.loads(line) for line in (other / f"{split}.jsonl").read_text().splitlines()]
        (other / f"{split}.jsonl").write_text("".join(json.dumps({**r, "labels": ["other::label"]}) + "\n" for r in rows))
    assert evaluate.main(["--model", str(ft), "--data", str(other)]) == 2
    assert "none of the" in one_line_error(capsys)


def test_an_init_of_another_architecture_is_refused_when_asked_for_and_taken_when_left_out(
        dataset, subword_mlm, tmp_path, capsys):
    asked = ["--task", "multilabel", "--data", str(dataset), "--init", str(subword_mlm), *TINY]
    assert train.main([*asked, "--embedding", "elementwise", "--out", str(tmp_path / "a")]) == 2
    message = one_line_error(capsys)
    assert "has embedding subword, not --embedding elementwise" in message
    assert train.main([*asked, "--v", "4", "--out", str(tmp_path / "b")]) == 2
    assert "has v 8, not --v 4" in one_line_error(capsys)
    # Left out, the options come from --init, and the new card says so (it said elementwise before).
    assert train.main(["--task", "multilabel", "--data", str(dataset), "--init", str(subword_mlm), "--steps", "2",
                       "--curve-every", "0", "--out", str(tmp_path / "c")]) == 0
    card = json.loads((tmp_path / "c" / "card.json").read_text())
    assert card["train"]["embedding"] == card["config"]["embedding"] == "subword"
    assert card["train"]["c"] == card["config"]["c"] == 4 and card["train"]["layers"] == 1


def test_truncated_or_overwritten_predictions_name_the_file(tmp_path):
    path = save_predictions(tmp_path / "seed0.npz", {"test": torch.rand(5, 3)})
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ValueError, match=r"seed0.npz cannot be read \(BadZipFile"):
        load_predictions(path)
    path.write_bytes(bytes(range(100)))
    with pytest.raises(ValueError, match="seed0.npz cannot be read"):
        load_predictions(path)
    gold = save_golds(tmp_path / "gold.npz", {"test": torch.rand(5, 3) > 0.5})
    gold.write_bytes(gold.read_bytes()[:40])
    with pytest.raises(ValueError, match="gold.npz cannot be read"):
        load_golds(gold)


def test_compare_and_long_sequence_refuse_bad_numbers_with_a_message(dataset, tmp_path, capsys):
    base = ["--data", str(dataset), "--out", str(tmp_path / "c"), "--variants", "elementwise"]
    assert compare.main([*base, "--seeds", "a"]) == 2
    assert "--seeds must be comma-separated whole numbers, got 'a'" in one_line_error(capsys)
    assert compare.main([*base, "--seeds", "-1"]) == 2
    assert "--seeds must be 0 or more" in one_line_error(capsys)
    with pytest.raises(SystemExit) as stop:
        compare.main([*base, "--resamples", "0"])
    assert stop.value.code == 2 and "--resamples must be at least 1" in capsys.readouterr().err
    empty = copy_of(dataset, tmp_path / "empty")
    (empty / "validation.jsonl").write_text("\n")
    assert compare.main(["--data", str(empty), "--out", str(tmp_path / "e"), "--variants", "elementwise"]) == 2
    assert "validation split" in one_line_error(capsys) and not (tmp_path / "e").exists()
    assert long_sequence.main(["--data", str(dataset), "--out", str(tmp_path / "l"), "--no-train",
                               "--lengths", "8", "--cost-batch", "0"]) == 2
    assert "--cost-batch must be at least 1, got 0" in one_line_error(capsys)
