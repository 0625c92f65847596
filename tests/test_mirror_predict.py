"""Inference API, predict CLI and robust image loading, offline on the tiny configs."""
import subprocess
import sys
from pathlib import Path

import cv2
import huggingface_hub.constants
import numpy as np
import pytest
from PIL import Image

from common.depth_io import read_depth_png
from common.image_io import load_rgb, to_rgb_uint8
from mirror_model import checkpoint as ckpt
from mirror_model import presets
from mirror_model.predict import load_predictor, main

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_RGB = sorted((REPO / "examples").glob("**/rgb/*.png"))[:2]


@pytest.fixture(scope="module")
def predictor():
    return load_predictor("synthetic-tiny", device="cpu")


def _rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _one_line_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


# ---------------------------------------------------------------- API

def test_predictor_info_says_what_is_loaded(predictor):
    import dataclasses

    from mirror_model.model_info import ModelInfo

    info = predictor.info
    assert isinstance(info, ModelInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.trained = False  # shared by every user of the predictor: read-only
    with pytest.raises(TypeError):
        info.card["trained"] = False
    # The repository ships the trained bundled checkpoint; its card says so.
    assert ckpt.has_weights(presets.BUNDLED_DIR) and ckpt.read_card(presets.BUNDLED_DIR)["trained"] is True
    assert (info.name, info.kind, info.clip_name, info.clip_pretrained) == ("synthetic-tiny", "mirror", "world-vit-256", "procedural-world")
    assert info.weights_from == "bundled" and info.trained is True and info.default_source == "learned"
    assert info.input_size == (240, 320) and info.max_depth == 10.0
    assert info.trainable_parameters == predictor.model.num_trainable_parameters() > 0
    assert info.message.startswith("synthetic-tiny: world-vit-256/procedural-world CLIP + mirror, trained on ")
    assert info.clip_weights_from == "project"
    assert "checkpoints/mirror-synthetic-tiny" in info.message and "UNTRAINED" not in info.message
    assert predictor.input_size == (240, 320) and predictor.max_depth == 10.0
    assert predictor.model.mirror.shape[0] == 16  # s = 16 mirror outputs


def test_predict_single_and_batched_frames_at_their_own_size(predictor):
    frames = [_rgb(37, 53, 1), _rgb(300, 200, 2), _rgb(240, 320, 3)]
    single = predictor.predict(frames[0])
    batched = predictor.predict(frames)
    assert isinstance(single, np.ndarray) and single.dtype == np.float32 and single.shape == (37, 53)
    assert [d.shape for d in batched] == [(37, 53), (300, 200), (240, 320)]
    for depth in batched:
        assert depth.dtype == np.float32 and np.isfinite(depth).all()
        assert depth.min() > 0 and depth.max() <= predictor.max_depth
    np.testing.assert_allclose(batched[0], single, atol=1e-5)
    assert predictor.predict([]) == []


def test_predict_accepts_grayscale_and_rgba_arrays_and_rejects_others(predictor):
    gray = _rgb(40, 40)[..., 0]
    rgba = np.dstack([_rgb(40, 40), np.full((40, 40), 255, np.uint8)])
    assert predictor.predict(gray).shape == (40, 40)
    np.testing.assert_allclose(predictor.predict(rgba), predictor.predict(rgba[..., :3]))
    with pytest.raises(ValueError, match="numpy array"):
        predictor.predict([[1, 2, 3]])
    with pytest.raises(ValueError, match="at least 8x8"):
        predictor.predict(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(np.zeros((10, 10, 5), np.uint8))


def test_source_per_call_and_default_source_at_load(predictor):
    local = load_predictor("synthetic-tiny", device="cpu", mirror_source="zeros")
    assert local.info.default_source == "zeros"
    frame = _rgb(64, 80, 5)
    zeros = local.predict(frame)
    learned = local.predict(frame, source="learned")
    assert not np.allclose(zeros, learned)
    np.testing.assert_array_equal(local.predict(frame), zeros)  # the call's source did not stick
    np.testing.assert_array_equal(predictor.predict(frame), learned)
    np.testing.assert_array_equal(predictor.predict(frame, source="zeros"), zeros)
    with pytest.raises(ValueError, match="unknown mirror source"):
        local.predict(frame, source="bogus")


def test_zero_shot_preset_runs_offline_in_bin_range():
    zero = load_predictor("depthclip-tiny", device="cpu")
    assert zero.info.kind == "zeroshot" and zero.info.default_source is None
    # Its CLIP is the project's own pretrained world CLIP: real weights, reported as bundled, not untrained.
    assert zero.info.trained and zero.info.weights_from == "bundled" and "UNTRAINED" not in zero.info.message.upper()
    depth = zero.predict(_rgb(50, 70))
    bins = zero.model.config.bins_m()
    assert depth.shape == (50, 70) and depth.min() >= bins[0] - 1e-4 and depth.max() <= bins[-1] + 1e-4
    with pytest.raises(ValueError, match="no mirror"):
        zero.predict(_rgb(50, 70), source="zeros")


def test_pretrained_presets_fail_offline_with_a_clear_message(monkeypatch, tmp_path):
    from mirror_model import clip_backbone

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(clip_backbone.WEIGHTS_ENV, raising=False)
    # a fresh machine: empty Hugging Face cache, no network
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # open_clip's URL cache lives under ~/.cache/clip
    with pytest.raises(clip_backbone.WeightsUnavailableError, match="ViT-B-16.*openai.*--clip-weights"):
        load_predictor("depthclip-vit-b-16", device="cpu")


def test_checkpoint_directory_and_bad_specs(tmp_path, monkeypatch):
    directory = ckpt.init_checkpoint(tmp_path / "mine", presets.PRESETS["synthetic-tiny"].fallback_config, seed=0)
    local = load_predictor(str(directory), device="cpu")
    assert local.info.weights_from == "untrained" and "UNTRAINED" in local.info.message
    ckpt.save_checkpoint(local.model, directory, {"training_data": "synthetic scenes (test)"})
    trained = load_predictor(str(directory), device="cpu")
    assert trained.info.trained is True and trained.info.weights_from == "file"
    assert "synthetic scenes (test)" in trained.info.message

    with pytest.raises(ValueError, match="not a preset"):
        load_predictor("no-such-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="Hugging Face Hub is unreachable"):
        load_predictor("someone/some-mirror-model")


# ---------------------------------------------------------------- image loading

def test_load_rgb_converts_every_common_layout(tmp_path):
    base = _rgb(20, 30)
    cv2.imwrite(str(tmp_path / "gray.png"), base[..., 0])
    np.testing.assert_array_equal(load_rgb(tmp_path / "gray.png"), np.repeat(base[..., :1], 3, axis=2))

    rgba = np.dstack([base, np.full((20, 30), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(load_rgb(tmp_path / "rgba.png"), base)

    gray16 = np.full((20, 30), 65535, np.uint16)
    gray16[:, :10] = 0
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    loaded = load_rgb(tmp_path / "gray16.png")
    assert loaded.dtype == np.uint8 and loaded[0, 0].tolist() == [0, 0, 0] and loaded[0, 20].tolist() == [255] * 3

    rgb16 = base.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "rgb16.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(load_rgb(tmp_path / "rgb16.png"), base)

    palette = Image.fromarray(base).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.save(tmp_path / "palette.png")
    palette.save(tmp_path / "palette.gif")
    expected = np.array(palette.convert("RGB"))
    np.testing.assert_array_equal(load_rgb(tmp_path / "palette.png"), expected)
    np.testing.assert_array_equal(load_rgb(tmp_path / "palette.gif"), expected)

    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.cvtColor(base, cv2.COLOR_RGB2BGR))
    assert load_rgb(tmp_path / "photo.jpg").shape == (20, 30, 3)
    assert to_rgb_uint8(np.ones((9, 9), np.float32)).max() == 255


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("notes.png", b"this is text, not pixels", "not a readable image"),
        ("empty.png", b"", "empty"),
    ],
)
def test_load_rgb_rejects_non_images(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match) as err:
        load_rgb(tmp_path / name)
    assert "\n" not in str(err.value) and name in str(err.value)


def test_load_rgb_rejects_tiny_and_missing_images(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match="1x1 pixels; at least 8x8"):
        load_rgb(tmp_path / "dot.png")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_rgb(tmp_path / "absent.png")
    with pytest.raises(ValueError, match="is a directory"):
        load_rgb(tmp_path)


# ---------------------------------------------------------------- CLI

def _check_outputs(out: Path, stem: str, shape: tuple[int, int]) -> None:
    depth = np.load(out / f"{stem}.npy")
    assert depth.dtype == np.float32 and depth.shape == shape
    png = read_depth_png(out / f"{stem}_depth.png")
    np.testing.assert_allclose(png, depth, atol=0.0006)
    color = cv2.imread(str(out / f"{stem}_color.png"), cv2.IMREAD_UNCHANGED)
    assert color.shape == (*shape, 3) and color.dtype == np.uint8


def test_cli_writes_depth_for_a_directory_and_skips_bad_files(tmp_path, capsys):
    images = tmp_path / "in"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), _rgb(60, 90, 1))
    Image.fromarray(_rgb(33, 47, 2)[..., 0]).save(images / "gray.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (images / "empty.png").write_bytes(b"")
    cv2.imwrite(str(images / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["--model", "synthetic-tiny", "--input", str(images), "--out", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "synthetic-tiny" in captured.out and "wrote 2 depth maps" in captured.out
    warnings = [line for line in captured.err.splitlines() if "warning: skipped" in line]
    assert len(warnings) == 3
    _check_outputs(out, "a", (60, 90))
    _check_outputs(out, "gray", (33, 47))
    assert "UNTRAINED" not in captured.err  # the bundled model is trained


@pytest.mark.skipif(not EXAMPLE_RGB, reason="examples/ has no rgb PNGs yet")
def test_cli_runs_on_bundled_examples(tmp_path, capsys):
    out = tmp_path / "out"
    for path in EXAMPLE_RGB:
        assert main(["--input", str(path), "--out", str(out), "--mirror-source", "prompt", "--device", "cpu"]) == 0
        height, width = cv2.imread(str(path)).shape[:2]
        _check_outputs(out, path.stem, (height, width))


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("notes.txt", b"plain text", "not a readable image"),
        ("empty.png", b"", "empty"),
        ("dot.png", None, "1x1 pixels"),
        ("absent.png", "missing", "no such file"),
    ],
)
def test_cli_bad_single_input_is_one_line_and_exit_2(tmp_path, capsys, name, content, match):
    path = tmp_path / name
    if content is None:
        cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    elif content != "missing":
        path.write_bytes(content)
    assert main(["--input", str(path), "--out", str(tmp_path / "out")]) == 2
    assert match in _one_line_error(capsys)


def test_cli_bad_model_is_one_line_and_exit_2(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), _rgb(20, 20))
    assert main(["--model", str(tmp_path / "a.png"), "--input", str(tmp_path / "a.png"), "--out", str(tmp_path)]) == 2
    assert "is a file" in _one_line_error(capsys)


def test_cli_as_a_module_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-m", "mirror_model.predict", "--input", str(bad), "--out", str(tmp_path / "o")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "empty (0 bytes)" in result.stderr


def test_threads_with_different_sources_each_get_their_own_result(predictor):
    """One shared predictor, many threads, each asking for another text-side source at the same time."""
    import threading

    from mirror_model.text_sources import SOURCES

    frame = _rgb(48, 64, 7)
    expected = {source: predictor.predict(frame, source=source) for source in SOURCES}
    assert all(not np.allclose(expected["learned"], expected[s]) for s in SOURCES if s != "learned")
    predictor.model.invalidate_text_cache()  # the threads also race to fill the cache
    barrier = threading.Barrier(2 * len(SOURCES))
    results: dict[tuple[str, int], np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(source: str, copy: int) -> None:
        try:
            barrier.wait(timeout=60)
            for _ in range(3):
                results[(source, copy)] = predictor.predict(frame, source=source)
        except BaseException as error:  # reported below, with the thread's source
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(s, c)) for s in SOURCES for c in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors and len(results) == 2 * len(SOURCES)
    for (source, _), depth in results.items():
        np.testing.assert_allclose(depth, expected[source], rtol=1e-5, atol=1e-5, err_msg=source)



def test_the_cli_refuses_a_file_for_out_and_an_unknown_device_in_one_line(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    photo = Path(__file__).resolve().parents[1] / "examples" / "photos" / "coffee.jpg"
    cases = ((["--out", str(blocker)], "file stands"), (["--out", str(tmp_path / "o"), "--device", "banana"], "unknown device"))
    for extra, words in cases:
        result = subprocess.run([sys.executable, "-m", "mirror_model.predict", "--input", str(photo), *extra],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and "Traceback" not in result.stderr and words in result.stderr
        assert str(tmp_path) not in result.stderr  # no server path
