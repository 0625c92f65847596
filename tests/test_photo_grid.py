"""analysis.photo_grid: the before/after grid of real photos and their depth."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from analysis import photo_grid


def test_model_labels_parse_and_empty_ones_are_refused():
    assert photo_grid.parse_model("before=checkpoints/x") == ("before", "checkpoints/x")
    assert photo_grid.parse_model("synthetic-tiny") == ("synthetic-tiny", "synthetic-tiny")
    with pytest.raises(ValueError, match="LABEL=MODEL"):
        photo_grid.parse_model("before=")


def test_shrink_keeps_the_aspect_ratio_and_never_enlarges():
    tall = np.zeros((2048, 1024, 3), np.uint8)
    assert photo_grid.shrink(tall).shape == (512, 256, 3)
    small = np.zeros((100, 60, 3), np.uint8)
    assert photo_grid.shrink(small) is small


def test_grid_has_one_row_per_photo_and_one_column_per_model(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (90, 160)), ("b.jpg", (120, 120))):
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not a photo")
    out = tmp_path / "grid.png"
    code = photo_grid.main(["--model", "one=synthetic-tiny", "--model", "two=synthetic-tiny",
                            "--photos", str(folder), "--out", str(out)])
    assert code == 0
    width, height = Image.open(out).size
    # 3 columns x 2.6 in and 2 rows x 2.2 in at 90 dpi: the layout follows photos and models.
    assert (width, height) == (round(3 * 2.6 * 90), round(2 * 2.2 * 90))


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert photo_grid.main(["--model", "synthetic-tiny", "--photos", str(tmp_path / "empty")]) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: --photos empty: no pictures in it (png, jpg") and str(tmp_path) not in message


def test_saved_depth_columns_come_first_and_a_missing_map_is_named(tmp_path, capsys):
    folder, saved = tmp_path / "photos", tmp_path / "saved"
    folder.mkdir()
    saved.mkdir()
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(folder / "room.png")
    np.save(saved / "room.npy", np.linspace(1, 5, 30 * 40, dtype=np.float32).reshape(30, 40))
    depth = photo_grid.load_saved_depth(saved, folder / "room.png", (60, 80))
    assert depth.shape == (60, 80) and 1.0 <= depth.min() < depth.max() <= 5.0
    out = tmp_path / "grid.png"
    assert photo_grid.main(["--depths", f"before={saved}", "--photos", str(folder), "--out", str(out)]) == 0
    assert Image.open(out).size == (round(2 * 2.6 * 90), round(1 * 2.2 * 90))
    (saved / "room.npy").unlink()
    assert photo_grid.main(["--depths", f"before={saved}", "--photos", str(folder), "--out", str(out)]) == 2
    assert "no room.npy for room.png" in capsys.readouterr().err


def _one_photo(tmp_path, shape=(60, 80), suffix=".webp"):
    folder, saved = tmp_path / "photos", tmp_path / "saved"
    folder.mkdir()
    saved.mkdir()
    Image.fromarray(np.full((*shape, 3), 120, np.uint8)).save(folder / f"room{suffix}")
    return folder, saved


def test_labels_never_carry_paths_and_every_flag_names_itself():
    assert photo_grid.parse_model("/srv/x/saved-maps/", "--depths", "DIR") == ("saved-maps", "/srv/x/saved-maps/")
    with pytest.raises(ValueError, match=r"^--depths '=x': give LABEL=DIR or DIR"):
        photo_grid.parse_model("=x", "--depths", "DIR")


def test_panel_titles_ignore_missing_pixels():
    depth = np.full((4, 4), 2.0, np.float32)
    depth[0, 0] = np.nan
    assert photo_grid.depth_title(depth) == "median 2.0 m"
    assert photo_grid.depth_title(np.full((4, 4), np.nan, np.float32)) == "no valid depth"


def test_out_folders_duplicate_labels_and_bad_maps_are_one_line_exit_2(tmp_path, capsys):
    folder, saved = _one_photo(tmp_path)
    (tmp_path / "taken").write_text("a file")
    np.save(saved / "room.npy", np.ones((60, 80), np.float32))
    base = ["--photos", str(folder), "--depths", f"a={saved}"]
    cases = [([*base, "--out", str(tmp_path)], "is a folder; give a .png file name"),
             ([*base, "--out", str(tmp_path / "grid.txt")], "--out grid.txt: give a .png file name"),
             ([*base, "--out", str(tmp_path / "taken" / "grid.png")], "a file stands where its folder would be"),
             ([*base, "--model", "a=synthetic-tiny", "--out", str(tmp_path / "g.png")], "column label 'a' is given twice")]
    for arguments, expected in cases:
        assert photo_grid.main(arguments) == 2
        message = capsys.readouterr().err
        assert message.startswith("error: ") and expected in message and str(tmp_path) not in message, message
    (saved / "room.npy").write_bytes(b"not numpy")
    assert photo_grid.main([*base, "--out", str(tmp_path / "g.png")]) == 2
    assert "--depths saved: room.npy is not a readable .npy file" in capsys.readouterr().err
    np.save(saved / "room.npy", np.ones((80, 60), np.float32))  # a portrait map for a landscape photo
    assert photo_grid.main([*base, "--out", str(tmp_path / "g.png")]) == 2
    assert "room.npy is 60x80, another shape than room.webp (80x60" in capsys.readouterr().err
    np.save(saved / "room.npy", np.ones((30, 40), np.float32))  # same shape, smaller: fine
    assert photo_grid.main([*base, "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file()
