"""`python -m analysis.attention_stats` on the bundled eembed checkpoint: the files it writes, their
shapes (layers x heads) and ranges, and its answers to bad arguments."""
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.attention_stats import main

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "eembed-debtags"
TEXTS = ["vim editor", "GNU Emacs text editor with syntax highlighting"]


@pytest.fixture(scope="module")
def model_shape() -> tuple[int, int]:
    """(layers, heads) of the bundled model, from its card: one head per byte of a material (v)."""
    config = json.loads((CHECKPOINT / "card.json").read_text())["config"]
    return config["layers"], config["v"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attention") / "stats"
    argv = ["--out", str(out)]
    for text in TEXTS:
        argv += ["--text", text]
    assert main(argv) == 0
    return out


def test_writes_the_statistics_json_and_the_figure(run):
    assert {p.name for p in run.iterdir()} == {"attention_stats.json", "attention_stats.png", "attention_stats.pdf"}
    image = cv2.imread(str(run / "attention_stats.png"))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
    assert (run / "attention_stats.pdf").read_bytes().startswith(b"%PDF")


def test_statistics_have_one_value_per_layer_and_head(run, model_shape):
    stats = json.loads((run / "attention_stats.json").read_text())
    layers, heads = model_shape
    assert (stats["texts"], stats["layers"], stats["heads"]) == (2, layers, heads)
    for key in ("entropy", "same_byte_share", "same_byte_share_uniform", "same_byte_ratio"):
        assert np.asarray(stats[key], dtype=float).shape == (layers, heads), key
    bins = stats["distance_bins"]
    assert bins[0] == "0" and bins[-1].startswith(">=")
    assert np.asarray(stats["distance_profile"]).shape == (layers, heads, len(bins))


def test_shares_lie_in_0_1_and_each_distance_profile_sums_to_one(run):
    stats = json.loads((run / "attention_stats.json").read_text())
    # Attention mass shares: each query's attention sums to 1, so its split over distances does too.
    profile = np.asarray(stats["distance_profile"], dtype=float)
    assert np.all((profile >= 0) & (profile <= 1))
    np.testing.assert_allclose(profile.sum(-1), 1.0, atol=1e-6)
    for key in ("same_byte_share", "same_byte_share_uniform"):
        share = np.asarray(stats[key], dtype=float)
        measured = share[np.isfinite(share)]  # nan: no two materials share that byte position's value
        assert measured.size > 0, key
        assert np.all((measured >= 0) & (measured <= 1)), key
    # Entropy of a distribution over at most 9 keys (the longer text: 7 words + [CLS] and [SEP]).
    entropy = np.asarray(stats["entropy"], dtype=float)
    assert np.all((entropy >= 0) & (entropy <= math.log(9) + 1e-9))
    ratio = np.asarray(stats["same_byte_ratio"], dtype=float)
    uniform = np.asarray(stats["same_byte_share_uniform"], dtype=float)
    same = np.asarray(stats["same_byte_share"], dtype=float)
    finite = np.isfinite(ratio)
    np.testing.assert_allclose(ratio[finite], same[finite] / uniform[finite], rtol=1e-9)


def test_bad_arguments_exit_2_with_an_error_line(tmp_path, capsys):
    no_source = subprocess.run([sys.executable, "-m", "analysis.attention_stats", "--out", str(tmp_path / "o")],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert no_source.returncode == 2 and "Traceback" not in no_source.stderr
    assert any(": error: one of the arguments --data --text is required" in line
               for line in no_source.stderr.splitlines())
    assert main(["--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.jsonl not found" in err
    assert not (tmp_path / "o").exists()


def test_only_blank_texts_give_a_readable_error(tmp_path, capsys):
    assert main(["--text", "   ", "--out", str(tmp_path / "o")]) == 2
    assert "no texts to analyse" in capsys.readouterr().err


def test_help_names_the_command_that_runs():
    done = subprocess.run([sys.executable, "-m", "analysis.attention_stats", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m analysis.attention_stats ")
