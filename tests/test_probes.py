"""The distance probes give the known answers on a constructed CLIP-like model whose patch features
encode depth (Spearman ~ +1, word accuracy 1, retrieval 1) and ~0 / chance on one that knows nothing."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mirror_model.probes import caption_retrieval, far_close_spearman, main, region_word_accuracy, spearman
from mirror_model.world_data import WORDS, Region, WorldData, box_weights, patch_depths, word_index
from scenes.captions import DISTANCE_WORDS

STRIDE = 16
METRES_PER_LEVEL = 10.0 / 250  # the red channel codes depth: level = metres / 0.04
WORD_ANGLES = np.radians(np.arange(len(WORDS)) * 22.5)  # nearest word first, along a quarter circle
BOUNDS = [0.0] + [limit for limit, _ in DISTANCE_WORDS[:-1]] + [10.0]  # word k covers [BOUNDS[k], BOUNDS[k+1])


def _angle(metres: np.ndarray) -> np.ndarray:
    """Monotone in depth, and inside word k's half-gap of its angle exactly on word k's metres."""
    k = np.clip(np.searchsorted(BOUNDS, metres, side="right") - 1, 0, len(WORDS) - 1)
    lo, hi = np.take(BOUNDS, k), np.take(BOUNDS, k + 1)
    return WORD_ANGLES[k] + (np.clip((metres - lo) / (hi - lo), 0, 1) - 0.5) * np.radians(22.0)


class DepthCodedModel:
    """A CLIP-like model built so that its patches know distance: the red channel holds depth, a
    patch's feature lies on the arc spanned by the distance words' text embeddings at its depth's
    angle, and the green channel is the image's caption number (for retrieval). With
    knows_depth=False every feature is noise that has nothing to do with the image."""

    stride = STRIDE

    def __init__(self, knows_depth: bool = True, dim: int = 16):
        self.knows_depth, self.dim = knows_depth, dim
        generator = torch.Generator().manual_seed(0)
        self.caption_codes = F.normalize(torch.randn(256, dim, generator=generator), dim=-1)
        self.noise = torch.Generator().manual_seed(1)

    def _on_arc(self, angles: np.ndarray) -> torch.Tensor:
        vectors = torch.zeros(*angles.shape, self.dim)
        vectors[..., 0], vectors[..., 1] = torch.as_tensor(np.cos(angles)), torch.as_tensor(np.sin(angles))
        return vectors

    def dense(self, images: np.ndarray) -> torch.Tensor:
        batch, height, width, _ = images.shape
        grid = (height // STRIDE, width // STRIDE)
        if not self.knows_depth:
            return torch.randn(batch, self.dim, *grid, generator=self.noise)
        red = images[:, : grid[0] * STRIDE, : grid[1] * STRIDE, 0].astype(np.float64)
        metres = red.reshape(batch, grid[0], STRIDE, grid[1], STRIDE).mean(axis=(2, 4)) * METRES_PER_LEVEL
        return self._on_arc(_angle(metres)).permute(0, 3, 1, 2)

    def encode_image(self, images: np.ndarray) -> torch.Tensor:
        if not self.knows_depth:
            return torch.randn(len(images), self.dim, generator=self.noise)
        return self.caption_codes[torch.from_numpy(images[:, 0, 0, 1].astype(np.int64))]

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            if text.startswith("caption "):
                rows.append(self.caption_codes[int(text.split()[1])])
                continue
            word = max((w for w in WORDS if text.endswith(w)), key=len)  # "extremely close" before "close"
            rows.append(self._on_arc(np.array(WORD_ANGLES[WORDS.index(word)])))
        return torch.stack(rows)


def _world(count: int = 40, size: tuple[int, int] = (64, 96), seed: int = 0) -> tuple[WorldData, np.ndarray]:
    """Images whose patches each have one depth (0.3-9.5 m) coded in red, one 32x32 region per
    image at one depth, and the caption number in green."""
    rng = np.random.default_rng(seed)
    grid = (size[0] // STRIDE, size[1] // STRIDE)
    depth = np.repeat(np.repeat(rng.uniform(0.3, 9.5, (count, *grid)), STRIDE, axis=1), STRIDE, axis=2)
    regions = []
    for index in range(count):
        top, left = int(rng.integers(0, grid[0] - 1)) * STRIDE, int(rng.integers(0, grid[1] - 1)) * STRIDE
        metres = float(np.round(rng.uniform(0.3, 9.5) / METRES_PER_LEVEL) * METRES_PER_LEVEL)
        depth[index, top : top + 32, left : left + 32] = metres
        regions.append([Region((top, left, top + 32, left + 32), metres, f"this thing is {metres:.1f} m away")])
    depth = np.round(depth / METRES_PER_LEVEL) * METRES_PER_LEVEL  # what the red channel can hold
    images = np.zeros((count, *size, 3), np.uint8)
    images[..., 0] = np.round(depth / METRES_PER_LEVEL).astype(np.uint8)
    images[..., 1] = np.arange(count, dtype=np.uint8)[:, None, None]
    return WorldData(images, [f"caption {i}" for i in range(count)], regions, depth.astype(np.float16), "constructed"), depth


def test_patch_and_box_helpers_have_known_answers():
    depth = np.zeros((1, 32, 48), np.float32)
    depth[0, :16, :16] = np.arange(256).reshape(16, 16) / 10 + 0.1  # median 12.85
    depth[0, 16:, 16:32] = 3.0
    medians = patch_depths(depth, 16)
    assert medians.shape == (1, 2, 3)
    assert medians[0, 0, 0] == pytest.approx(12.85, abs=1e-4) and medians[0, 1, 1] == 3.0
    assert np.isnan(medians[0, 0, 1]) and np.isnan(medians[0, 1, 2])  # no valid depth in the patch
    weights = box_weights(np.array([[8, 0, 32, 24]]), (2, 3), 16)[0]
    np.testing.assert_allclose(weights, [[0.5, 0.25, 0], [1.0, 0.5, 0]])
    assert [word_index(m) for m in (0.5, 1.5, 2.5, 4.0, 7.0)] == [0, 1, 2, 3, 4]
    assert spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_probes_give_the_known_answers_on_a_model_whose_patches_encode_depth():
    data, depth = _world()
    model = DepthCodedModel()
    patches = far_close_spearman(model, data.images, depth)
    assert patches["spearman"] > 0.99 and patches["per_image_mean"] > 0.98
    assert patches["patches"] == 40 * 4 * 6
    words = region_word_accuracy(model, data)
    assert words["accuracy"] == 1.0 and words["regions"] == 40
    assert words["majority_rate"] == max(words["word_counts"].values()) / 40 < 1.0
    retrieval = caption_retrieval(model, data.images, data.captions, pool=20)
    assert retrieval["top1"] == 1.0 and retrieval["pools"] == 2 and retrieval["chance_top1"] == 0.05


def test_probes_find_nothing_in_a_model_that_knows_nothing():
    data, depth = _world(count=120, seed=1)
    blind = DepthCodedModel(knows_depth=False)
    patches = far_close_spearman(blind, data.images, depth)
    assert abs(patches["spearman"]) < 4 / math.sqrt(patches["patches"])  # within 4 standard errors of 0
    words = region_word_accuracy(blind, data)
    assert words["accuracy"] < words["majority_rate"] + 0.1
    retrieval = caption_retrieval(blind, data.images, data.captions, pool=20)
    assert retrieval["top1"] < 0.2


def test_probes_cli_on_a_real_clip_beside_its_random_init(tmp_path, capsys):
    from scenes.captioned import write_captioned

    folder = write_captioned(tmp_path / "world", rooms=3, views=1, size=(128, 160), seed=5, progress=False)
    scenes = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    out = tmp_path / "probes.json"
    assert main(["--clip", "tiny-vit", "--data", str(folder), "--depth-data", str(scenes), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"tiny-vit", "random init"}
    for result in report["results"].values():
        assert -1 <= result["patch_far_close"]["spearman"] <= 1 and result["patch_far_close"]["images"] == 4
        assert result["region_words"]["regions"] > 0 and 0 <= result["region_words"]["accuracy"] <= 1
        assert result["retrieval"]["pool"] == 6  # 3 rooms x 1 view x (view + region)
    assert "region distance-word accuracy" in capsys.readouterr().out
    assert main(["--clip", "tiny-vit", "--data", str(tmp_path / "missing")]) == 2
    assert "images.npy" in capsys.readouterr().err


def test_depthclip_against_the_constant_on_a_scene_folder():
    from pathlib import Path

    from mirror_model.probes import depthclip_against_constant

    scenes = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    rows = depthclip_against_constant("world-vit-256/procedural-world", scenes)
    assert len(rows) == 3 and "DepthCLIP on world-vit-256/procedural-world" in rows and "DepthCLIP on random init" in rows
    constant = rows["oracle constant (each image's true median)"]
    # The constant sits at each image's true median already: median scaling changes nothing.
    assert constant["abs_rel"] == pytest.approx(constant["abs_rel_median_scaled"])
    for row in rows.values():
        assert 0 < row["abs_rel"] < 2 and 0 <= row["d1"] <= 1


def test_settings_and_outputs_that_cannot_work_are_refused_before_any_probe(tmp_path, capsys):
    scenes = Path(__file__).resolve().parents[1] / "examples" / "scenes"
    (tmp_path / "taken").write_text("a file")
    for arguments, expected in ((["--depth-data", str(scenes), "--out", str(tmp_path)], "is a folder; give a file name"),
                                (["--depth-data", str(scenes), "--out", str(tmp_path / "taken" / "p.json")], "a file stands"),
                                (["--data", str(tmp_path), "--depthclip"], "--depthclip needs --depth-data")):
        assert main(["--clip", "tiny-vit", *arguments]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith("error: ") and expected in captured.err and str(tmp_path) not in captured.err
        assert "probing" not in captured.err  # refused before the first CLIP was probed
    for bad in ("0", "-3"):
        with pytest.raises(SystemExit):
            main(["--clip", "tiny-vit", "--depth-data", str(scenes), "--depth-limit", bad])
        assert "--depth-limit: the value must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "(default 400)" not in capsys.readouterr().out


def test_an_unknown_tag_lists_the_tags_there_are():
    from mirror_model import clip_backbone

    with pytest.raises(ValueError, match="known tags: procedural-world"):
        clip_backbone.load_clip("world-vit-256", "x")
    with pytest.raises(ValueError, match="no pretrained weights"):
        clip_backbone.load_clip("tiny-vit", "x")
