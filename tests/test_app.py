"""The app served on a free local port, every named endpoint called through gradio_client."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RGB = ROOT / "examples" / "scenes" / "rgb" / "scene_00000.png"
EXAMPLE_DEPTH = ROOT / "examples" / "scenes" / "depth" / "scene_00000.png"
EXAMPLE_VIDEO = ROOT / "examples" / "video" / "video.mp4"
BUNDLED = "synthetic-tiny"


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_named_endpoints_are_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict_depth", "/webcam_frame", "/video_depth", "/video_frame_cloud", "/mirror_ablation",
            "/attention", "/recolour_depth"} <= names


def test_image_depth_returns_slider_raw_depth_png_and_point_cloud(client):
    import open3d as o3d
    from gradio_client import handle_file

    from common.depth_io import read_depth_png

    slider, bar, files, cloud, summary, line, status = client.predict(
        handle_file(str(EXAMPLE_RGB)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "", api_name="/predict_depth")
    names = [Path(f).name for f in files]
    assert names == ["scene_00000_depth_metres.npy", "scene_00000_depth_millimetres.png", "scene_00000_depth_turbo.png",
                     "scene_00000_point_cloud.ply"]
    npy, png, colour_png, ply = files
    depth = np.load(npy)
    assert depth.shape == (240, 320) and depth.dtype == np.float32
    assert np.all(depth > 0) and np.all(depth <= 10.0)
    np.testing.assert_allclose(read_depth_png(png), depth, atol=1e-3)
    assert len(o3d.io.read_point_cloud(ply).points) > 1000
    assert Path(slider[0]).is_file() and Path(slider[1]).is_file() and Path(colour_png).stat().st_size > 1000
    assert "synthetic-tiny" in status and "Depth 320x240" in summary
    assert "synthetic-tiny" in line and "procedural" in line and "real photo" in line


def test_unloadable_model_falls_back_to_the_bundled_one_and_says_so(client):
    from gradio_client import handle_file

    *_, status = client.predict(handle_file(str(EXAMPLE_RGB)), "turbo", True, 0.5, 10.0, 63.0, 0.0, "custom",
                                str(ROOT / "no-such-checkpoint"), api_name="/predict_depth")
    assert "Could not load" in status and "no-such-checkpoint" in status and "synthetic-tiny" in status
    assert str(ROOT) not in status  # the server's folders are never shown


def test_webcam_stream_endpoint_returns_depth_and_rate(client):
    from gradio_client import handle_file

    depth, rate = client.predict(handle_file(str(EXAMPLE_RGB)), 160, BUNDLED, "", api_name="/webcam_frame")
    assert Path(depth).is_file()
    # One frame, no stream: the model's time only; 320x240 is downscaled to 160 on the longest side.
    assert re.fullmatch(r"model \d+ ms per frame · 160x120", rate), rate


def test_video_depth_curves_summary_and_frame_cloud(client):
    from gradio_client import handle_file

    (video, video_bar, plot, table, summary, files, notes, frame, cloud, frame_depth, frame_bar, line,
     status) = client.predict(handle_file(str(EXAMPLE_VIDEO)), 5, 8, 160, BUNDLED, "", api_name="/video_depth")
    assert "synthetic-tiny" in line and "procedural" in line and "real photo" in line  # the one model line
    assert Path(video["video"] if isinstance(video, dict) else video).stat().st_size > 1000
    plot_data = json.loads(plot["plot"]) if isinstance(plot, dict) else plot
    assert any(len(trace.get("y", [])) >= 2 for trace in plot_data["data"])
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    assert summary["frames"] >= 2 and summary["flicker_mean"] is not None
    assert any(str(f).endswith("summary.json") for f in files) and any(str(f).endswith("report.html") for f in files)
    assert "| flicker | ↓ lower |" in table
    assert Path(cloud).is_file()
    video_range = re.search(r"near (\d+\.\d\d) m .* far (\d+\.\d\d) m", video_bar).groups()
    # The chosen frame is coloured like the video: one range for all.
    assert re.search(r"near (\d+\.\d\d) m .* far (\d+\.\d\d) m", frame_bar).groups() == video_range
    cloud_again, depth_again, bar_again = client.predict(1, 63.0, api_name="/video_frame_cloud")
    assert Path(cloud_again).is_file() and Path(depth_again).is_file() and "analysed frame 2 of" in bar_again


def test_video_depth_compares_an_uploaded_sequence_with_the_model_against_uploaded_ground_truth(client, tmp_path):
    from gradio_client import handle_file

    from common.depth_io import read_depth_png

    truth = sorted((ROOT / "examples" / "video" / "depth").glob("*.png"))
    for i, path in enumerate(truth):  # "another model": the true depth, 10 % too far from frame 12 on
        np.save(tmp_path / f"{path.stem}.npy", read_depth_png(path) * (1.1 if i >= 12 else 1.0))
    depth_files = [handle_file(str(p)) for p in sorted(tmp_path.glob("*.npy"))]
    gt_files = [handle_file(str(p)) for p in truth] + [handle_file(str(ROOT / "examples" / "video" / name))
                                                        for name in ("intrinsics.json", "poses.json")]  # fmt: skip
    _, video_bar, _, table, summary, files, *_ = client.predict(
        handle_file(str(EXAMPLE_VIDEO)), 10, 24, 320, BUNDLED, "", depth_files, "auto", "auto", "both", gt_files, True,
        api_name="/video_depth")  # fmt: skip
    summary = summary if isinstance(summary, dict) else json.loads(summary)
    assert list(summary["sources"]) == ["synthetic-tiny", "uploaded frames", "ground truth"]
    # Two panels in the depth video (the model and the upload), each with its own colourbar.
    assert video_bar.count('class="colourbar"') == 2
    assert "synthetic-tiny (fixed from the first frame)" in video_bar and "uploaded frames (fixed" in video_bar
    header = table.splitlines()[0].replace("\\", "")  # names are Markdown-escaped (shown as written)
    assert "reference (ground truth)" in header and "synthetic-tiny" in header and "uploaded frames" in header
    report = next(Path(f) for f in files if str(f).endswith("report.html")).read_text()
    assert "uploaded frames" in report and "TAE" in report and "/tmp" not in report
    measures = json.loads(next(Path(f) for f in files if str(f).endswith("measures.json")).read_text())
    rows = {row["key"]: row for row in measures["measures"]}
    assert rows["abs_rel_mean"]["uploaded frames"] == pytest.approx(0.05, rel=2e-2)  # 0.1 on half of the 24 frames
    # One pair in 23 jumps by 10 %: TAE about 0.1 / 23, far above the reference level.
    assert rows["tae_mean"]["uploaded frames"] > 10 * rows["tae_mean"]["reference (ground truth)"]


def test_video_depth_rejects_a_sequence_of_the_wrong_length(client, tmp_path):
    from gradio_client import handle_file

    for i in range(3):
        np.save(tmp_path / f"d{i}.npy", np.ones((240, 320), np.float32))
    with pytest.raises(Exception, match="3 depth frames, but the video has 24 frames"):
        client.predict(handle_file(str(EXAMPLE_VIDEO)), 5, 8, 160, BUNDLED, "",
                       [handle_file(str(p)) for p in sorted(tmp_path.glob("*.npy"))], api_name="/video_depth")  # fmt: skip


def test_mirror_ablation_gives_maps_differences_and_metrics_with_ground_truth(client):
    from gradio_client import handle_file

    depths, depth_bar, differences, diff_bar, table, line, status = client.predict(
        handle_file(str(EXAMPLE_RGB)), handle_file(str(EXAMPLE_DEPTH)), ["learned", "zeros", "prompt"], True,
        BUNDLED, "", api_name="/mirror_ablation")
    assert len(depths) == 5  # ground truth + learned, zeros, prompt + zero-shot
    assert len(differences) == 3
    assert "abs_rel" in table and "zeros" in table
    assert re.search(r"near \d+\.\d\d m .* far \d+\.\d\d m", depth_bar) and "nearer" in diff_bar
    assert all("mean |Δ|" not in caption for _, caption in differences)  # short captions; the numbers are in the table


def test_attention_endpoint_returns_byte_grid_heatmaps_and_summary(client):
    notice, grid, heatmap, positions, summary, layer, head = client.predict(
        "vim editor", 0, 1, api_name="/attention")
    headers, rows = grid["headers"], grid["data"]
    assert headers[0] == "material" and len(headers) > 2
    assert [row[0] for row in rows] == ["[CLS]", "vim", "editor", "[SEP]"]
    z = json.loads(heatmap["plot"])["data"][0]["z"]
    shape = [int(n) for n in z["shape"].split(",")] if isinstance(z, dict) else [len(z), len(z[0])]  # plotly may pack arrays
    assert shape == [4, 4]
    assert "head 1" in summary and "reads byte 1:" in summary and "free to read every byte" in summary


@pytest.mark.parametrize(
    ("endpoint", "args", "message"),
    [
        ("/predict_depth", (None, "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, ""), "No picture"),
        ("/attention", ("   ", 0, 0), "text is empty"),
        ("/mirror_ablation", (None, None, ["learned"], True, BUNDLED, ""), "No picture"),
        ("/recolour_depth", ("turbo", False, 2.0, 1.0), "depth range is empty"),
        ("/recolour_depth", ("turbo", False, 1.0, 5000.0), "Range max"),
    ],
)
def test_bad_input_gives_a_readable_error_and_the_app_keeps_serving(client, endpoint, args, message):
    from gradio_client import handle_file

    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name=endpoint)
    notice, *_ = client.predict("still serving", 0, 0, api_name="/attention")
    assert "materials" in notice
    _ = handle_file  # the image endpoints are exercised above


def test_corrupt_video_gives_a_readable_error(client, tmp_path):
    from gradio_client import handle_file

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(Exception, match="(?i)video"):
        client.predict(handle_file(str(broken)), 5, 8, 160, BUNDLED, "", api_name="/video_depth")


def test_wrong_file_types_give_plain_messages(client, tmp_path):
    from gradio_client import handle_file

    text_file = tmp_path / "notes.png"
    text_file.write_text("this is text, not a picture")
    with pytest.raises(Exception, match="not a readable picture"):
        client.predict(handle_file(str(text_file)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "",
                       api_name="/predict_depth")
    with pytest.raises(Exception, match="Could not read the ground truth"):
        client.predict(handle_file(str(EXAMPLE_RGB)), handle_file(str(text_file)), ["learned"], False, BUNDLED, "",
                       api_name="/mirror_ablation")


def test_huge_image_is_downscaled_not_refused(client, tmp_path):
    import cv2
    from gradio_client import handle_file

    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.random.default_rng(0).integers(0, 255, (1500, 2400, 3), dtype=np.uint8))
    _, _, files, _, summary, *_ = client.predict(handle_file(str(big)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "",
                                                 api_name="/predict_depth")
    assert np.load(files[0]).shape == (640, 1024)
    assert "Depth 1024x640" in summary


@pytest.mark.parametrize("kind", ["rgba", "exif_rotated"])
def test_the_app_and_the_cli_give_the_same_depth_for_one_file(client, tmp_path, kind):
    """One loader for both: a transparent PNG and a JPEG with an EXIF rotation give one depth map."""
    from gradio_client import handle_file
    from PIL import Image

    from mirror_model.predict import main as predict_cli

    rgb = np.asarray(Image.open(EXAMPLE_RGB).convert("RGB"))
    if kind == "rgba":
        alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
        path = tmp_path / "picture.png"
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
        upright_shape = rgb.shape[:2]
    else:
        path = tmp_path / "picture.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6  # stored sideways: viewers turn it 90 degrees clockwise
        Image.fromarray(rgb).save(path, exif=exif, quality=95)
        upright_shape = rgb.shape[1::-1]
    assert predict_cli(["--input", str(path), "--out", str(tmp_path / "cli"), "--device", "cpu"]) == 0
    cli_depth = np.load(tmp_path / "cli" / "picture.npy")
    _, _, files, *_ = client.predict(handle_file(str(path)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "",
                                     api_name="/predict_depth")
    app_depth = np.load(files[0])
    assert cli_depth.shape == app_depth.shape == upright_shape
    np.testing.assert_allclose(app_depth, cli_depth, atol=1e-5)


def test_picture_inputs_reach_the_page_with_their_settings():
    from demos.layout import build_demo

    config = build_demo(BUNDLED).get_config_file()
    pictures = [c for c in config["components"] if c["type"] == "image" and c.get("props", {}).get("label") == "Picture"]
    assert len(pictures) == 2  # the image-depth and mirror-ablation tabs
    assert sorted(tuple(c["props"]["sources"]) for c in pictures) == [("upload", "clipboard"),
                                                                      ("upload", "clipboard", "webcam")]
    for picture in pictures:
        assert picture["props"]["type"] == "filepath"
        assert picture["props"]["buttons"] == ["download", "share", "fullscreen"]


def test_colourbar_states_the_metre_range_the_colours_span(client):
    from gradio_client import handle_file

    from common.depth_io import display_range

    _, bar, files, *_ = client.predict(handle_file(str(EXAMPLE_RGB)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "",
                                       api_name="/predict_depth")
    lo, hi = display_range(np.load(files[0]))
    assert f"near {lo:.2f} m" in bar and f"far {hi:.2f} m" in bar
    _, fixed_bar, *_ = client.predict(handle_file(str(EXAMPLE_RGB)), "turbo", False, 1.0, 4.5, 63.0, 0.0, BUNDLED, "",
                                      api_name="/predict_depth")
    assert "near 1.00 m" in fixed_bar and "far 4.50 m" in fixed_bar


def test_recolouring_does_not_run_the_model_again(client, monkeypatch):
    """The depth stays in session state: a new colour map or range only re-colours it."""
    from gradio_client import handle_file
    from PIL import Image

    from demos.models import registry

    (before, after), _, files, *_ = client.predict(
        handle_file(str(EXAMPLE_RGB)), "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "", api_name="/predict_depth")
    predictor = registry().get(BUNDLED).predictor
    calls = []
    monkeypatch.setattr(predictor, "predict", lambda *a, **k: calls.append(a) or pytest.fail("the model ran again"))
    (_, recoloured), bar, new_files = client.predict("viridis", False, 1.0, 3.0, api_name="/recolour_depth")
    assert calls == []
    assert "near 1.00 m" in bar and "far 3.00 m" in bar and "viridis" in bar
    assert Path(new_files[2]).name == "scene_00000_depth_viridis.png" and new_files[0].endswith("depth_metres.npy")
    assert not np.array_equal(np.asarray(Image.open(recoloured)), np.asarray(Image.open(after)))


def test_model_line_names_the_clip_and_training_for_current_and_project_pretrained_clips():
    from dataclasses import replace

    from demos.labels import model_line
    from mirror_model.predict import load_predictor

    info = load_predictor(BUNDLED).info  # the bundle sits on the world CLIP pretrained by this project
    line = model_line(info)
    assert "pretrained here on procedural rooms, frozen" in line and "trained on 4000 procedural RGB-D scenes" in line
    assert "real photo" in line
    random_clip = replace(info, clip_name="tiny-vit", clip_pretrained=None, clip_weights_from="bundled")
    assert "random init (never pretrained)" in model_line(random_clip)
    untrained = replace(info, trained=False, training_data=None)
    assert "UNTRAINED" in model_line(untrained) and "real photo" not in model_line(untrained)


def test_attention_sliders_span_the_bundled_model_before_the_first_run(app_url):
    import demos.attention_tab as tab
    from eembed_model.attention import attention_for_text, load_attention_model

    result = attention_for_text("vim editor", load_attention_model())
    assert tab.bundled_shape() == (result["layers"], result["heads"])


def test_the_app_loads_the_depth_model_with_the_measured_cpu_arithmetic():
    from demos.models import registry
    from mirror_model.predict import CPU_PRECISION

    assert registry().get().predictor.precision == CPU_PRECISION
