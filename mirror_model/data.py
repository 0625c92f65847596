"""Depth datasets for training and evaluation.

Three sources, one sample format:
- NYU Depth v2 and KITTI (Eigen split) in the layout and split files used by BTS and AdaBins;
- any folder of RGB + 16-bit depth PNGs with an ``intrinsics.json`` (the procedural scenes write this);
- the procedural scenes rendered on the fly are written to such a folder first (``scenes``).

A sample is a dict: ``image`` float32 tensor (3, H, W) in [0, 1] (CLIP normalisation is the model's job),
``depth`` float32 tensor (1, H, W) in metres with 0 where there is no ground truth, ``focal`` (float)
and ``name`` (str).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from common.depth_io import read_depth_png
from common.depth_metrics import DATASET_MAX_DEPTH as MAX_DEPTH
from common.image_io import load_rgb
from common.scene_folder import folder_depth_cap, folder_depth_scale, intrinsics_by_name, rgbd_pairs

# Units per metre of the 16-bit depth PNGs of each dataset.
DEPTH_SCALE = {"nyu": 1000.0, "kitti": 256.0, "synthetic": 1000.0}
KITTI_KB_CROP = (352, 1216)  # the BTS/AdaBins KITTI benchmark crop (bottom-centred)


@dataclass
class Augmentation:
    """Training-time augmentation; `crop=None` keeps the full image."""

    crop: tuple[int, int] | None = None
    hflip: bool = True
    color_jitter: float = 0.2  # max relative change of brightness, contrast and saturation
    seed: int = 0


def kb_crop(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KITTI benchmark crop: 352 x 1216, bottom-aligned and horizontally centred (as BTS)."""
    height, width = depth.shape
    crop_h, crop_w = KITTI_KB_CROP
    if height < crop_h or width < crop_w:
        return rgb, depth
    top, left = height - crop_h, (width - crop_w) // 2
    return rgb[top : top + crop_h, left : left + crop_w], depth[top : top + crop_h, left : left + crop_w]


def aspect_crop_box(height: int, width: int, aspect: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, crop height, crop width) of the largest crop of a height x width frame whose
    width / height is `aspect`, at a random place along the side that has room to spare.

    For training at other aspect ratios than the frames': a 16:9 crop of a 4:3 frame keeps its width,
    a 9:16 crop its height. Raises ValueError for a non-positive aspect ratio or frame size."""
    if not aspect > 0 or height < 1 or width < 1:
        raise ValueError(f"need a positive aspect ratio and frame size, got {aspect} and {height}x{width}")
    crop_h, crop_w = (height, max(1, min(width, round(height * aspect)))) if width / height >= aspect else \
        (max(1, min(height, round(width / aspect))), width)
    return int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1)), crop_h, crop_w


class DepthDataset(Dataset):
    """Pairs of (rgb path, depth path or None, focal) read into tensors, with optional augmentation."""

    def __init__(
        self,
        pairs: list[tuple[Path, Path | None, float]],
        depth_scale: float,
        max_depth: float,
        augmentation: Augmentation | None = None,
        kitti_crop: bool = False,
        name: str = "depth",
    ):
        if not pairs:
            raise ValueError(f"{name}: no samples found; check the data root and split file")
        self.pairs = pairs
        self.depth_scale = depth_scale
        self.max_depth = max_depth
        self.augmentation = augmentation
        self.kitti_crop = kitti_crop
        self.name = name
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, index) only, so resumed runs and any number of
        loader workers see the same crops and flips."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        rgb_path, depth_path, focal = self.pairs[index]
        rgb = load_rgb(rgb_path)
        if depth_path is None:
            depth = np.zeros(rgb.shape[:2], np.float32)
        else:
            depth = read_depth_png(depth_path, scale=self.depth_scale)
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f"{rgb_path.name}: image {rgb.shape[:2]} and depth {depth.shape} sizes differ")
        if self.kitti_crop:
            rgb, depth = kb_crop(rgb, depth)
        depth = np.where(depth > self.max_depth, 0.0, depth).astype(np.float32)
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0
        target = torch.from_numpy(np.ascontiguousarray(depth))[None]
        if self.augmentation is not None:
            image, target = self._augment(image, target, index)
        return {"image": image, "depth": target, "focal": float(focal), "name": rgb_path.stem}

    def _augment(self, image: torch.Tensor, depth: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        aug = self.augmentation
        rng = random.Random(f"{aug.seed}-{self.epoch}-{index}")
        if aug.crop is not None:
            crop_h, crop_w = aug.crop
            height, width = depth.shape[-2:]
            if crop_h > height or crop_w > width:
                raise ValueError(f"{self.name}: crop {aug.crop} is larger than the images ({height}x{width})")
            top, left = rng.randint(0, height - crop_h), rng.randint(0, width - crop_w)
            image = image[:, top : top + crop_h, left : left + crop_w]
            depth = depth[:, top : top + crop_h, left : left + crop_w]
        if aug.hflip and rng.random() < 0.5:
            image, depth = image.flip(-1), depth.flip(-1)
        if aug.color_jitter > 0:
            image = _color_jitter(image, aug.color_jitter, rng)
        return image.contiguous(), depth.contiguous()


def _color_jitter(image: torch.Tensor, strength: float, rng: random.Random) -> torch.Tensor:
    """Brightness, contrast and saturation jitter; geometry (and so depth) is untouched."""
    brightness = 1.0 + rng.uniform(-strength, strength)
    contrast = 1.0 + rng.uniform(-strength, strength)
    saturation = 1.0 + rng.uniform(-strength, strength)
    image = image * brightness
    mean = image.mean()
    image = (image - mean) * contrast + mean
    gray = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
    image = (image - gray) * saturation + gray
    return image.clamp(0.0, 1.0)


def read_split_file(split_file: Path) -> list[tuple[str, str | None, float]]:
    """BTS split lines: ``rgb_path depth_path focal``; depth may be ``None`` (KITTI Eigen test)."""
    entries = []
    for line_number, line in enumerate(Path(split_file).read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise ValueError(f"{split_file}:{line_number}: expected 'rgb depth focal', got {line!r}")
        depth = None if parts[1] == "None" else parts[1]
        entries.append((parts[0], depth, float(parts[2])))
    return entries


VAL_SHARE = 0.05  # share of training scenes (NYU) or drives (KITTI) held out for model selection


def split_group(dataset: str, rgb_rel: str) -> str:
    """What a validation split must not share with training: the NYU scene folder
    ('kitchen_0028b/rgb_00045.jpg' -> 'kitchen_0028b') or the KITTI drive
    ('2011_09_26/2011_09_26_drive_0002_sync/image_02/...' -> '2011_09_26_drive_0002_sync')."""
    parts = [p for p in rgb_rel.replace("\\", "/").split("/") if p]
    if dataset == "kitti":
        return next((p for p in parts if "_drive_" in p), parts[0])
    return parts[-2] if len(parts) >= 2 else parts[0]


def validation_groups(dataset: str, rgb_paths: list[str], share: float = VAL_SHARE) -> set[str]:
    """A deterministic share of the groups (at least one, never all) chosen by a hash of the name."""
    import hashlib

    groups = sorted({split_group(dataset, path) for path in rgb_paths})
    if len(groups) < 2:
        raise ValueError(f"{dataset}: the training split has {len(groups)} scene/drive; at least 2 are needed to hold one out")
    ranked = sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    count = min(len(groups) - 1, max(1, round(share * len(groups))))
    return set(ranked[:count])


def bts_dataset(
    dataset: str,
    data_root: str | Path,
    split_file: str | Path,
    gt_root: str | Path | None = None,
    augmentation: Augmentation | None = None,
    skip_missing_depth: bool = True,
    carve: str | None = None,
    benchmark_crop: bool = True,
) -> DepthDataset:
    """NYU or KITTI in the BTS layout.

    NYU: ``data_root`` holds the paths of the split file (``sync/`` for training,
    ``official_splits/test/`` for the Eigen test set); depth in mm.
    KITTI: ``data_root`` is the raw data (``2011_09_26/...``) and ``gt_root`` the annotated depth
    (``data_depth_annotated/``, train and val drives merged); depth in 1/256 m.
    ``carve="train"|"val"`` splits a training split file by scene (NYU) or drive (KITTI) into the part
    used for training and the held-out part used for model selection (validation_groups).
    """
    if dataset not in ("nyu", "kitti"):
        raise ValueError(f"unknown dataset {dataset!r}: expected 'nyu' or 'kitti'")
    data_root = Path(data_root)
    gt_root = Path(gt_root) if gt_root is not None else data_root
    if not data_root.is_dir():
        raise FileNotFoundError(f"{dataset}: data root {data_root} does not exist (see docs/mirror-depth.md: datasets)")
    if not Path(split_file).is_file():
        raise FileNotFoundError(f"{dataset}: split file {split_file} does not exist")
    entries = read_split_file(Path(split_file))
    if carve is not None:
        if carve not in ("train", "val"):
            raise ValueError(f"carve must be 'train' or 'val', got {carve!r}")
        held_out = validation_groups(dataset, [rgb for rgb, _, _ in entries])
        entries = [e for e in entries if (split_group(dataset, e[0]) in held_out) == (carve == "val")]
    pairs = []
    for rgb_rel, depth_rel, focal in entries:
        rgb_path = data_root / rgb_rel.lstrip("/")
        depth_path = gt_root / depth_rel.lstrip("/") if depth_rel else None
        if depth_path is not None and not depth_path.is_file():
            depth_path = None
        if depth_path is None and skip_missing_depth:
            continue
        if not rgb_path.is_file():
            raise FileNotFoundError(f"{dataset}: {rgb_path} listed in {split_file} is missing")
        pairs.append((rgb_path, depth_path, focal))
    return DepthDataset(
        pairs,
        depth_scale=DEPTH_SCALE[dataset],
        max_depth=MAX_DEPTH[dataset],
        augmentation=augmentation,
        kitti_crop=dataset == "kitti" and benchmark_crop,
        name=dataset,
    )


def rgbd_folder_dataset(
    root: str | Path,
    augmentation: Augmentation | None = None,
    depth_scale: float | None = None,
    max_depth: float | None = None,
) -> DepthDataset:
    """A scene folder (common.scene_folder): ``rgb/NAME.png``, ``depth/NAME.png`` (16-bit), ``intrinsics.json``
    or per-frame K in ``poses.json`` (focal = fx of each frame's K, NaN without one). Depth units and
    the cap default to what the folder records (an outdoor split: 256 units per metre, 80 m), else
    millimetres and the synthetic rooms' 10 m."""
    depth_scale = folder_depth_scale(root) if depth_scale is None else depth_scale
    max_depth = (folder_depth_cap(root) or MAX_DEPTH["synthetic"]) if max_depth is None else max_depth
    found = rgbd_pairs(root)
    focals = [float("nan") if k is None else float(k[0, 0]) for k in intrinsics_by_name(root, [p.stem for p, _ in found])]
    pairs = [(rgb_path, depth_path, focal) for (rgb_path, depth_path), focal in zip(found, focals)]
    return DepthDataset(pairs, depth_scale, max_depth, augmentation, name=Path(root).name)


def build_dataset(
    kind: str,
    data_root: str | Path,
    split: str = "train",
    split_file: str | Path | None = None,
    gt_root: str | Path | None = None,
    augmentation: Augmentation | None = None,
    carve: str | None = None,
    benchmark_crop: bool = True,
) -> DepthDataset:
    """One entry point for the CLIs: ``kind`` is nyu, kitti or synthetic (any RGB-D folder).

    For synthetic data, ``data_root/split`` is used when it exists (``train/``, ``val/``, ``test/``),
    else ``data_root`` itself.
    """
    if kind in ("nyu", "kitti"):
        if split_file is None:
            raise ValueError(f"{kind}: --split-file is required (the BTS/AdaBins split file for '{split}')")
        return bts_dataset(kind, data_root, split_file, gt_root, augmentation, carve=carve, benchmark_crop=benchmark_crop)
    if kind == "synthetic":
        root = Path(data_root)
        folder = root / split if (root / split).is_dir() else root
        return rgbd_folder_dataset(folder, augmentation)
    raise ValueError(f"unknown dataset kind {kind!r}: expected nyu, kitti or synthetic")
