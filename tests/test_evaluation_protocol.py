"""The evaluation protocol: validation carved from training scenes/drives (never the test split),
one geometry for training validation and evaluation, DepthCLIP's NYU crop, the KITTI Garg frame."""
from __future__ import annotations

import numpy as np
import pytest

from mirror_model.data import split_group, validation_groups
from mirror_model.evaluate import DEPTHCLIP_NYU_CROP, _input_box
from mirror_model.predict import window_starts


def test_validation_holds_out_whole_nyu_scenes_and_kitti_drives():
    nyu = [f"/{scene}_{i:04d}/rgb_{k:05d}.jpg" for scene in ("kitchen", "bedroom", "office") for i in range(10) for k in range(3)]
    held = validation_groups("nyu", nyu)
    assert split_group("nyu", "/kitchen_0028b/rgb_00045.jpg") == "kitchen_0028b"
    assert 1 <= len(held) < 30 and held == validation_groups("nyu", list(reversed(nyu)))  # deterministic
    val = [p for p in nyu if split_group("nyu", p) in held]
    train = [p for p in nyu if split_group("nyu", p) not in held]
    assert len(val) == 3 * len(held) and not {split_group("nyu", p) for p in val} & {split_group("nyu", p) for p in train}
    kitti = "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png"
    assert split_group("kitti", kitti) == "2011_09_26_drive_0002_sync"
    with pytest.raises(ValueError, match="at least 2"):
        validation_groups("nyu", ["/only_scene/rgb_00001.jpg"])


def test_training_refuses_model_selection_on_a_test_split(tmp_path):
    from mirror_model.train import TrainConfig, build_train_and_val

    config = TrainConfig(data="nyu", data_root=str(tmp_path), split_file=str(tmp_path / "train.txt"),
                         val_split_file="splits/nyudepthv2_test_files_with_gt.txt")
    with pytest.raises(ValueError, match="test split is not allowed"):
        build_train_and_val(config)


def test_one_pass_at_the_frames_own_grid_and_windows_on_request():
    from mirror_model.predict import load_predictor

    assert window_starts(320, 320) == [0]
    assert window_starts(1216, 704) == [0, 512]
    assert window_starts(640, 544) == [0, 96]
    predictor = load_predictor("synthetic-tiny", device="cpu")  # training input 240x320, 16-px patches
    four_three = predictor.plan((480, 640), "fit")
    assert four_three.size == four_three.window == (240, 320) and four_three.corners == ((0, 0),)
    wide = predictor.plan((360, 640), "fit")  # 16:9 at about the training area, snapped to the patches
    assert wide.size == wide.window == (208, 368) and wide.corners == ((0, 0),)
    native = predictor.plan((480, 640), "native")  # NYU's full frame in one pass, as BTS/AdaBins evaluate
    assert native.size == native.window == (480, 640) and native.corners == ((0, 0),)
    windows = predictor.plan((360, 640), "fit", geometry="windows")
    assert windows.size == (240, 427) and windows.window == (240, 320) and windows.corners == ((0, 0), (0, 107))
    assert len(predictor.plan((480, 640), "native", geometry="windows").corners) == 4
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    np.testing.assert_array_equal(predictor.predict(frame, scale="fit"), predictor.predict(frame, scale="native"))
    twice = np.concatenate([frame, frame[:, ::-1]], axis=1)
    side_by_side = predictor.predict(twice, scale="native", geometry="windows")
    assert side_by_side.shape == (240, 640)
    np.testing.assert_allclose(side_by_side[:, :320], predictor.predict(frame), atol=1e-4)  # each window as alone
    assert predictor.predict(twice, scale="native").shape == (240, 640)


def test_depthclip_nyu_input_is_a_pasted_416x544_crop_and_kitti_full_frame_pastes_the_benchmark_crop():
    assert _input_box((480, 640), "nyu", True, "kb-crop") == DEPTHCLIP_NYU_CROP == (32, 48, 416, 544)
    assert _input_box((480, 640), "nyu", False, "kb-crop") == (0, 0, 480, 640)
    assert _input_box((375, 1242), "kitti", False, "full") == (23, 13, 352, 1216)
    assert _input_box((352, 1216), "kitti", False, "kb-crop") == (0, 0, 352, 1216)
