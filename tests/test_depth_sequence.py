"""Depth sequences made elsewhere and separately given ground truth (common.depth_sequence)."""
import json
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest

from common.depth_io import write_depth_png
from common.depth_sequence import check_matches, extract_zip, open_depth_sequence, open_ground_truth
from common.frames import open_frames
from common.video_io import ffmpeg_available, write_video

RNG = np.random.default_rng(0)
DEPTHS = [RNG.uniform(0.5, 6.0, size=(12, 16)).astype(np.float32) for _ in range(5)]


def test_folder_of_png_npy_and_npz_frames_in_natural_order(tmp_path):
    for kind in ("png", "npy", "npz"):
        folder = tmp_path / kind
        folder.mkdir()
        for i, depth in enumerate(DEPTHS):
            name = folder / f"frame_{i}.{kind}"  # frame_10 would sort before frame_2 by plain name
            if kind == "png":
                write_depth_png(name, depth)
            elif kind == "npy":
                np.save(name, depth)
            else:
                np.savez(name, depth=depth)
        sequence = open_depth_sequence(folder)
        assert (sequence.count, sequence.shape, sequence.values) == (5, (12, 16), "metric")
        frames = list(sequence)
        assert [index for index, _ in frames] == [0, 1, 2, 3, 4]
        tolerance = 5e-4 if kind == "png" else 0  # PNGs hold whole millimetres
        assert all(np.allclose(frame, depth, atol=tolerance) for (_, frame), depth in zip(frames, DEPTHS))


def test_stack_files_and_shape_errors(tmp_path):
    np.savez(tmp_path / "stack.npz", depth=np.stack(DEPTHS))
    np.save(tmp_path / "stack.npy", np.stack(DEPTHS))
    for name in ("stack.npz", "stack.npy"):
        sequence = open_depth_sequence(tmp_path / name, values="relative")
        assert sequence.kind == "stack" and sequence.count == 5 and sequence.values == "relative"
        assert np.array_equal(list(sequence)[3][1], DEPTHS[3])
    np.save(tmp_path / "flat.npy", DEPTHS[0])
    with pytest.raises(ValueError, match="frames, height, width"):
        open_depth_sequence(tmp_path / "flat.npy")
    (tmp_path / "mixed").mkdir()
    np.save(tmp_path / "mixed" / "a.npy", DEPTHS[0])
    np.save(tmp_path / "mixed" / "b.npy", DEPTHS[0][:6])
    notes = []  # a frame of another size is skipped (no depth), with a note naming it
    frames = list(replace(open_depth_sequence(tmp_path / "mixed"), on_skip=notes.append))
    assert np.array_equal(frames[0][1], DEPTHS[0]) and frames[1][1].shape == (12, 16) and not frames[1][1].any()
    assert len(notes) == 1 and "frame 1 (b.npy) is 16x6" in notes[0] and "one size" in notes[0]
    with pytest.raises(ValueError, match="unknown depth values"):
        open_depth_sequence(tmp_path / "stack.npz", values="inverse")


def test_grey_video_8_bit_with_polarity(tmp_path):
    grey = [np.full((24, 32), 40 * (i + 1), np.uint8) for i in range(4)]
    writer = cv2.VideoWriter(str(tmp_path / "grey.avi"), cv2.VideoWriter_fourcc(*"FFV1"), 10, (32, 24), isColor=False)
    for frame in grey:
        writer.write(frame)
    writer.release()
    disparity = open_depth_sequence(tmp_path / "grey.avi")  # default: disparity, near bright
    assert (disparity.count, disparity.shape, disparity.values, disparity.polarity, disparity.bit_depth) == \
        (4, (24, 32), "disparity", "near-bright", 8)
    assert [float(f[0, 0]) for _, f in disparity] == pytest.approx([40 / 255, 80 / 255, 120 / 255, 160 / 255])
    # near is dark: the stored values run the other way round from disparity
    flipped = open_depth_sequence(tmp_path / "grey.avi", values="disparity", polarity="near-dark")
    assert [float(f[0, 0]) for _, f in flipped] == pytest.approx([1 - 40 / 255, 1 - 80 / 255, 1 - 120 / 255, 1 - 160 / 255])
    with pytest.raises(ValueError, match="relative depth or disparity"):
        open_depth_sequence(tmp_path / "grey.avi", values="metric")


@pytest.mark.skipif(not ffmpeg_available(), reason="writing a 16-bit grey video needs the ffmpeg binary")
def test_grey_video_16_bit_keeps_its_precision(tmp_path):
    raw = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)
    (tmp_path / "raw").write_bytes(np.stack([raw, raw + 1]).tobytes())
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray16le", "-s", "32x24", "-r", "10",
                    "-i", str(tmp_path / "raw"), "-c:v", "ffv1", str(tmp_path / "grey16.mkv")], check=True, timeout=60)  # fmt: skip
    sequence = open_depth_sequence(tmp_path / "grey16.mkv", values="relative", polarity="near-dark")
    assert sequence.bit_depth == 16 and sequence.count == 2
    frames = [f for _, f in sequence]
    assert np.allclose(frames[1] * 65535, raw + 1, atol=1e-2)


def test_count_and_size_mismatches_are_named(tmp_path):
    np.savez(tmp_path / "stack.npz", depth=np.stack(DEPTHS))
    sequence = open_depth_sequence(tmp_path / "stack.npz")
    with pytest.raises(ValueError, match="5 depth frames, but the video has 7 frames") as short:
        check_matches(sequence, 7, (12, 16))
    # fewer frames than the clip: how this kind of sequence says which clip frames it holds
    assert "'frame_index'" in str(short.value) and "frames.json" not in str(short.value)
    with pytest.raises(ValueError) as long:
        check_matches(sequence, 3, (12, 16))
    assert "frame_index" not in str(long.value)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, depth in enumerate(DEPTHS):
        write_depth_png(folder / f"d{i}.png", depth)
    with pytest.raises(ValueError, match="5 depth frames, but the video has 7 frames") as files:
        check_matches(open_depth_sequence(folder), 7, (12, 16))
    assert "frames.json" in str(files.value)
    with pytest.raises(ValueError, match="16x12 but video frames are 16x16"):
        check_matches(sequence, 5, (16, 16))
    check_matches(sequence, 5, (24, 32))  # the same size scaled evenly is fine


def test_ground_truth_from_a_scene_folder_or_one_npz_attaches_to_a_video(tmp_path):
    rgbs = [np.full((24, 32, 3), 30 * i, np.uint8) for i in range(5)]
    video = write_video(tmp_path / "clip.mp4", rgbs, fps=10)
    K = np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]])
    poses = [np.eye(4) for _ in range(5)]
    for i, pose in enumerate(poses):
        pose[0, 3] = 0.1 * i
    folder = tmp_path / "truth"
    for i, depth in enumerate(DEPTHS):
        write_depth_png(folder / "depth" / f"frame_{i:05d}.png", depth)
    (folder / "intrinsics.json").write_text(json.dumps({"K": K.tolist()}))
    records = [{"name": f"frame_{i:05d}", "pose": pose.tolist()} for i, pose in enumerate(poses)]
    (folder / "poses.json").write_text(json.dumps({"frames": records}))
    np.savez(tmp_path / "truth.npz", depth=np.stack(DEPTHS), K=K, poses=np.stack(poses))
    for truth in (folder, tmp_path / "truth.npz"):
        frames = open_frames(video, target_fps=5, max_side=16, ground_truth=truth)  # video 32x24 -> 16x12
        assert frames.has_ground_truth and frames.has_poses
        samples = list(frames)
        assert [s.index for s in samples] == [0, 2, 4]
        assert samples[1].depth_gt.shape == (12, 16) and np.allclose(samples[1].depth_gt, DEPTHS[2], atol=5e-4)
        assert samples[1].intrinsics[0, 0] == pytest.approx(20.0)  # K is at the ground truth's 16x12
        assert samples[2].pose[0, 3] == pytest.approx(0.4)
    np.savez(tmp_path / "short.npz", depth=np.stack(DEPTHS[:3]), K=K, poses=np.stack(poses[:3]))
    with pytest.raises(ValueError, match="3 depth frames, but the video has 5 frames"):
        open_frames(video, ground_truth=tmp_path / "short.npz")
    np.savez(tmp_path / "no_k.npz", depth=np.stack(DEPTHS))
    with pytest.raises(ValueError, match="needs arrays depth"):
        open_ground_truth(tmp_path / "no_k.npz")


def test_zip_upload_unpacks_inside_its_folder(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "seq.zip", "w") as archive:
        for i, depth in enumerate(DEPTHS[:2]):
            archive.writestr(f"seq/{i}.npy", _npy_bytes(depth))
    folder = extract_zip(tmp_path / "seq.zip", tmp_path / "out")
    assert folder.name == "seq" and open_depth_sequence(folder).count == 2
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr("../escape.npy", _npy_bytes(DEPTHS[0]))
    with pytest.raises(ValueError, match="outside the archive"):
        extract_zip(tmp_path / "evil.zip", tmp_path / "out2")
    assert not (tmp_path / "escape.npy").exists()


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
