"""Depth datasets: BTS/AdaBins layouts for NYU and KITTI, RGB-D folders, deterministic augmentation."""
import json

import cv2
import numpy as np
import pytest
import torch

from mirror_model.data import Augmentation, bts_dataset, build_dataset, kb_crop, read_split_file, rgbd_folder_dataset


def write_pair(rgb_path, depth_path, depth_units, size=(24, 32), seed=0):
    rng = np.random.default_rng(seed)
    rgb_path.parent.mkdir(parents=True, exist_ok=True)
    depth_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(rgb_path), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    cv2.imwrite(str(depth_path), np.asarray(depth_units, np.uint16) * np.ones(size, np.uint16))


def test_nyu_layout_reads_millimetres_and_caps_at_10_m(tmp_path):
    root = tmp_path / "nyu" / "sync"
    write_pair(root / "kitchen_0028a/rgb_00045.jpg", root / "kitchen_0028a/sync_depth_00045.png", 2500)
    write_pair(root / "office_0001/rgb_00001.jpg", root / "office_0001/sync_depth_00001.png", 12000, seed=1)
    split = tmp_path / "nyudepthv2_train_files_with_gt.txt"
    split.write_text("/kitchen_0028a/rgb_00045.jpg /kitchen_0028a/sync_depth_00045.png 518.8579\n"
                     "/office_0001/rgb_00001.jpg /office_0001/sync_depth_00001.png 518.8579\n")
    dataset = bts_dataset("nyu", root, split)
    sample = dataset[0]
    assert sample["image"].shape == (3, 24, 32) and sample["image"].dtype == torch.float32
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    assert torch.allclose(sample["depth"], torch.full((1, 24, 32), 2.5))
    assert sample["focal"] == pytest.approx(518.8579)
    assert float(dataset[1]["depth"].max()) == 0.0  # 12 m is beyond NYU's 10 m cap: no ground truth


def test_kitti_layout_uses_gt_root_256_scale_benchmark_crop_and_skips_missing_depth(tmp_path):
    raw, gt = tmp_path / "raw", tmp_path / "gt"
    rgb_rel = "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png"
    depth_rel = "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png"
    write_pair(raw / rgb_rel, gt / depth_rel, 256 * 20, size=(375, 1242))
    (raw / "2011_09_26/2011_09_26_drive_0005_sync/image_02/data").mkdir(parents=True)
    split = tmp_path / "eigen_test_files_with_gt.txt"
    split.write_text(f"{rgb_rel} {depth_rel} 721.5377\n2011_09_26/2011_09_26_drive_0005_sync/image_02/data/1.png None 721.5377\n")
    dataset = bts_dataset("kitti", raw, split, gt_root=gt)
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample["depth"].shape == (1, 352, 1216)
    assert torch.allclose(sample["depth"], torch.full_like(sample["depth"], 20.0))


def test_kb_crop_is_bottom_centred():
    depth = np.arange(375 * 1242, dtype=np.float32).reshape(375, 1242)
    _, cropped = kb_crop(depth[..., None], depth)
    assert cropped.shape == (352, 1216)
    assert cropped[0, 0] == depth[375 - 352, (1242 - 1216) // 2]


def test_split_file_errors_name_the_line(tmp_path):
    split = tmp_path / "bad.txt"
    split.write_text("only_one_field\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_split_file(split)


def make_rgbd_folder(root, count=3):
    for index in range(count):
        write_pair(root / "rgb" / f"scene_{index:03d}.png", root / "depth" / f"scene_{index:03d}.png", 1000 + index * 500,
                   seed=index)
    (root / "intrinsics.json").write_text(json.dumps({"fx": 30.0, "fy": 30.0, "cx": 15.5, "cy": 11.5}))


def test_rgbd_folder_and_split_subfolders(tmp_path):
    make_rgbd_folder(tmp_path / "scenes" / "train")
    dataset = build_dataset("synthetic", tmp_path / "scenes", split="train")
    assert len(dataset) == 3 and dataset[2]["focal"] == 30.0
    assert torch.allclose(dataset[2]["depth"], torch.full((1, 24, 32), 2.0))
    with pytest.raises(FileNotFoundError, match="rgb/ and depth/"):
        rgbd_folder_dataset(tmp_path / "nowhere")


def test_augmentation_is_deterministic_per_epoch_and_keeps_depth_aligned(tmp_path):
    make_rgbd_folder(tmp_path)
    augmentation = Augmentation(crop=(16, 16), hflip=True, color_jitter=0.3, seed=7)
    first = rgbd_folder_dataset(tmp_path, augmentation)
    second = rgbd_folder_dataset(tmp_path, augmentation)
    a, b = first[1], second[1]
    assert a["image"].shape == (3, 16, 16) and a["depth"].shape == (1, 16, 16)
    assert torch.equal(a["image"], b["image"])
    assert torch.allclose(a["depth"], torch.full((1, 16, 16), 1.5))  # geometry moves with the image only
    draws = set()
    for epoch in range(6):
        first.set_epoch(epoch)
        draws.add(first[1]["image"].sum().item())
    assert len(draws) > 1
    with pytest.raises(ValueError, match="larger than the images"):
        rgbd_folder_dataset(tmp_path, Augmentation(crop=(64, 64)))[0]
