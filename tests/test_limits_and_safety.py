"""Limits and safety for a public app: pixel caps from headers, numeric checks, the model registry's
bounds, bounded disk, the error boundary, and the command-line cases."""
from __future__ import annotations

import logging
import struct
import threading
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.validate import ImageTooLargeError, InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RGB = ROOT / "examples" / "scenes" / "rgb" / "scene_00000.png"
EXAMPLE_VIDEO = ROOT / "examples" / "video" / "video.mp4"
BUNDLED = "synthetic-tiny"


def header_only_png(path: Path, width: int, height: int, bit_depth: int = 16, colour_type: int = 0) -> Path:
    """A PNG that declares width x height pixels but carries almost no data (a decompression bomb's
    header): anything that decodes it first would allocate gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


# ---------------------------------------------------------------- pixel caps (header, before decoding)

def test_load_rgb_refuses_a_bomb_from_its_header(tmp_path):
    from common.image_io import load_rgb

    bomb = header_only_png(tmp_path / "bomb.png", 20000, 20000, bit_depth=8, colour_type=2)
    tracemalloc.start()
    with pytest.raises(ImageTooLargeError, match=r"400.0 megapixels\); the limit is 25.0 megapixels"):
        load_rgb(bomb, max_pixels=25_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # nothing was decoded


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_depth_readers_refuse_oversized_maps_from_their_header(tmp_path, suffix):
    from common.depth_io import read_depth_file

    path = tmp_path / f"gt{suffix}"
    if suffix == ".png":
        header_only_png(path, 20000, 20000)
    else:
        with open(path, "wb") as file:  # a .npy header declaring 20000x20000 float32, and no data
            np.lib.format.write_array_header_1_0(file, {"descr": "<f4", "fortran_order": False, "shape": (20000, 20000)})
    with pytest.raises(ImageTooLargeError, match=r"\(400.0 megapixels\); the limit is 25.0 megapixels"):
        read_depth_file(path, max_pixels=25_000_000)


def test_colorize_depth_is_compact_and_handles_bad_ranges():
    from common.depth_io import colorize_depth, depth_to_png16

    depth = np.random.default_rng(0).uniform(0.5, 10.0, (1000, 1500)).astype(np.float32)
    tracemalloc.start()
    colour = colorize_depth(depth)
    mm = depth_to_png16(depth)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert colour.dtype == np.uint8 and mm.dtype == np.uint16
    assert peak < 20 * depth.size  # float64 RGBA colouring alone took 32 bytes per pixel
    for vmin, vmax in [(float("nan"), 10.0), (0.5, float("inf")), (float("nan"), float("nan"))]:
        assert colorize_depth(depth, vmin=vmin, vmax=vmax).max() > 0  # never a silent black map
    with pytest.raises(ValueError, match="unknown colormap 'nope'"):
        colorize_depth(depth, cmap="nope")


def test_check_number_rejects_nan_infinity_and_out_of_range():
    from common.validate import check_number

    assert check_number("3", "x", 1, 5, integer=True) == 3
    for value, message in [(float("nan"), "finite"), (float("inf"), "finite"), (9, "between 1 and 5"),
                           (2.5, "whole number"), ("abc", "must be a number")]:
        with pytest.raises(InputError, match=message):
            check_number(value, "x", 1, 5, integer=True)


# ---------------------------------------------------------------- the model registry

def fake_predictor(name="fake"):
    from types import SimpleNamespace

    info = SimpleNamespace(name=name, kind="mirror", clip_name="tiny", clip_pretrained=None, clip_weights_from=None,
                           weights_from="file", trained=True, training_data="test", message=f"{name}: a test model")
    return SimpleNamespace(info=info)


def _registry(roots, **kwargs):
    from demos.models import ModelRegistry

    calls: list[str] = []

    def loader(spec):
        calls.append(spec)
        return fake_predictor(spec)

    return ModelRegistry(BUNDLED, roots=roots, loader=kwargs.pop("loader", loader), **kwargs), calls


def test_checkpoint_paths_are_canonicalised_before_caching(tmp_path):
    registry, calls = _registry([ROOT / "checkpoints"], max_models=3)
    spellings = ["checkpoints/mirror-synthetic-tiny", "./checkpoints/mirror-synthetic-tiny",
                 "././checkpoints/mirror-synthetic-tiny", "checkpoints/../checkpoints/mirror-synthetic-tiny/",
                 "mirror-synthetic-tiny", str(ROOT / "checkpoints" / "mirror-synthetic-tiny")]
    keys = {registry.resolve(text).key for text in spellings}
    assert len(keys) == 1
    for text in spellings:
        registry.get("custom", text)
    assert len([c for c in calls if c.endswith("mirror-synthetic-tiny")]) == 1
    assert len(registry.resident()) == 1


def test_paths_outside_the_checkpoint_folders_are_refused_alike(tmp_path):
    registry, calls = _registry([tmp_path / "ckpts"])
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "ckpts" / "escape").symlink_to(tmp_path / "outside")
    messages = set()
    for text in ["/etc", str(tmp_path / "outside"), str(tmp_path / "no-such-dir"), "../outside", "escape",
                 "escape/../../outside", "../../../../../../etc"]:
        with pytest.raises(InputError) as caught:
            registry.resolve(text)
        message = str(caught.value)
        assert "/" not in message.split("`")[1] and str(tmp_path) not in message  # only the last name is echoed
        messages.add(message.split("`", 2)[2])  # the same sentence whether the folder exists or not
    assert len(messages) == 1 and calls == []


def test_hub_ids_only_when_enabled():
    registry, _ = _registry([ROOT / "checkpoints"])
    with pytest.raises(InputError, match="Hugging Face Hub is turned off on this server"):
        registry.resolve("someone/some-model")
    enabled, _ = _registry([ROOT / "checkpoints"], allow_hub=True)
    assert enabled.resolve("someone/some-model").key == "hub:someone/some-model"


def test_at_most_n_models_stay_loaded_least_recently_used_first(tmp_path):
    for name in "abcd":
        (tmp_path / name).mkdir()
    registry, calls = _registry([tmp_path], max_models=4)
    registry.get()  # the default model
    for name in ["a", "b", "a", "c", "d"]:
        registry.get("custom", name)
    resident = registry.resident()
    assert len(resident) == 4 and "preset:synthetic-tiny" in resident  # the default is kept
    assert any(key.endswith("/a") for key in resident) and not any(key.endswith("/b") for key in resident)
    registry.get("custom", "b")  # evicted, so loaded again
    assert len([c for c in calls if c.endswith("/b")]) == 2


def test_one_slow_load_does_not_block_another_model(tmp_path):
    (tmp_path / "slow").mkdir()
    (tmp_path / "fast").mkdir()
    release, slow_started = threading.Event(), threading.Event()

    def loader(spec):
        if spec.endswith("slow"):
            slow_started.set()
            assert release.wait(30)
        return fake_predictor(spec)

    registry, _ = _registry([tmp_path], loader=loader)
    registry.get()  # the default
    slow = threading.Thread(target=registry.get, args=("custom", "slow"))
    slow.start()
    assert slow_started.wait(30)
    status = registry.get("custom", "fast").status  # returns while "slow" is still loading
    release.set()
    slow.join(30)
    assert "Could not load" not in status


def test_failed_loads_are_retried_after_a_while(tmp_path):
    (tmp_path / "flaky").mkdir()
    attempts = []

    def loader(spec):
        if spec.endswith("flaky"):
            attempts.append(spec)
            if len(attempts) == 1:
                raise ValueError(f"{spec} is broken")
        return fake_predictor(spec)

    remembering, _ = _registry([tmp_path], loader=loader, retry_s=3600)
    first = remembering.get("custom", "flaky").status
    assert "Could not load" in first and str(tmp_path) not in first
    assert "Could not load" in remembering.get("custom", "flaky").status and len(attempts) == 1
    attempts.clear()
    retrying, _ = _registry([tmp_path], loader=loader, retry_s=0)
    assert "Could not load" in retrying.get("custom", "flaky").status
    assert "Could not load" not in retrying.get("custom", "flaky").status and len(attempts) == 2


# ---------------------------------------------------------------- bounded disk

def test_request_folders_expire_and_the_budget_evicts_oldest_first(tmp_path):
    import time

    from demos.storage import OutputStore

    store = OutputStore(tmp_path / "out", retention_s=100.0, budget_bytes=2500)
    folders = []
    for _ in range(3):
        folder = store.request_dir("test")
        (folder / "data.bin").write_bytes(b"x" * 1000)
        folders.append(folder)
    removed = store.cleanup()
    assert removed == [folders[0]] and store.total_bytes() == 2000
    assert store.cleanup(now=time.time() + 101) == folders[1:]
    assert store.total_bytes() == 0


# ---------------------------------------------------------------- the error boundary

def test_unexpected_errors_show_an_id_and_log_the_traceback(caplog):
    import gradio as gr

    from demos.errors import guarded

    def handler(x):
        raise KeyError(f"/srv/secret/{x}")

    with caplog.at_level(logging.ERROR, logger="demos.errors"), pytest.raises(gr.Error) as caught:
        guarded(handler)("path")
    message = caught.value.message
    assert "secret" not in message and "KeyError" not in message and "error id" in message
    error_id = message.split("error id ")[1][:8]
    assert error_id in caplog.text and "Traceback" in caplog.text and "/srv/secret/path" in caplog.text

    def bad_input():
        raise InputError("The frame must be a finite number; got nan.")

    with pytest.raises(gr.Error, match="The frame must be a finite number"):
        guarded(bad_input)()


# ---------------------------------------------------------------- through the API

@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def _image_args(**changes):
    from gradio_client import handle_file

    args = {"image": handle_file(str(EXAMPLE_RGB)), "colormap": "turbo", "auto": True, "lo": 0.5, "hi": 10.0,
            "fov": 63.0, "voxel": 0.0, "choice": BUNDLED, "custom": ""}
    args.update(changes)
    return list(args.values())


def raw_call(app_url: str, endpoint: str, data: list) -> str:
    """Call an endpoint with a raw JSON body: gradio_client refuses to send NaN or infinity, a hostile
    client does not. The result's text: the `data` of a completed call or the message of an error."""
    import json

    import httpx

    body = json.dumps({"data": data}, allow_nan=True)  # NaN and Infinity as JSON tokens
    base = app_url.rstrip("/") + "/gradio_api/call/" + endpoint
    event_id = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=60).json()["event_id"]
    with httpx.stream("GET", f"{base}/{event_id}", timeout=120) as response:
        lines = list(response.iter_lines())
    return "\n".join(lines)


def uploaded(app_url: str, path: Path) -> dict:
    import httpx

    with open(path, "rb") as file:
        server_path = httpx.post(app_url.rstrip("/") + "/gradio_api/upload", files={"files": (path.name, file)},
                                 timeout=60).json()[0]
    return {"path": server_path, "meta": {"_type": "gradio.FileData"}, "orig_name": path.name}


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["turbo", False, NAN, 10.0, 63.0, 0.0], "Range min (m) must be a finite number between 0 and 1000; got nan."),
        (["turbo", False, 0.5, INF, 63.0, 0.0], "Range max (m) must be a finite number between 0 and 1000; got inf."),
        (["turbo", True, 0.5, 10.0, NAN, 0.0], "The field of view (degrees) must be a finite number between 20 and 120; got nan."),
        (["turbo", True, 0.5, 10.0, 63.0, NAN], "The point-cloud voxel (cm) must be a finite number between 0 and 20; got nan."),
    ],
)
def test_nan_and_infinity_give_a_plain_message(app_url, settings, message):
    result = raw_call(app_url, "predict_depth", [uploaded(app_url, EXAMPLE_RGB), *settings, BUNDLED, ""])
    assert "event: error" in result and message in result
    assert "Traceback" not in result and "/tmp" not in result


def test_out_of_range_values_and_unknown_colormaps_are_refused(client):
    with pytest.raises(Exception, match=r"Point-cloud voxel \(cm, 0 = automatic\) must be a number between 0 and 20; got -3"):
        client.predict(*_image_args(voxel=-3), api_name="/predict_depth")
    with pytest.raises(Exception, match="Colour map must be one of turbo, .*; got .no-such-map."):
        client.predict(*_image_args(colormap="no-such-map"), api_name="/predict_depth")


def test_nan_on_the_other_endpoints(app_url):
    video = raw_call(app_url, "video_depth", [uploaded(app_url, EXAMPLE_VIDEO), NAN, 8, 160, BUNDLED, "",
                                              None, "auto", "auto", "both", None, True])  # every input, raw
    assert "Frames per second must be a finite number between 1 and 30; got nan." in video
    webcam = raw_call(app_url, "webcam_frame", [uploaded(app_url, EXAMPLE_RGB), NAN, BUNDLED, ""])
    assert "The frame size (longest side, px) must be a finite number between 96 and 640; got nan." in webcam
    attention = raw_call(app_url, "attention", ["vim editor", NAN, 0])
    assert "The layer must be a finite number between 0 and 1000; got nan." in attention
    recolour = raw_call(app_url, "recolour_depth", ["turbo", False, NAN, 3.0])
    assert "Range min (m) must be a finite number between 0 and 1000; got nan." in recolour


def test_oversized_uploads_are_refused_from_the_header(client, tmp_path):
    from gradio_client import handle_file

    bomb = header_only_png(tmp_path / "bomb.png", 20000, 20000, bit_depth=8, colour_type=2)
    with pytest.raises(Exception, match="too large") as caught:
        client.predict(*_image_args(image=handle_file(str(bomb))), api_name="/predict_depth")
    assert "/tmp" not in str(caught.value)
    gt_bomb = header_only_png(tmp_path / "gt.png", 20000, 20000)
    with pytest.raises(Exception, match="ground truth is too large"):
        client.predict(handle_file(str(EXAMPLE_RGB)), handle_file(str(gt_bomb)), ["learned"], False, BUNDLED, "",
                       api_name="/mirror_ablation")


def test_model_field_outside_checkpoints_falls_back_without_revealing_paths(client):
    for text in ["/etc", "/no/such/dir", "../../..", "someone/some-model"]:
        *_, status = client.predict(*_image_args(choice="custom", custom=text), api_name="/predict_depth")
        assert "Could not load" in status and "synthetic-tiny" in status
        assert str(ROOT) not in status and "/etc" not in status and "/tmp" not in status


def test_the_bundled_model_says_what_its_depth_is_worth(client):
    *_, summary, line, status = client.predict(*_image_args(), api_name="/predict_depth")
    assert summary.startswith("Depth 320x240")
    assert "trained on 4000 procedural RGB-D scenes" in line and "never saw a real photo" in line


def test_request_outputs_are_removed_after_retention(client):
    import time

    from demos.storage import store

    client.predict(*_image_args(), api_name="/predict_depth")
    outputs = store()
    assert outputs.total_bytes() > 0
    outputs.cleanup(now=time.time() + outputs.retention_s + 1)
    assert outputs.total_bytes() == 0


# ---------------------------------------------------------------- command lines

def test_predict_cli_skips_a_bomb_and_keeps_colliding_names_apart(tmp_path, capsys):
    from mirror_model.predict import main

    images = tmp_path / "in"
    images.mkdir()
    rgb = cv2.imread(str(EXAMPLE_RGB))
    cv2.imwrite(str(images / "a.png"), rgb)
    cv2.imwrite(str(images / "a.jpg"), rgb[::2, ::2])
    header_only_png(images / "bomb.png", 20000, 20000, bit_depth=8, colour_type=2)
    out = tmp_path / "out"
    assert main(["--input", str(images), "--out", str(out), "--device", "cpu", "--max-pixels", "50000000"]) == 0
    captured = capsys.readouterr()
    assert "wrote 2 depth maps" in captured.out
    skipped = [line for line in captured.err.splitlines() if "warning: skipped" in line]
    assert len(skipped) == 1 and "400.0 megapixels" in skipped[0] and "--max-pixels" in skipped[0]
    assert np.load(out / "a_png.npy").shape == (240, 320)
    assert np.load(out / "a_jpg.npy").shape == (120, 160)


def test_temporal_cli_rejects_nan_fps_before_loading_a_model(tmp_path, capsys, monkeypatch):
    import mirror_model.predict as predict
    from analysis.temporal import VIDEO_MAX_FRAMES, VIDEO_MAX_SIDE, build_parser, main

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(predict, "load_predictor", no_model)
    with pytest.raises(SystemExit) as caught:
        main([str(EXAMPLE_VIDEO), "--out", str(tmp_path), "--fps", "nan"])
    assert caught.value.code == 2
    assert "argument --fps: the value must be a finite number" in capsys.readouterr().err
    defaults = build_parser().parse_args(["x", "--out", "y"])
    assert (defaults.max_frames, defaults.max_side) == (VIDEO_MAX_FRAMES, VIDEO_MAX_SIDE) == (240, 640)


def test_hub_checkpoints_fetch_only_their_files_under_a_size_cap(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import huggingface_hub

    import mirror_model.predict as predict

    fetched = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False):
        fetched.append((repo_id, tuple(allow_patterns or ()), local_files_only))
        if local_files_only:
            raise FileNotFoundError("not cached")
        return str(tmp_path)

    sizes = {"card.json": 2_000, "model.safetensors": 600 * 2**20, "clip.safetensors": 0, "huge.bin": 50 * 2**30}

    class Api:
        def model_info(self, repo_id, files_metadata=False):
            return SimpleNamespace(siblings=[SimpleNamespace(rfilename=n, size=s) for n, s in sizes.items()])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(predict.clip_backbone, "hub_reachable", lambda: True)
    with pytest.raises(ValueError, match="'someone/model' is 600 MB; the limit is 512 MB"):
        predict._download_from_hub("someone/model", max_bytes=512 * 2**20)
    assert predict._download_from_hub("someone/model", max_bytes=1024 * 2**20) == tmp_path
    assert all(set(patterns) == {"card.json", "model.safetensors", "clip.safetensors"} for _, patterns, _ in fetched)
    assert [local for *_, local in fetched] == [True, True, False]  # the network only under the cap
