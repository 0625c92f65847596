"""The world's object sizes follow the catalogue's stated real-world distributions (scenes.catalog):
drawn sizes stay in range and match the distribution's shape, and the meshes are as big as drawn."""
from __future__ import annotations

import numpy as np
import pytest

from scenes import catalog
from scenes.room import build_room

# Kinds whose mesh reaches exactly the drawn height (a bed's headboard and a plant's leaves do not).
EXACT_HEIGHT = ("table", "chair", "desk", "shelf", "cabinet", "sofa", "wardrobe", "door", "lamp", "crate")


@pytest.fixture(scope="module")
def room_objects():
    objects = []
    for seed in range(60):
        objects += [obj for obj in build_room(np.random.default_rng(seed)).objects if obj.size is not None]
    return objects


def _ks_uniform(values: np.ndarray, low: float, high: float) -> float:
    """Kolmogorov-Smirnov distance between the sample and uniform(low, high)."""
    values = np.sort((values - low) / (high - low))
    n = len(values)
    return float(max(np.max(np.arange(1, n + 1) / n - values), np.max(values - np.arange(n) / n)))


def test_every_drawn_size_is_inside_its_kinds_stated_range(room_objects):
    by_word = {entry.word: entry for entry in catalog.KINDS.values()}
    seen = set()
    for obj in room_objects:
        entry = by_word.get(obj.name) or by_word.get(obj.name.replace("exercise ", ""))
        assert entry is not None, f"{obj.name} has a size but no catalogue entry"
        seen.add(entry.word)
        width, depth, height = obj.size
        if obj.name == "wardrobe":  # capped below the ceiling
            assert height <= entry.height.high + 1e-9
        elif obj.name == "crate":  # stacked crates are no wider than the one below
            assert entry.height.low - 1e-9 <= height <= entry.height.high + 1e-9
            continue
        elif obj.name == "plant":  # its leaves end near, not at, the drawn height
            continue
        else:
            assert entry.height.low - 1e-9 <= height <= entry.height.high + 1e-9, obj.name
        assert entry.width.low - 1e-9 <= width <= entry.width.high + 1e-9, obj.name
        assert entry.depth.low - 1e-9 <= depth <= entry.depth.high + 1e-9, obj.name
    assert {"door", "table", "chair", "bed", "sofa", "shelf", "cabinet", "wardrobe", "desk"} <= seen


def test_meshes_are_as_tall_as_their_drawn_size(room_objects):
    checked = 0
    for obj in room_objects:
        if obj.name in EXACT_HEIGHT:
            z = obj.mesh.vertices[:, 2]
            assert z.max() - z.min() == pytest.approx(obj.size[2], abs=1e-6), obj.name
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("kind", ["door", "table", "chair"])
def test_heights_follow_the_stated_uniform_distribution(room_objects, kind):
    entry = catalog.kind(kind)
    heights = np.array([obj.size[2] for obj in room_objects if obj.name == kind])
    assert len(heights) >= 30
    # KS critical distance at alpha = 0.001 is about 1.95 / sqrt(n); a wrong range or a constant fails.
    assert _ks_uniform(heights, entry.height.low, entry.height.high) < 1.95 / np.sqrt(len(heights))


def test_a_normal_dimension_keeps_its_mean_and_spread_inside_its_bounds():
    stature = catalog.kind("person").height
    rng = np.random.default_rng(0)
    values = np.array([stature.draw(rng) for _ in range(4000)])
    assert values.min() >= stature.low and values.max() <= stature.high
    assert values.mean() == pytest.approx(stature.mean, abs=0.01)
    assert values.std() == pytest.approx(stature.sd, rel=0.1)  # truncation at about ±2.3 sd trims a little


def test_rooms_use_the_catalogue_floor_plans_and_ceilings():
    dims = np.array([build_room(np.random.default_rng(seed)).room[3:] for seed in range(40)])
    for column, dim in zip(dims.T, (catalog.ROOM_WIDTH, catalog.ROOM_LENGTH, catalog.ROOM_HEIGHT)):
        assert dim.low <= column.min() and column.max() <= dim.high


def test_unknown_kinds_and_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="unknown object kind 'dragon'"):
        catalog.draw_size(np.random.default_rng(0), "dragon")
    with pytest.raises(ValueError):
        catalog.Dim(2.0, 1.0)
    with pytest.raises(ValueError):
        catalog.Dim(1.0, 2.0, mean=1.5)


def test_light_colour_is_warm_for_lamps_cool_for_sky_and_white_balance_keeps_part_of_the_cast():
    from scenes.light_colour import light_colour

    warm, noon, sky = light_colour(2700), light_colour(6500), light_colour(12000)
    assert warm[0] == 1.0 and warm[2] < 0.2  # incandescent: red-orange
    assert min(noon) > 0.9  # about white
    assert sky[2] == 1.0 and sky[0] < 0.6  # clear blue sky
    balanced = light_colour(2700, cast=0.4)
    assert balanced[2] == pytest.approx(1 - 0.4 * (1 - warm[2]))
    assert light_colour(3000, cast=0.0) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="colour temperature"):
        light_colour(500)
