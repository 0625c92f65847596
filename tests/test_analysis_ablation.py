"""Mirror ablation study on the bundled model: every source, differences, metrics, the CLI."""
from pathlib import Path

import numpy as np
import pytest

from analysis.ablation import ABLATION_SOURCES, ZEROSHOT, colorize_difference, main, run_ablation

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "examples" / "scenes"


@pytest.fixture(scope="module")
def predictor():
    from mirror_model.predict import load_predictor

    return load_predictor("synthetic-tiny")


@pytest.fixture(scope="module")
def pictures():
    from common.scene_folder import read_rgbd_folder

    rows = read_rgbd_folder(SCENES)[:2]
    return [row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows]


def test_every_source_is_its_own_prediction_and_differences_are_to_the_learned_mirror(predictor, pictures):
    names, images, gts = pictures
    result = run_ablation(predictor, images, gts, names)
    assert list(result.depths) == [*ABLATION_SOURCES, ZEROSHOT]
    for maps in result.depths.values():
        assert [m.shape for m in maps] == [img.shape[:2] for img in images]
    # Each variant is what the predictor gives for that source on its own, and each difference is
    # measured against the learned mirror's own prediction.
    learned = predictor.predict(images)
    for source in ABLATION_SOURCES:
        alone = predictor.predict(images, source=source)
        for got, want in zip(result.depths[source], alone):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        expected = np.mean([np.abs(a - b).mean() for a, b in zip(alone, learned)])
        assert result.mean_abs_difference[source] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert all(result.mean_abs_difference[name] > 0.01 for name in ABLATION_SOURCES[1:])
    firsts = [result.depths[name][0] for name in result.depths]
    assert all(not np.allclose(a, b) for i, a in enumerate(firsts) for b in firsts[i + 1:])
    assert set(result.metrics) == set(result.depths) and all("abs_rel" in m for m in result.metrics.values())
    np.testing.assert_allclose(predictor.predict(images[0]), learned[0], atol=1e-4)  # the predictor was not changed
    table = result.table()
    assert "zeros" in table and "abs_rel" in table


def test_without_ground_truth_there_are_no_metrics_and_a_zero_shot_model_is_refused(predictor, pictures):
    _, images, _ = pictures
    result = run_ablation(predictor, images[:1], None, sources=("zeros",), zeroshot=False)
    assert result.metrics == {} and list(result.depths) == ["zeros"]
    from mirror_model.predict import load_predictor

    with pytest.raises(ValueError, match="needs a mirror model"):
        run_ablation(load_predictor("depthclip-tiny"), images[:1])
    with pytest.raises(ValueError, match="unknown mirror sources"):
        run_ablation(predictor, images[:1], sources=("nonsense",))


def test_difference_colours_are_symmetric():
    diff = np.array([[-1.0, 0.0, 1.0]])
    rgb = colorize_difference(diff, limit=1.0)
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, 0, 2] > rgb[0, 0, 0] and rgb[0, 2, 0] > rgb[0, 2, 2]  # blue nearer, red farther


def test_cli_writes_table_metrics_grid_and_maps(tmp_path, capsys):
    assert main(["--input", str(SCENES), "--out", str(tmp_path), "--limit", "2", "--sources", "learned,zeros"]) == 0
    for name in ("table.md", "metrics.json", "ablation_grid.png", "depth_zeros.npy"):
        assert (tmp_path / name).is_file(), name
    assert np.load(tmp_path / "depth_zeros.npy").shape == (2, 240, 320)
    assert main(["--input", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def _result(metrics=None, differences_m=(0.5, 0.1), median_m=2.0):
    from analysis.ablation import AblationResult

    depths = {"learned": [np.full((4, 4), median_m)], "zeros": [np.zeros((4, 4))], "prompt": [np.zeros((4, 4))]}
    result = AblationResult(["p"], depths, {}, metrics or {}, {"zeros": differences_m[0], "prompt": differences_m[1]},
                            reference_median_m=median_m)
    return result


def test_the_conclusion_names_the_winner_and_the_ratio_from_the_metrics():
    won = _result({"learned": {"abs_rel": 0.10}, "zeros": {"abs_rel": 0.30}, "prompt": {"abs_rel": 0.25}})
    text = won.conclusion({"prompt": "human prompt"})
    assert "most accurate" in text and "human prompt" in text and "2.50x" in text and "0.100" in text
    assert "one picture's evidence" in text
    tie = _result({"learned": {"abs_rel": 0.303}, "zeros": {"abs_rel": 0.40}, "prompt": {"abs_rel": 0.306}})
    assert "about equally accurate" in tie.conclusion() and "most accurate depth" not in tie.conclusion()
    lost = _result({"learned": {"abs_rel": 0.30}, "zeros": {"abs_rel": 0.20}, "prompt": {"abs_rel": 0.25}})
    text = lost.conclusion()
    assert "*not* the most accurate" in text and "zeros" in text and "0.200" in text


def test_without_ground_truth_the_conclusion_reports_the_largest_change_relative_to_the_median():
    text = _result(differences_m=(0.5, 0.1), median_m=2.0).conclusion()
    assert "0.50 m" in text and "zeros" in text and "25%" in text and "not which answer is right" in text


def test_without_the_learned_mirror_among_the_sources_there_is_no_conclusion():
    from analysis.ablation import AblationResult

    depths = {"zeros": [np.zeros((4, 4))], "prompt": [np.zeros((4, 4))]}
    metrics = {"zeros": {"abs_rel": 0.2}, "prompt": {"abs_rel": 0.3}}
    assert AblationResult(["p"], depths, {}, metrics, {"zeros": 0.1, "prompt": 0.2}).conclusion() == ""
