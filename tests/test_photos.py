"""Photo textures: tile sampling, planar projection, the photo material kind, the committed tile
library and its licences, deterministic material draws, cutting tiles from a picture, bad folders."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from scenes.photo_fetch import SOURCES, PhotoSource, tile_boxes, tile_source
from scenes.photo_manifest import ASSETS_DIR, MANIFEST_NAME, PERMISSIVE_LICENCES, ROLES, TileRecord, to_linear, write_manifest
from scenes.photos import ENV_VAR, PhotoTexture, library_by_identity, load_library, main, mirrored, sample_bilinear
from scenes.textures import (
    PHOTO_PROBABILITY,
    ROLE_KINDS,
    TEXTURE_WORDS,
    Material,
    albedo,
    photo_material,
    photo_transform,
    planar_coordinates,
    random_material,
)

RED, BLUE = (255, 0, 0), (0, 0, 255)


def two_colour_tile(side: int = 8) -> np.ndarray:
    """Left half red, right half blue."""
    tile = np.zeros((side, side, 3), dtype=np.uint8)
    tile[:, : side // 2] = RED
    tile[:, side // 2 :] = BLUE
    return tile


def make_library(folder: Path, tiles: dict[str, tuple[np.ndarray, tuple[str, ...], str]], grey: bool = False) -> Path:
    """A library of PNG tiles: name -> (pixels, roles, word)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for name, (pixels, roles, word) in tiles.items():
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        mean = tuple(float(c) for c in to_linear(pixels).reshape(-1, 3).mean(axis=0))
        records.append(TileRecord(name, f"{name}.png", "test", "1", f"{name}.png", "CC0-1.0", "nobody", word, roles, mean,
                                  grey, 0.5, pixels.shape[0], hashlib.sha256((folder / f"{name}.png").read_bytes()).hexdigest()))
    write_manifest(folder, records, "test library")
    return folder


# ---------------------------------------------------------------- sampling

def test_a_constant_tile_samples_to_its_colour_everywhere():
    tile = np.full((16, 16, 3), (200, 120, 40), dtype=np.uint8)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(-5, 5, 500), rng.uniform(-5, 5, 500)
    expected = to_linear(np.array([200, 120, 40], dtype=np.uint8))
    np.testing.assert_allclose(sample_bilinear(tile, u, v), np.tile(expected, (500, 1)), atol=1e-6)


def test_two_colour_tile_gives_known_colours_and_mirrors_at_the_edges():
    tile = two_colour_tile(4)  # texel centres at u = 0.125, 0.375 (red), 0.625, 0.875 (blue)
    u = np.array([0.125, 0.375, 0.625, 0.875, 0.5, 1.0, 1.125, 1.875, 2.125, -0.125, 0.0])
    colours = sample_bilinear(tile, u, np.full(len(u), 0.3))
    red, blue, half = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]
    expected = [red, red, blue, blue, half,  # inside one tile; halfway between texels 1 and 2
                blue, blue, red,  # the mirrored copy runs 1..2 backwards: blue edge meets blue edge, no seam
                red, red, red]  # period 2; u < 0 mirrors onto u > 0; the red edge at 0 meets red
    np.testing.assert_allclose(colours, expected, atol=1e-6)
    np.testing.assert_allclose(mirrored(np.array([0.25, 1.25, 2.25, -0.25])), [0.25, 0.75, 0.25, 0.25])


def test_mip_levels_average_in_linear_light_and_small_scales_pick_coarse_levels():
    tile = np.zeros((8, 8, 3), dtype=np.uint8)
    tile[::2, ::2] = 255
    tile[1::2, 1::2] = 255  # a one-texel checkerboard: half the texels white
    texture = PhotoTexture(tile)
    assert [level.shape[0] for level in texture.levels] == [8, 4]
    np.testing.assert_allclose(to_linear(texture.levels[1]), 0.5, atol=0.01)  # not 0.5 in display values (0.22)
    assert texture.level_for(8 * 0.005) == 0  # texels exactly the target size
    assert texture.level_for(2 * 0.005) == 1  # finer texels than a pixel sees: the coarser level


# ---------------------------------------------------------------- projection and the photo kind

def test_planar_projection_drops_the_dominant_normal_axis():
    points = np.tile([1.0, 2.0, 3.0], (7, 1))
    normals = np.array([[0.9, 0.3, 0.1], [-1, 0, 0], [0.2, 0.95, 0], [0, -1, 0.3], [0.1, 0.2, 0.97], [0, 0, -1], [0.6, -0.7, 0]])
    s, t, axis = planar_coordinates(points, normals)
    assert axis.tolist() == [0, 0, 1, 1, 2, 2, 1]
    # Walls: s to the right of a viewer facing the face, t = z; floors and ceilings: (x, y).
    np.testing.assert_allclose(s, [2.0, -2.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(t, [3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 3.0])


@pytest.fixture()
def red_blue(tmp_path):
    return load_library(make_library(tmp_path / "lib", {"halves": (two_colour_tile(8), ("wall", "floor"), "halved")}))


def test_photo_material_shows_the_tile_at_known_world_points(red_blue):
    scale = 0.8
    material = photo_material(red_blue, "halves", scale=scale, seed=12345)
    _, offset_u, offset_v = photo_transform(material)
    # A wall facing +x: u = y / scale + offset_u, v = -z / scale + offset_v.
    y_red, y_blue = (0.25 - offset_u) * scale, (0.75 - offset_u) * scale
    z = -(0.4 - offset_v) * scale
    points = np.array([[0.0, y_red, z], [0.0, y_blue, z], [0.0, y_red + 2 * scale, z + 7 * scale]])
    colours = albedo(material, points, np.tile([1.0, 0.0, 0.0], (3, 1)))
    np.testing.assert_allclose(colours, [[1, 0, 0], [0, 0, 1], [1, 0, 0]], atol=1e-6)
    # A floor: the tile turned by the material's angle.
    angle, offset_u, offset_v = photo_transform(material)
    along, up = (0.75 - offset_u) * scale, -(0.4 - offset_v) * scale
    x, y = along * np.cos(angle) - up * np.sin(angle), along * np.sin(angle) + up * np.cos(angle)
    np.testing.assert_allclose(albedo(material, np.array([[x, y, 0.0]]), np.array([[0.0, 0.0, 1.0]])), [[0, 0, 1]], atol=1e-6)


def test_photo_material_colour_tint_and_word(red_blue):
    material = photo_material(red_blue, "halves", scale=0.5, seed=1, tint=(0.5, 1.0, 1.0))
    np.testing.assert_allclose(material.color_a, (0.25, 0.0, 0.5), atol=1e-6)  # tint x mean of half red, half blue
    colours = albedo(material, np.random.default_rng(0).uniform(-3, 3, (200, 3)), np.tile([0.0, 1.0, 0.0], (200, 1)))
    assert colours[:, 0].max() <= 0.5 + 1e-6 and colours[:, 2].max() > 0.99
    assert material.texture_word == "halved"
    assert Material("wood").texture_word == TEXTURE_WORDS["wood"] == "wooden"
    assert hash(material) == hash(photo_material(red_blue, "halves", scale=0.5, seed=1, tint=(0.5, 1.0, 1.0)))


def test_photo_material_fields_are_validated():
    with pytest.raises(ValueError, match="tile name"):
        Material("photo")
    with pytest.raises(ValueError, match="only a photo material"):
        Material("plain", photo="x", library="y")
    with pytest.raises(ValueError, match="tint"):
        Material("photo", photo="x", library="y", tint=(1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="not loaded"):
        library_by_identity("0000000000000000")


# ---------------------------------------------------------------- choosing materials

def test_roles_agree_between_the_format_and_the_material_draws():
    assert set(ROLE_KINDS) == set(ROLES) == set(PHOTO_PROBABILITY)


def test_random_material_is_deterministic_and_picks_tiles_for_the_role():
    library = load_library(ASSETS_DIR)
    for role in ROLE_KINDS:
        first = [random_material(np.random.default_rng(seed), role, library) for seed in range(30)]
        again = [random_material(np.random.default_rng(seed), role, library) for seed in range(30)]
        assert first == again
        photos = [m for m in first if m.kind == "photo"]
        assert all(role in library.record(m.photo).roles for m in photos)
        if not library.names(role):
            assert not photos
    with pytest.raises(ValueError, match="unknown surface role"):
        random_material(np.random.default_rng(0), "moon", library)


def test_photo_share_follows_the_role_probability(red_blue):
    rng = np.random.default_rng(7)
    draws = [random_material(rng, "floor", red_blue).kind == "photo" for _ in range(600)]
    assert abs(np.mean(draws) - PHOTO_PROBABILITY["floor"]) < 0.07  # about 3.5 binomial standard deviations
    assert not any(random_material(rng, "road", red_blue).kind == "photo" for _ in range(100))  # no road tiles


def test_greyscale_tiles_are_coloured_by_their_tint(tmp_path):
    grey = np.full((8, 8, 3), 128, dtype=np.uint8)
    library = load_library(make_library(tmp_path / "grey", {"stones": (grey, ("ground",), "brick")}, grey=True))
    rng = np.random.default_rng(3)
    materials = [m for m in (random_material(rng, "ground", library) for _ in range(60)) if m.kind == "photo"]
    reds = [m.color_a[0] / max(m.color_a[2], 1e-6) for m in materials]
    assert materials and min(reds) > 1.2  # brick tints are red-brown, not the tile's grey


# ---------------------------------------------------------------- the committed tiles

def test_committed_tiles_are_small_permissive_and_listed():
    manifest = json.loads((ASSETS_DIR / MANIFEST_NAME).read_text())
    tiles = manifest["tiles"]
    assert 12 <= len(tiles) <= 24
    readme = (ASSETS_DIR / "README.md").read_text()
    total = 0
    for tile in tiles:
        assert tile["licence"] in PERMISSIVE_LICENCES, tile["name"]
        path = ASSETS_DIR / tile["file"]
        assert path.suffix == ".jpg" and tile["size"] <= 128
        assert hashlib.sha256(path.read_bytes()).hexdigest() == tile["sha256"]
        assert tile["file"] in readme
        total += path.stat().st_size
    assert total < 2_000_000
    # Every committed tile comes from a curated source marked permissive.
    permissive_paths = {s.path for s in SOURCES if s.permissive}
    assert {tile["path"] for tile in tiles} <= permissive_paths


def test_library_is_loaded_once_and_known_by_its_manifest_hash():
    library = load_library(ASSETS_DIR)
    assert load_library(ASSETS_DIR) is library
    assert library.identity == hashlib.sha256((ASSETS_DIR / MANIFEST_NAME).read_bytes()).hexdigest()[:16]
    assert library_by_identity(library.identity) is library


# ---------------------------------------------------------------- cutting tiles

def test_tile_boxes_centre_a_grid_in_the_region_and_spread_a_capped_subset():
    assert tile_boxes(1000, 500, ((0.0, 0.0, 1.0, 1.0),), 300, 10) == [(50, 100, 300), (350, 100, 300), (650, 100, 300)]
    assert tile_boxes(1000, 500, ((0.5, 0.0, 1.0, 0.5),), 0, 10) == [(625, 0, 250)]  # one centred square per region
    boxes = tile_boxes(1000, 1000, ((0.0, 0.0, 1.0, 1.0),), 100, 4)
    assert [b[:2] for b in boxes] == [(0, 0), (300, 300), (600, 600), (900, 900)]  # 100 tiles -> 4, spread
    with pytest.raises(ValueError, match="unit square"):
        tile_boxes(100, 100, ((0.5, 0.0, 0.4, 1.0),), 0, 1)


def test_tile_source_cuts_a_picture_into_known_tiles(tmp_path):
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 200, 0), (0, 200, 200), (90, 90, 90)]
    picture = np.zeros((400, 600, 3), dtype=np.uint8)
    for index, colour in enumerate(colours):  # 2 rows x 3 columns of 200-pixel blocks
        row, col = divmod(index, 3)
        picture[row * 200 : (row + 1) * 200, col * 200 : (col + 1) * 200] = colour
    source_file = tmp_path / "blocks.png"
    cv2.imwrite(str(source_file), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    out = tmp_path / "tiles"
    out.mkdir()
    source = PhotoSource("blocks", "test", "blocks.png", "CC0-1.0", "nobody", "blocky", ("object",), 0.2, tile_px=200)
    records = tile_source(source_file, source, "1.0", out, tile_size=64, quality=0)
    assert [r.name for r in records] == [f"blocks_{i:02d}" for i in range(6)]
    for record, colour in zip(records, colours):
        tile = cv2.cvtColor(cv2.imread(str(out / record.file)), cv2.COLOR_BGR2RGB)
        assert tile.shape == (64, 64, 3)
        assert np.abs(tile.astype(int) - colour).max() <= 1
        np.testing.assert_allclose(record.mean_linear, to_linear(np.array(colour, dtype=np.uint8)), atol=0.01)
        assert record.version == "1.0" and not record.grey and record.size == 64
    write_manifest(out, records, "blocks")
    library = load_library(out)
    assert library.names("object") == tuple(r.name for r in records)
    np.testing.assert_allclose(library.texture("blocks_02").sample(np.array([0.3]), np.array([0.6]), 0.32)[0],
                               to_linear(np.array(colours[2], dtype=np.uint8)), atol=0.01)


# ---------------------------------------------------------------- bad folders and the command line

def test_bad_folders_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_library(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="scenes.photos fetch"):
        load_library(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / MANIFEST_NAME).write_text('{"format": 1, "tiles": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="not a photo-library manifest"):
        load_library(tmp_path / "broken")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        load_library()


def test_command_line_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["fetch", "--out", str(tmp_path / "x"), "--packages", "no-such-package"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: unknown package") and "Traceback" not in error
    assert main(["info", str(tmp_path / "nowhere")]) == 2
    assert main(["info", str(ASSETS_DIR)]) == 0
    assert load_library(ASSETS_DIR).identity in capsys.readouterr().out


def test_fetching_over_a_library_says_that_it_replaced_it(tmp_path, capsys):
    pytest.importorskip("skimage", reason="the scikit-image photos are read from the installed package (requirements-dev)")
    out = str(tmp_path / "library")
    assert main(["fetch", "--out", out, "--packages", "scikit-image", "--tile-size", "96"]) == 0
    assert "replaced" not in capsys.readouterr().out  # a new folder: nothing replaced
    assert main(["fetch", "--out", out, "--packages", "scikit-image", "--tile-size", "128"]) == 0
    assert "note: replaced the library that was there" in capsys.readouterr().out
