"""Hostile and degenerate uploads sent to every handler as the app wires it (behind the error
boundary): each answer is a plain sentence with the expected words, never a server path, an
exception class name, library text or a traceback, and the degenerate inputs get a plain answer,
not an error id. Every input is made here, small: sizes are declared in headers, not allocated."""
from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest

from demos.errors import guarded

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_RGB = str(ROOT / "examples" / "scenes" / "rgb" / "scene_00000.png")
EXAMPLE_VIDEO = str(ROOT / "examples" / "video" / "video.mp4")  # 24 frames, 320x240
VIDEO_FRAMES, VIDEO_HW = 24, (240, 320)
BUNDLED = "synthetic-tiny"

FORBIDDEN = [
    re.compile(r"/tmp/|/root/|/work|/home/|\\\\"),  # server paths
    re.compile(r"\b[A-Z]\w*(Error|Exception|Warning)\b"),  # exception class names
    re.compile(r"Traceback|File \"", re.I),
    re.compile(r"allow_pickle|pickled|could not convert|invalid literal|cv2\.|numpy\.core|dtype\('", re.I),  # library text
    re.compile(r"ground_truth[/:]|sequence_\d"),  # the names of the server's own work folders for uploads
]


def message_of(handler, *args) -> str | None:
    """The message the user sees from `handler(*args)` behind the error boundary; None on success."""
    try:
        result = guarded(handler)(*args)
        if hasattr(result, "__next__"):
            list(result)
    except gr.Error as error:
        return str(error.message)
    return None


def assert_plain(message: str | None, *words: str) -> None:
    assert message is not None, "expected a refusal"
    for pattern in FORBIDDEN:
        assert not pattern.search(message), f"{pattern.pattern!r} in {message!r}"
    assert "error id" not in message, f"an error id where a plain answer is due: {message!r}"
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# ---------------------------------------------------------------- inputs, made small

def png_header_only(path: Path, width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> str:
    """A PNG that declares width x height but holds almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return str(path)


def npy_header_bytes(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npz_declaring(path: Path, **shapes: tuple[int, ...]) -> str:
    """An .npz whose members declare these shapes (float32) and carry a few bytes: what a small
    upload of compressed zeros looks like before it is decompressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, shape in shapes.items():
            archive.writestr(f"{key}.npy", npy_header_bytes(shape) + b"\x00" * 64)
    return str(path)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_video(path: Path, width: int, height: int, frames: int = 4) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for i in range(frames):
        writer.write(np.full((height, width, 3), (40 * i) % 256, np.uint8))
    writer.release()
    return str(path)


def depth_png(path: Path, shape=VIDEO_HW, mm: int = 2000) -> str:
    cv2.imwrite(str(path), np.full(shape, mm, np.uint16))
    return str(path)


# ---------------------------------------------------------------- handlers as wired

def predict_picture(image):
    from demos.image_tab import predict_image

    return predict_image(image, "turbo", True, 0.5, 10.0, 63.0, 0.0, BUNDLED, "")


def webcam_frame(image):
    from demos.webcam_tab import single_frame

    return single_frame(image, 320, BUNDLED, "")


def ablate(image, ground_truth=None):
    from demos.ablation_tab import ablate

    return ablate(image, ground_truth, ["learned"], False, BUNDLED, "")


def analyse(video=EXAMPLE_VIDEO, depth_files=None, gt_files=None, include_model=False, max_side=160):
    from demos.video_tab import analyse_video

    return analyse_video(video, 5, 8, max_side, BUNDLED, "", depth_files, "auto", "auto", "both", gt_files,
                         include_model or not depth_files)


PICTURE_HANDLERS = [predict_picture, webcam_frame, ablate]


# ---------------------------------------------------------------- pictures

@pytest.mark.parametrize("handler", PICTURE_HANDLERS, ids=lambda h: h.__name__)
def test_unreadable_pictures_get_one_plain_sentence(tmp_path, handler):
    garbage = tmp_path / "bad.png"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    cut = tmp_path / "cut.png"
    cut.write_bytes(Path(EXAMPLE_RGB).read_bytes()[:400])
    for path in (garbage, empty, text, cut):
        assert_plain(message_of(handler, str(path)), "not a readable")


@pytest.mark.parametrize("handler", PICTURE_HANDLERS, ids=lambda h: h.__name__)
def test_pictures_carrying_mostly_metadata_are_refused_before_any_decoder_opens_them(tmp_path, handler):
    pixels = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    segment = b"\xff\xe1" + struct.pack(">H", 65535) + b"\x00" * 65533  # one full APP1 segment
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(pixels[:2] + segment * 160 + pixels[2:])  # 10 MB of metadata before the frame header
    chunk = b"prVt" + b"\x00" * (10 * 2**20)  # a 10 MB private chunk before the pixels of a PNG
    png = cv2.imencode(".png", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    padded_png = tmp_path / "padded.png"
    padded_png.write_bytes(png[:33] + struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
                           + png[33:])
    for path in (padded, padded_png):
        started = time.perf_counter()
        message = message_of(handler, str(path))
        assert time.perf_counter() - started < 2.0
        assert_plain(message, "holds too much besides its pixels", f"{path.name} is 10.0 MB",
                     "its 320x240 pixels need at most 0.6 MB", "without its metadata")
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(pixels[:2] + segment * 4 + pixels[2:])  # a little metadata is fine
    assert message_of(handler, str(plain)) is None


@pytest.mark.parametrize("handler", PICTURE_HANDLERS, ids=lambda h: h.__name__)
def test_oversized_tiny_and_thin_pictures_get_plain_answers(tmp_path, handler):
    assert_plain(message_of(handler, png_header_only(tmp_path / "bomb.png", 20000, 20000)), "too large", "25 megapixels")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((4, 4, 3), np.uint8))
    assert_plain(message_of(handler, str(tiny)), "4x4 pixels", "at least 8x8")
    thin = tmp_path / "thin.png"  # 16384x8: downscaled to the model's size it would be 1 px high
    cv2.imwrite(str(thin), np.full((8, 16384, 3), 128, np.uint8))
    assert_plain(message_of(handler, str(thin)), "16384x8 pixels", "Crop it")


def test_the_picture_component_refuses_undecodable_uploads_in_plain_words(tmp_path):
    from demos.inputs import PictureInput

    garbage = tmp_path / "bad.webp"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64)
    component = PictureInput(type="numpy")
    with pytest.raises(gr.Error) as refused:
        component.preprocess(gr.FileData(path=str(garbage), orig_name="bad.webp"))
    assert_plain(str(refused.value.message), "not a readable picture")


# ---------------------------------------------------------------- ground truth of the ablation tab

def test_ablation_ground_truth_degenerate_and_hostile(tmp_path):
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 0), np.float32))
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(empty)), "empty (0x0 pixels)")
    nothing = tmp_path / "zeros.npy"
    np.save(nothing, np.zeros((24, 32), np.float32))
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(nothing)), "no valid depth")
    large = png_header_only(tmp_path / "large.png", 6000, 5000, bit_depth=16, colour_type=0)  # 30 megapixels
    assert_plain(message_of(ablate, EXAMPLE_RGB, large), "The ground truth is too large", "25 megapixels")
    large_npy = tmp_path / "large.npy"
    large_npy.write_bytes(npy_header_bytes((6000, 5000)))
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(large_npy)), "The ground truth is too large", "25 megapixels")
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(pickled)), "Could not read the ground truth")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(np.random.default_rng(1).bytes(3000))
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(garbage)), "Could not read the ground truth")


# ---------------------------------------------------------------- the video tab

def test_unreadable_and_degenerate_videos(tmp_path):
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(np.random.default_rng(2).bytes(4000))
    assert_plain(message_of(analyse, str(garbage)), "Could not read the video")
    thin = write_video(tmp_path / "thin.avi", 2000, 16)  # downscaled to 160 px it would be 1 px high
    assert_plain(message_of(analyse, thin), "2000x16 pixels", "optical flow")


def test_depth_sequences_sized_from_headers_before_loading(tmp_path):
    bomb = npz_declaring(tmp_path / "bomb.npz", depth=(16000, 16000))  # a GB of float32, declared in a few bytes
    stack = npz_declaring(tmp_path / "stack.npz", depth=(VIDEO_FRAMES, 6000, 6000))
    tracemalloc.start()
    try:
        for upload in (bomb, stack):
            assert_plain(message_of(analyse, EXAMPLE_VIDEO, [upload]), "The depth sequence is too large", "25 megapixels")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # nothing near the declared size was allocated


def test_unreadable_depth_files_are_named_without_paths(tmp_path):
    garbage = tmp_path / "bad.png"
    garbage.write_bytes(np.random.default_rng(3).bytes(500))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(garbage)]), "Could not read the depth sequence", "bad.png")
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(pickled)]), "objects.npy", "not numbers")
    four_d = tmp_path / "channels.npy"
    np.save(four_d, np.ones((VIDEO_FRAMES, 1, 12, 16), np.float32))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(four_d)]), "squeeze the channel axis")


def test_zips_are_sized_from_their_directory_before_extracting(tmp_path, monkeypatch):
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(2001):
            archive.writestr(f"f/{i}.npy", b"")
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(many)]), "holds 2001 files", "at most 2000")
    monkeypatch.setenv("APP_MAX_UNPACKED_MB", "1")  # the same check as the default 512 MB, on a 3 MB member
    zeros = tmp_path / "zeros.zip"
    with zipfile.ZipFile(zeros, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("seq/0.npy", npy_bytes(np.ones(VIDEO_HW, np.float32)))
        archive.writestr("seq/padding.bin", b"\x00" * (3 * 2**20))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(zeros)]), "unpacks to 3 MB", "the limit is 1 MB")


def zip_stating(path: Path, members: int, directory_bytes: int, zip64: bool = False, real_members: int = 1) -> str:
    """A small zip of `real_members` empty files whose end record (or ZIP64 end record) states
    `members` members and a central directory of `directory_bytes`: what a zip of a million
    members says of itself, without the million."""
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(real_members):
            archive.writestr(f"{i}.npy", b"")
    data = path.read_bytes()
    end = data.rindex(b"PK\x05\x06")
    directory_at = struct.unpack("<L", data[end + 16:end + 20])[0]
    if zip64:
        record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, members, members, directory_bytes, directory_at)
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
        tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        path.write_bytes(data[:end] + record + locator + tail)
    else:
        tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, members % 0x10000, members % 0x10000, directory_bytes,
                           directory_at, 0)
        path.write_bytes(data[:end] + tail)
    return str(path)


def test_a_video_stating_under_one_frame_per_second_gets_a_plain_answer(tmp_path):
    slow = tmp_path / "slow.avi"
    writer = cv2.VideoWriter(str(slow), cv2.VideoWriter_fourcc(*"MJPG"), 0.25, (320, 240))
    for i in range(4):
        writer.write(np.full((240, 320, 3), 60 * i, np.uint8))
    writer.release()
    assert_plain(message_of(analyse, str(slow)), "The video slow.avi states 0.25 frames per second",
                 "needs at least 1", "Re-encode it at its playback rate")


def test_a_depth_video_is_checked_by_its_container_before_any_frame_is_decoded(tmp_path, monkeypatch):
    # three frames stated by the container, none decodable (each JPEG's first 400 bytes wiped): the
    # count is refused from the container alone (decoding first said "no decodable video frame")
    video = Path(write_video(tmp_path / "three.avi", 320, 240, frames=3))
    data, at = bytearray(video.read_bytes()), 0
    while (at := data.find(b"\xff\xd8\xff", at)) != -1:
        data[at:at + 400] = bytes(400)
        at += 400
    video.write_bytes(bytes(data))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(video)]), "The depth sequence does not fit the video",
                 "three.avi: 3 depth frames, but the video has 24 frames")
    # the frame size the container states, against the depth-video cap (4K UHD, or the picture cap when lower)
    monkeypatch.setenv("APP_MAX_IMAGE_PIXELS", "100000")
    wide = write_video(tmp_path / "wide.avi", 640, 480, frames=24)
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [wide]), "wide.avi: its frames are 640x480 pixels (0.3 megapixels)",
                 "a depth video may have at most 0.1 megapixels per frame")


def test_zip_member_counts_come_from_the_end_records_before_zipfile_parses(tmp_path):
    from common.zip_directory import read_zip_directory

    real = tmp_path / "real.zip"
    with zipfile.ZipFile(real, "w") as archive:
        for i in range(300):
            archive.writestr(f"f/{i:03d}.npy", b"")
    assert read_zip_directory(real).members == 300
    assert read_zip_directory(real).directory_bytes == sum(46 + len(info.filename) for info in zipfile.ZipFile(real).infolist())
    # a million members (ZIP64 records) as depth, as a depth .npz and as ground truth: refused by the
    # count the end records state; ZipFile itself would have to parse 56 MB of directory first
    million64 = zip_stating(tmp_path / "million.zip", 1_000_000, 56_000_000, zip64=True)
    assert read_zip_directory(million64).members == 1_000_000
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [million64]), "million.zip holds 1000000 files", "at most 2000")
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [million64]), "Could not read the ground truth",
                 "holds 1000000 files")
    npz = zip_stating(tmp_path / "million.npz", 1_000_000, 56_000_000, zip64=True)
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [npz]), "million.npz holds 1000000 arrays", "at most 64")
    # a plain end record (under 65,536 members), and one that understates the count but not its directory's size
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [zip_stating(tmp_path / "many.zip", 60_000, 3_000_000)]),
                 "many.zip holds 60000 files")
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [zip_stating(tmp_path / "liar.zip", 1, 30_000_000)]),
                 "liar.zip: its directory takes 28.6 MB", "at most 2000")


@pytest.mark.parametrize("content, words", [
    ("[" * 50_000 + "]" * 50_000, "nests lists or objects more than 32 levels"),
    ('{"fx": "a", "fy": 1, "cx": 1, "cy": 1}', "must be numbers"),
    ('{"fx": 0, "fy": 0, "cx": 0, "cy": 0}', "focal lengths fx and fy above 0"),
    ("[[1, 2], [3]]", "3x3 matrix"),
    ("{not json", "not valid JSON (line 1, column 2)"),
])  # fmt: skip
def test_bad_intrinsics_get_plain_answers(tmp_path, content, words):
    (tmp_path / "intrinsics.json").write_text(content)
    files = [depth_png(tmp_path / "0.png"), str(tmp_path / "intrinsics.json")]
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, files, True), "Could not read the ground truth", words)


@pytest.mark.parametrize("content, words", [
    ("42", "expected a list of 4x4 poses"),
    ('{"frames": 5}', "'frames' must be a list"),
    ('[[["a", 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]', "pose 0 must be a 4x4 matrix of numbers"),
    ('{"poses": [[1, 2]]}', "pose 0 must be a 4x4 matrix of numbers"),
    (json.dumps([np.eye(4).tolist()] * 3), "Could not read the ground truth: 3 poses for 1 depth frame"),
    ("[" + "1" * 5000 + "]", "poses.json holds an integer with 5000 digits"),
])  # fmt: skip
def test_bad_poses_get_plain_answers(tmp_path, content, words):
    (tmp_path / "intrinsics.json").write_text('{"fx": 200, "fy": 200, "cx": 160, "cy": 120}')
    (tmp_path / "poses.json").write_text(content)
    files = [depth_png(tmp_path / "0.png"), str(tmp_path / "intrinsics.json"), str(tmp_path / "poses.json")]
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, files, True), "Could not read the ground truth", words)


def test_a_picture_entry_naming_a_url_gets_the_plain_unreadable_input_answer():
    from gradio.data_classes import FileData

    from demos.inputs import PictureInput

    picture = PictureInput(type="filepath", image_mode=None)
    for payload in (FileData(path="https://example.com/x.png", url="https://example.com/x.png"),
                    FileData(path="", url="https://example.com/x.png")):
        with pytest.raises(gr.Error) as refused:
            picture.preprocess(payload)
        assert_plain(refused.value.message, "One of the inputs could not be read", "uploaded to this server first")


def test_a_streamed_webcam_frame_as_a_data_url_is_decoded_here():
    """The page streams webcam frames inline (a data: URL, no file): decoded on this server, no fetch."""
    import base64
    import io

    from gradio.data_classes import FileData
    from PIL import Image

    from demos.inputs import PictureInput

    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), 200, np.uint8)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    frame = PictureInput(type="numpy").preprocess(FileData(path="", url=url))
    assert frame.shape == (24, 32, 3) and int(frame[0, 0, 0]) == 200


def test_ground_truth_npz_checked_from_headers(tmp_path):
    garbage = tmp_path / "truth.npz"
    garbage.write_bytes(np.random.default_rng(4).bytes(3000))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [str(garbage)], True), "Could not read the ground truth",
                 "truth.npz: not a readable .npz")
    large = npz_declaring(tmp_path / "large.npz", depth=(VIDEO_FRAMES, 4000, 8000), K=(3, 3))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [large], True), "The ground truth is too large", "25 megapixels")
    huge_k = npz_declaring(tmp_path / "huge_k.npz", depth=(VIDEO_FRAMES, 24, 32), K=(30000, 30000))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [huge_k], True), "K must be a 3x3 matrix")
    poses = npz_declaring(tmp_path / "poses.npz", depth=(VIDEO_FRAMES, 24, 32), K=(3, 3), poses=(10**6, 4, 4))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [poses], True), f"poses must be ({VIDEO_FRAMES}, 4, 4)")


def test_a_huge_integer_stack_is_analysed_not_an_error(tmp_path):
    stack = tmp_path / "huge.npy"  # 2**62 metres: nonsense, but numbers; colouring once divided by zero
    np.save(stack, np.full((VIDEO_FRAMES, 24, 32), 2**62, np.int64))
    assert message_of(analyse, EXAMPLE_VIDEO, [str(stack)]) is None


def test_a_bad_depth_frame_is_skipped_with_a_note_not_blamed_on_the_video(tmp_path):
    from demos.video_tab import analyse_video

    files = [str(tmp_path / f"{i:02d}.npy") for i in range(VIDEO_FRAMES)]
    for i, path in enumerate(files):
        np.save(path, np.full((24, 32), 1.0 + 0.01 * i, np.float32))
    Path(files[5]).write_bytes(b"garbage, not an array")
    result = guarded(analyse_video)(EXAMPLE_VIDEO, 5, 8, 160, BUNDLED, "", files, "auto", "auto", "both", None, False)
    notes = result[6]
    assert r"05\.npy" in notes and "count as frames without depth" in notes  # shown as written: Markdown escaped
    assert not any(pattern.search(notes) for pattern in FORBIDDEN)


def test_uploaded_names_are_shown_as_written_never_as_markdown_or_html(tmp_path):
    from demos.video_tab import analyse_video

    hostile = ["04 <img src=x onerror=alert(1)>.npy", "05 [click here](https:example.com) **bold**.npy",
               "06 \u202eypn.exe.npy"]  # the last one's right-to-left override would show it reversed
    archive = tmp_path / "names <b>x.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for i in range(VIDEO_FRAMES):
            name = next((h for h in hostile if h.startswith(f"{i:02d} ")), f"{i:02d}.npy")
            handle.writestr(name, b"not an array" if name in hostile else npy_bytes(np.full((24, 32), 1.0 + 0.01 * i, np.float32)))
    result = guarded(analyse_video)(EXAMPLE_VIDEO, 5, 8, 160, BUNDLED, "", [str(archive)], "auto", "auto", "both", None, False)
    table, notes = result[3], result[6]
    assert "count as frames without depth" in notes
    assert r"04 \<img src\=x onerror\=alert\(1\)\>\.npy" in notes and not re.search(r"(?<!\\)[<>]", notes)
    assert r"\[click here\]\(https\:example\.com\) \*\*bold\*\*" in notes and "](" not in notes
    assert "\u202e" not in notes and r"06 ypn\.exe\.npy" in notes
    assert r"names \<b\>x" in table and "<b>" not in table
    # the same names in a refusal: HTML entities (the page shows messages as HTML), no bidi control
    many = tmp_path / "\u202eevil <img src=x>.zip"
    with zipfile.ZipFile(many, "w") as handle:
        for i in range(3):
            handle.writestr(f"{i}.npy", npy_bytes(np.ones((24, 32), np.float32)))
    message = message_of(analyse, EXAMPLE_VIDEO, [str(many)])
    assert_plain(message, "evil &lt;img src=x&gt;: 3 depth frames")
    assert "\u202e" not in message and "<img" not in message


def test_frame_cloud_and_attention_refuse_plainly():
    from demos.attention_tab import analyse_text
    from demos.video_tab import frame_cloud

    assert_plain(message_of(frame_cloud, None, 0, 63.0), "Analyse a video first")
    assert_plain(message_of(frame_cloud, {"frames_file": "/nowhere/x.bin", "entries": [[0, 0, 8, 8]]}, 0, 63.0),
                 "Analyse the video again")
    assert_plain(message_of(analyse_text, "x" * 5000, 0, 0), "at most 2000")
    assert_plain(message_of(analyse_text, "   ", 0, 0), "The text is empty")


def test_a_non_depth_checkpoint_is_named_in_plain_words():
    from demos.models import registry

    status = registry().get("custom", "checkpoints/eembed-debtags").status
    assert "not a mirror depth checkpoint" in status and "unknown fields" not in status and "[" not in status.split("—")[1][:200]


# ---------------------------------------------------------------- the request body limit

def multipart_body(files: dict[str, bytes], boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body holding `files` (each a part named "files"), and its headers."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_the_body_limit_refuses_declared_and_streamed_oversize():
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from demos.body_limit import BodyLimit

    async def echo(request):
        return PlainTextResponse(str(len(await request.body())))

    app = Starlette(routes=[Route("/upload", echo, methods=["POST"])],
                    middleware=[Middleware(BodyLimit, max_bytes=1000, max_json_bytes=300, max_files=3)])
    form = {"Content-Type": "multipart/form-data; boundary=x"}
    with TestClient(app) as client:
        assert client.post("/upload", content=b"x" * 1000, headers=form).text == "1000"
        refused = client.post("/upload", content=b"x" * 1001, headers=form)
        assert refused.status_code == 413 and "larger than this server accepts" in refused.text
        streamed = client.post("/upload", content=(b"x" * 600 for _ in range(3)), headers=form)  # chunked: no Content-Length
        assert streamed.status_code == 413
        # any body that is not multipart (an API call's JSON) has the smaller limit, declared or streamed
        assert client.post("/upload", content=b"[" + b"0," * 148 + b"0]").status_code == 200  # 299 bytes
        for body in (b"[" + b"0," * 200 + b"0]", (b"0," * 100 for _ in range(3))):
            json_refused = client.post("/upload", content=body, headers={"Content-Type": "application/json"})
            assert json_refused.status_code == 413 and "for an API call (0.3 kB)" in json_refused.text
        # parts of a multipart body are counted as they stream in: 3 files pass, 4 are refused
        three, headers = multipart_body({f"{i}.bin": b"12345" for i in range(3)})
        four, _ = multipart_body({f"{i}.bin": b"12345" for i in range(4)})
        assert client.post("/upload", content=three, headers=headers).text == str(len(three))
        for body in (four, (four[i:i + 7] for i in range(0, len(four), 7))):  # delimiters split across chunks too
            too_many = client.post("/upload", content=body, headers=headers)
            assert too_many.status_code == 413 and "at most 3 files" in too_many.text


def test_the_app_refuses_an_oversized_request_before_reading_it(app_url):
    import socket
    from urllib.parse import urlparse

    from demos.inputs import max_request_bytes

    url = urlparse(app_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: multipart/form-data; "
                     f"boundary=x\r\nContent-Length: {max_request_bytes() + 1}\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(4096):  # the server closes the connection after its answer
            reply += chunk
        reply = reply.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413") and "larger than this server accepts" in reply


def test_the_launch_options_bound_every_uploaded_file():
    from demos.inputs import max_file_bytes

    assert max_file_bytes() == 100 * 2**20


# ---------------------------------------------------------------- threads of the temporal pipeline

def test_a_failing_source_leaves_no_stage_thread_behind():
    """The model (calling thread) fails while the decoding and flow stages still have frames to
    give: every stage is stopped and joined before the error reaches the caller (a stage left
    inside OpenCV at interpreter exit aborted the process with SIGABRT)."""
    from analysis.temporal import analyze_sources
    from common.frames import FrameSample

    rgb = np.zeros((24, 32, 3), np.uint8)
    frames = (FrameSample(index, index / 10, rgb) for index in range(200))

    class FailsAtFrame6:
        name, note, is_reference = "fails", "", False

        def prepare(self, source):
            pass

        def depths(self, batch):
            if batch[-1].index >= 6:
                raise ValueError("the model failed at frame 6")
            return [np.ones((24, 32), np.float32) for _ in batch]

    with pytest.raises(ValueError, match="failed at frame 6"):
        analyze_sources(frames, [FailsAtFrame6()], batch_size=2, progress=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("temporal-") and t.is_alive()]


def test_json_reader_limits(tmp_path):
    from common.jsonio import read_json

    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"a": [[[[1]]]]}))
    assert read_json(path) == {"a": [[[[1]]]]}
    with pytest.raises(ValueError, match="more than 3 levels"):
        read_json(path, max_depth=3)
    with pytest.raises(ValueError, match="deep.json is 0.0 MB; a JSON file may be at most"):
        read_json(path, max_bytes=10)


def test_temporal_cli_skips_a_garbage_frame_with_a_warning_and_finishes(tmp_path):
    import subprocess
    import sys

    video = write_video(tmp_path / "clip.avi", 32, 24, frames=20)
    depths = tmp_path / "depths"
    depths.mkdir()
    for i in range(20):
        np.save(depths / f"{i:02d}.npy", np.full((24, 32), 1.0 + 0.01 * i, np.float32))
    (depths / "07.npy").write_bytes(np.random.default_rng(5).bytes(300))
    done = subprocess.run([sys.executable, "-m", "analysis.temporal", video, "--depth", str(depths), "--out",
                           str(tmp_path / "out"), "--quiet", "--no-video"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning: skipped depth frame 7 of depths (07.npy: not a readable .npy file" in done.stderr
    assert "Traceback" not in done.stderr and str(tmp_path) not in done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames"] == 20


# ---------------------------------------------------------------- round 2: memory, numbers, poses, Gradio's boundary

PEAK_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
from common.image_io import load_rgb
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    rgb = load_rgb({path!r}, max_pixels=25_000_000)
    answer = f"{{rgb.shape}} {{int(rgb[0, 0, 0])}} {{int(rgb[-1, -1, 2])}}"
except ValueError as error:
    answer = str(error)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, answer)
"""


def picture_peak(path: Path) -> tuple[int, str]:
    """(peak RSS in MB over the start, answer) of load_rgb(path) with the app's 25-megapixel cap,
    measured in a fresh process (OpenCV's buffers are invisible to tracemalloc)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT.format(root=str(ROOT), path=str(path))], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    peak, answer = done.stdout.strip().split(" ", 1)
    return int(peak), answer


def test_deep_pictures_under_the_pixel_cap_stay_within_300_mb(tmp_path):
    rgba16 = tmp_path / "rgba16.png"  # 25 MP of 16-bit RGBA: 200 MB decoded (was +940 MB in the app)
    cv2.imwrite(str(rgba16), np.zeros((5000, 5000, 4), np.uint16))
    peak, answer = picture_peak(rgba16)
    assert peak < 50 and "4 channels of 16 bits" in answer and "8 bits per channel" in answer, (peak, answer)
    assert_plain(message_of(predict_picture, str(rgba16)), "The picture is too large", "16 bits", "Save it with 8 bits")
    rgb16 = tmp_path / "rgb16.png"  # 16.0 MP of 16-bit RGB: 96 MB decoded, within the byte cap: read, and right
    picture = np.full((4000, 4000, 3), 65535, np.uint16)
    picture[-1, -1] = (32896, 0, 0)  # OpenCV's BGR: blue 32896 -> 128
    cv2.imwrite(str(rgb16), picture)
    del picture
    peak, answer = picture_peak(rgb16)
    assert answer == "(4000, 4000, 3) 255 128" and peak < 300, (peak, answer)
    from PIL import Image

    floats = tmp_path / "float.tiff"  # 25 MP of float32 grey: 100 MB decoded
    Image.fromarray(np.full((5000, 5000), 0.5, np.float32), mode="F").save(floats, compression="tiff_adobe_deflate")
    peak, answer = picture_peak(floats)
    assert answer == "(5000, 5000, 3) 128 128" and peak < 300, (peak, answer)


def test_to_rgb_uint8_converts_in_slabs_with_the_same_numbers():
    from common.image_io import to_rgb_uint8

    rng = np.random.default_rng(7)
    rgba16 = rng.integers(0, 65536, (1200, 900, 4), dtype=np.uint16)  # several 4 MB slabs
    as8 = ((rgba16.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint16)
    expected = ((as8[..., :3] * as8[..., 3:4] + 127) // 255).astype(np.uint8)
    assert np.array_equal(to_rgb_uint8(rgba16), expected)
    assert np.array_equal(to_rgb_uint8(rgba16[..., [2, 1, 0, 3]], bgr=True), expected)
    floats = rng.random((1500, 1000)).astype(np.float32)
    floats[0, 0] = np.nan
    got = to_rgb_uint8(floats)
    assert got[0, 0, 0] == 0 and got[10, 10, 1] == int(np.clip(floats[10, 10] * 255 + 0.5, 0, 255))


def npz_streamed(path: Path, shape: tuple[int, ...], descr: str, fortran: bool = False) -> str:
    """An .npz whose one member `depth` holds zeros of `shape` and `descr`, written in pieces."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("depth.npy", "w", force_zip64=True) as file:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
        file.write(buffer.getvalue())
        total, block = math.prod(shape) * np.dtype(descr).itemsize, bytes(2**24)
        while total > 0:
            file.write(block[: min(total, len(block))])
            total -= len(block)
    return str(path)


def test_deep_depth_maps_are_read_as_float32_a_few_mb_at_a_time(tmp_path):
    from common.depth_io import read_depth_file

    f64 = npz_streamed(tmp_path / "f64.npz", (4000, 5000), "<f8")  # 20 MP: 160 MB stored, 80 MB as float32
    tracemalloc.start()
    try:
        depth = read_depth_file(f64, max_pixels=25_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert depth.dtype == np.float32 and depth.shape == (4000, 5000)
    assert peak < 120 * 2**20, peak / 2**20  # the float32 map (80 MB) and a chunk; reading whole took 240 MB
    fortran = tmp_path / "fortran.npy"
    values = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.save(fortran, np.asfortranarray(values))
    assert np.array_equal(read_depth_file(fortran), values.astype(np.float32))


def test_a_depth_frame_count_is_checked_before_any_frame_is_read(tmp_path):
    from demos.models import registry

    single = npz_streamed(tmp_path / "f128.npz", (3000, 4000), "<f16")  # 192 MB of float128 in one frame
    registry().get(BUNDLED, "")  # the model's own first load is not what is measured
    tracemalloc.start()
    try:
        message = message_of(analyse, EXAMPLE_VIDEO, [single])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_plain(message, ": 1 depth frame, but the video has 24 frames")
    assert peak < 50 * 2**20, peak / 2**20


def test_fortran_order_stacks_are_refused_in_words_not_skipped_frame_by_frame(tmp_path):
    stack = tmp_path / "stack.npz"
    np.savez_compressed(stack, depth=np.asfortranarray(np.full((VIDEO_FRAMES, 24, 32), 2.0, np.float32)))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(stack)]), "stack.npz", "Fortran order", "C order")


def test_a_zip_counts_what_its_npz_members_hold(tmp_path):
    member = Path(npz_declaring(tmp_path / "m.npz", depth=(VIDEO_FRAMES, 4000, 4000)))
    archive = tmp_path / "frames.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for i in range(3):
            handle.write(member, f"{i:02d}.npz")
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(archive)]), "frames.zip unpacks to 4,395 MB",
                 "counting what its .npz files hold", "the limit is 512 MB")


def test_depth_wording_names_the_upload(tmp_path):
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((240, 320, 3), np.uint8))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, [str(colour)]), "colour.png: an 8-bit 3-channel picture, not a depth map")
    empty = tmp_path / "notes.zip"
    with zipfile.ZipFile(empty, "w") as handle:
        handle.writestr("readme.txt", "no depth here")
    message = message_of(analyse, EXAMPLE_VIDEO, [str(empty)])
    assert_plain(message, "notes.zip: holds no depth files")
    assert "sequence_0" not in message
    zero = write_video(tmp_path / "zero.avi", 320, 240, frames=0)
    assert_plain(message_of(analyse, zero), "holds no frames", "at least two frames")


@pytest.mark.parametrize("name, content, words", [
    ("intrinsics.json", '{"K": [[' + "1" * 5000 + ", 0, 160], [0, 300, 120], [0, 0, 1]]}", "an integer with 5000 digits"),
    ("intrinsics.json", '{"fx": NaN, "fy": 300, "cx": 160, "cy": 120}', "holds NaN"),
    ("intrinsics.json", '{"K": [[1e999, 0, 160], [0, 300, 120], [0, 0, 1]]}', "beyond the range of a float"),
    ("intrinsics.json", '{"K": [[1e300, 0, 160], [0, 1e300, 120], [0, 0, 1]]}', "focal lengths and a principal point in pixels"),
    ("poses.json", "[[[" + "9" * 5000 + ", 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]]", "an integer with 5000 digits"),
    ("poses.json", json.dumps([[[0.0] * 4] * 4] * VIDEO_FRAMES), "pose 0 is not a camera pose"),
    ("poses.json", json.dumps([np.diag([0.0, 0.0, 0.0, 1.0]).tolist()] * VIDEO_FRAMES), "determinant 0"),
])  # fmt: skip
def test_json_numbers_and_singular_poses_get_plain_answers(tmp_path, name, content, words):
    (tmp_path / "intrinsics.json").write_text('{"fx": 200, "fy": 200, "cx": 160, "cy": 120}')
    (tmp_path / name).write_text(content)
    files = [depth_png(tmp_path / "0.png"), str(tmp_path / "intrinsics.json")]
    files += [str(tmp_path / "poses.json")] if name == "poses.json" else []
    message = message_of(analyse, EXAMPLE_VIDEO, None, files, True)
    assert_plain(message, "Could not read the ground truth", words)
    assert "video could not be analysed" not in message


def test_singular_poses_in_a_ground_truth_npz_and_in_the_cli(tmp_path):
    import subprocess
    import sys

    truth = tmp_path / "truth.npz"
    np.savez_compressed(truth, depth=np.full((VIDEO_FRAMES, 24, 32), 2.0, np.float32),
                        K=np.array([[30.0, 0, 16], [0, 30, 12], [0, 0, 1]]), poses=np.zeros((VIDEO_FRAMES, 4, 4)))
    assert_plain(message_of(analyse, EXAMPLE_VIDEO, None, [str(truth)], True), "Could not read the ground truth",
                 "truth.npz: pose 0 is not a camera pose")
    scene = tmp_path / "scene"
    (scene / "depth").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(scene / "depth" / f"{i:02d}.png"), np.full((24, 32), 2000, np.uint16))
    (scene / "intrinsics.json").write_text('{"fx": 30, "fy": 30, "cx": 16, "cy": 12}')
    (scene / "poses.json").write_text(json.dumps([[[0.0] * 4] * 4] * 4))
    video = write_video(tmp_path / "clip.avi", 32, 24, frames=4)
    done = subprocess.run([sys.executable, "-m", "analysis.temporal", video, "--depth", str(scene / "depth"), "--gt",
                           str(scene), "--out", str(tmp_path / "out"), "--quiet", "--no-video"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "pose 0 is not a camera pose" in done.stderr and "Singular matrix" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("values", [np.full((240, 320), 2000.0), np.full((240, 320), 2.0**62), np.full((240, 320), 3.4e38)])
def test_ablation_ground_truth_outside_the_models_range_gets_a_plain_answer(tmp_path, values):
    path = tmp_path / "gt.npy"
    np.save(path, values)
    assert_plain(message_of(ablate, EXAMPLE_RGB, str(path)), "no pixel inside this model's range", "millimetres")


def test_plain_refusals_are_logged_at_info_without_a_traceback(caplog):
    import logging

    def refuses():
        raise gr.Error("The picture is empty.")

    with caplog.at_level(logging.INFO, logger="demos.errors"):
        with pytest.raises(gr.Error) as refused:
            guarded(refuses)()
    assert refused.value.print_exception is False
    record = [r for r in caplog.records if "The picture is empty." in r.getMessage()][0]
    assert record.levelno == logging.INFO and record.exc_info is None


def test_the_app_log_shows_each_refusal_as_one_line_and_errors_with_their_traceback():
    import logging

    from demos.errors import APP_LOGGERS, configure_logging

    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in APP_LOGGERS}
    stream = io.StringIO()
    handler = configure_logging(stream)
    try:
        def refuses():
            raise gr.Error("The picture is empty.")

        def fails():
            raise KeyError("/srv/secret")

        for handler_fn in (refuses, refuses, fails):
            with pytest.raises(gr.Error):
                guarded(handler_fn)()
    finally:
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate
    lines = stream.getvalue().splitlines()
    refusals = [line for line in lines if "The picture is empty." in line]
    assert len(refusals) == 2 and all(" INFO demos.errors: refused: " in line for line in refusals)
    errors = [line for line in lines if " ERROR demos.errors: handler error " in line]
    assert len(errors) == 1 and "Traceback" in stream.getvalue() and "KeyError" in stream.getvalue()
    assert stream.getvalue().count("Traceback") == 1  # the refusals carry none


def test_app_main_configures_the_log_before_serving():
    import inspect

    import app

    source = inspect.getsource(app.main)
    assert source.index("configure_logging()") < source.index("build_demo(")


# ---------------------------------------------------------------- Gradio's own processing and uploads, over HTTP

def boundary_test_app(upload_budget_bytes: int, max_request_bytes: int, max_json_bytes: int = 2**20, max_files: int = 256):
    """A small app built like the real one (BoundaryBlocks, guarded handler, body limit, upload
    budget, show_error off), with a picture, a slider and a choice."""
    from starlette.middleware import Middleware

    from demos.body_limit import BodyLimit
    from demos.errors import BoundaryBlocks
    from demos.storage import OutputStore
    from demos.upload_budget import UploadBudget

    def describe(picture, strength, colour):
        return f"{Path(picture).name} {strength:g} {colour}"

    with BoundaryBlocks() as demo:
        picture = gr.Image(type="filepath", label="Picture")
        strength = gr.Slider(0, 10, value=1, label="Strength")
        colour = gr.Dropdown(["red", "blue"], value="red", label="Colour")
        answer = gr.Textbox()
        gr.Button().click(guarded(describe), [picture, strength, colour], answer, api_name="describe")
    uploads = OutputStore(Path(gr.utils.get_upload_folder()) / "unused-outputs", upload_dir=Path(gr.utils.get_upload_folder()))
    uploads.uploads = demo.upload_file_set
    middleware = [Middleware(BodyLimit, max_bytes=max_request_bytes, max_json_bytes=max_json_bytes, max_files=max_files),
                  Middleware(UploadBudget, used_bytes=uploads.upload_bytes, max_bytes=upload_budget_bytes, recheck_s=0)]
    return demo, uploads, {"show_error": False, "app_kwargs": {"middleware": middleware}}


def call_api(url: str, api_name: str, data: list) -> tuple[str, str]:
    """(event, data) of the last message of a call through Gradio's HTTP API (/gradio_api/call)."""
    import httpx

    event_id = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=30).json()["event_id"]
    text = httpx.get(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=60).text
    events = re.findall(r"event: (\w+)\ndata: (.*)", text)
    return events[-1]


def test_gradio_preprocessing_errors_are_plain_over_http(tmp_path, monkeypatch):
    import httpx
    from conftest import free_port

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.chdir(tmp_path)  # a relative path then names a file of the server's working folder
    Path("x.png").write_bytes(Path(EXAMPLE_RGB).read_bytes())
    demo, uploads, options = boundary_test_app(upload_budget_bytes=400_000, max_request_bytes=2**20)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **options)
    try:
        uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": ("room.png", Path(EXAMPLE_RGB).read_bytes())},
                              timeout=30).json()[0]  # fmt: skip
        good = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
        assert call_api(url, "describe", [good, 3, "blue"]) == ("complete", '["room.png 3 blue"]')
        relative = {"path": "x.png", "meta": {"_type": "gradio.FileData"}}
        cases = [([relative, 3, "red"], "a file must be uploaded to this server first"),
                 ([good, "63", "red"], "Strength must be a number between 0 and 10; got '63'"),
                 ([good, 1e308, "red"], "Strength must be a number between 0 and 10; got 1e+308"),
                 ([good, 3, "green"], "Colour must be one of red, blue; got 'green'"),
                 (["not a picture", 3, "red"], "One of the inputs could not be read")]
        for data, words in cases:
            event, message = call_api(url, "describe", data)
            assert event == "error", (data, message)
            payload = json.loads(message)
            assert_plain(payload["error"] if isinstance(payload, dict) else payload, words)
            assert "Cannot move" not in message and "pydantic" not in message and "TypeError" not in message
        # the upload budget: what is held now plus the new request's size
        for i in range(3):  # each file different: Gradio stores uploads by their content's hash
            reply = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.bin", bytes([i]) * 150_000)}, timeout=30)
            if reply.status_code == 507:
                break
        assert reply.status_code == 507 and "as many uploads as it can" in reply.text
        # a body without a stated size is refused before it is read (it would slip past the count)
        chunks = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n\r\n", b"x" * 1000)
        chunked = httpx.post(f"{url}gradio_api/upload", content=iter(chunks), timeout=30,
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert chunked.status_code == 411 and "must state its size" in chunked.text
        assert not [p for p in (tmp_path / "gradio").iterdir() if p.is_file() and p.name.startswith("tmp")]
        uploads.upload_retention_s = 0  # nothing is in use: the sweep removes every upload
        uploads.cleanup(now=time.time() + 1)
        assert uploads.upload_bytes() == 0 and not demo.upload_file_set
    finally:
        demo.close()


def raw_upload_start(url: str, body: bytes, headers: dict[str, str], sent: int):
    """A socket that has sent an upload's headers (with its true Content-Length) and the first
    `sent` bytes of its body, and waits."""
    import socket
    from urllib.parse import urlparse

    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=10)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: {where.hostname}\r\n{head}Content-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body[:sent])
    return sock


def raw_reply(sock, wait_s: float) -> str:
    """The start of the answer on `sock` within `wait_s` seconds ("" when none came)."""
    sock.settimeout(wait_s)
    try:
        return sock.recv(4096).decode(errors="replace")
    except TimeoutError:
        return ""


def test_the_upload_budget_reserves_concurrent_uploads_and_counts_files_and_json_bodies(tmp_path, monkeypatch):
    import httpx
    from conftest import free_port

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo, uploads, options = boundary_test_app(upload_budget_bytes=400_000, max_request_bytes=2**20, max_json_bytes=4096,
                                               max_files=100)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **options)
    try:
        # three concurrent uploads of 150 kB each under a 400 kB budget: the first two reserve their
        # declared size on admission, the third is refused at once, before either has finished
        bodies = [multipart_body({f"part{i}.bin": bytes([i]) * 150_000}) for i in range(3)]
        socks = [raw_upload_start(url, body, headers, sent=2000) for body, headers in bodies]
        try:
            replies = [raw_reply(sock, 1.0) for sock in socks]
            assert replies[0] == replies[1] == "", replies
            assert replies[2].startswith("HTTP/1.1 507") and "as many uploads as it can" in replies[2]
            for sock, (body, _) in zip(socks[:2], bodies[:2]):
                sock.sendall(body[2000:])
                assert raw_reply(sock, 10.0).startswith("HTTP/1.1 200")
        finally:
            for sock in socks:
                sock.close()
        assert 300_000 < uploads.upload_bytes() < 400_000
        assert httpx.post(f"{url}gradio_api/upload", files={"files": ("more.bin", b"m" * 90_000)}, timeout=30).status_code == 507
        uploads.upload_retention_s = 0
        uploads.cleanup(now=time.time() + 1)
        assert uploads.upload_bytes() == 0
        # files count in whole disk blocks and their folder: 60 five-byte files (a few kB sent) hold
        # about 500 kB of disk, over the budget, so the body is cut off and leaves no part file
        body, headers = multipart_body({f"{i:02d}.bin": b"%05d" % i for i in range(60)})
        assert len(body) < 15_000
        cut = httpx.post(f"{url}gradio_api/upload", content=body, headers=headers, timeout=30)
        assert cut.status_code == 507 and "as many uploads as it can" in cut.text
        assert not [p for p in (tmp_path / "gradio").iterdir() if p.is_file() and p.name.startswith("tmp")]
        assert uploads.upload_bytes() == 0 and not demo.upload_file_set
        ten, headers = multipart_body({f"{i:02d}.bin": b"%05d" % i for i in range(10)})
        stored = httpx.post(f"{url}gradio_api/upload", content=ten, headers=headers, timeout=30)
        assert stored.status_code == 200 and len(stored.json()) == 10
        assert uploads.upload_bytes() == 10 * 8192  # a block for each file and one for its folder
        # more files in one request than the cap: refused as they stream in
        many, headers = multipart_body({f"{i:03d}.bin": b"x" for i in range(101)})
        refused = httpx.post(f"{url}gradio_api/upload", content=many, headers=headers, timeout=30)
        assert refused.status_code == 413 and "at most 100 files" in refused.text
        # an API call's JSON body over its own, smaller limit (a long list of numbers): refused unread
        big_call = httpx.post(f"{url}gradio_api/call/describe", content=b'{"data": [' + b"0," * 3000 + b"0]}",
                              headers={"Content-Type": "application/json"}, timeout=30)
        assert big_call.status_code == 413 and "for an API call (4 kB)" in big_call.text
    finally:
        demo.close()
