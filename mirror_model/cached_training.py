"""Fast training of mirror + decoder on cached frozen-CLIP features, for the bundled model and the
trained twins of the claim experiment.

CLIP is frozen, so its dense image features of a training frame never change: they are computed
once per frame (and once for its mirror image, the only augmentation), stored in fp16, and every
step runs only the text side (with gradients to mirror), the similarity maps and the decoder. On a
2-core CPU this makes a 3,000-step run take minutes instead of the better part of an hour. Frames
are used whole, at the model's input size, which is what inference does with a frame of the
training aspect ratio (one pass at its patch grid; mirror_model.predict). Model selection: the
validation folder (another seed), through the evaluation code. `python -m mirror_model.train`
remains the general trainer (crops, colour jitter, AMP, DDP, resume) for real data sets.

Other aspect ratios (`build_cache(..., aspects=(16 / 9, 9 / 16))`): inference runs a 16:9 frame at
its own patch grid (13x23 for a 240x320 model), which a model trained on whole 4:3 frames never
saw. Each aspect ratio adds a bucket: one random crop of every frame at that ratio (data.
aspect_crop_box), resized to the grid inference would use for it (predict.grid_size), its
features cached like the frames'. Every step draws one bucket, so a batch shares one grid size.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.depth_io import read_depth_png
from common.image_io import load_rgb
from common.scene_folder import folder_depth_scale, rgbd_pairs

from .checkpoint import save_checkpoint
from .data import aspect_crop_box, build_dataset
from .evaluate import evaluate_predictor
from .losses import silog_loss
from .model import MirrorDepth
from .model_info import describe_model
from .predict import DepthPredictor, grid_size
from .text_sources import check_source

TRAIN_SOURCES = ("learned", "prompt", "prompt+mirror")  # what the text side is while training


@dataclass
class CachedTrainConfig:
    steps: int = 3000
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    train_source: str = "learned"  # "prompt": a fixed human prompt (mirror unused); "prompt+mirror": both
    val_every: int = 500
    val_limit: int | None = None
    patience: int | None = None  # early stopping: end after this many validations without a new best
    extra_card: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train_source not in TRAIN_SOURCES:
            raise ValueError(f"train source must be one of {TRAIN_SOURCES}, got {self.train_source!r}")


@dataclass
class FeatureCache:
    features: torch.Tensor  # (N, 2, D, h, w) fp16: each frame and its mirror image
    depths: torch.Tensor  # (N, 1, H, W) fp16 metres, 0 = no depth; flipped with the mirror image's features
    extra: list[FeatureCache] = field(default_factory=list)  # the same frames cropped to other aspect ratios

    @property
    def buckets(self) -> list[FeatureCache]:
        """One cache per grid size: the frames themselves first, then each extra aspect ratio."""
        return [self, *self.extra]

    @property
    def grids(self) -> list[tuple[int, int]]:
        """(h, w) patch grid of each bucket."""
        return [tuple(bucket.features.shape[-2:]) for bucket in self.buckets]


def load_frames(folder: str | Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (N, H, W, 3) and depth float32 (N, H, W) of a scene folder, at `size`."""
    import cv2

    pairs = rgbd_pairs(folder)
    if not pairs:
        raise ValueError(f"{Path(folder).name}: no rgb/depth pairs")
    rgbs, depths, scale = [], [], folder_depth_scale(folder)
    for rgb_path, depth_path in pairs:
        rgb, depth = load_rgb(rgb_path), read_depth_png(depth_path, scale)
        if rgb.shape[:2] != tuple(size):
            rgb = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA)
            depth = cv2.resize(depth, size[::-1], interpolation=cv2.INTER_NEAREST)
        rgbs.append(rgb)
        depths.append(depth)
    return np.stack(rgbs), np.stack(depths)


@torch.no_grad()
def _cache_features(model: MirrorDepth, rgbs: np.ndarray, depths: np.ndarray, batch: int, progress: bool,
                    label: str) -> FeatureCache:
    from tqdm import tqdm

    parts = []
    for start in tqdm(range(0, len(rgbs), batch), desc=f"caching CLIP features{label}", unit="batch", disable=not progress):
        images = torch.from_numpy(rgbs[start : start + batch]).permute(0, 3, 1, 2).float().div_(255.0)
        both = torch.stack([model.image_features(images), model.image_features(images.flip(-1))], dim=1)
        parts.append(both.half())
    return FeatureCache(torch.cat(parts), torch.from_numpy(depths)[:, None].half())


def aspect_crops(model: MirrorDepth, rgbs: np.ndarray, depths: np.ndarray, aspect: float,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One random crop of every frame at `aspect` (width / height), resized to the size inference
    gives a frame of that shape (predict.grid_size, "fit"): RGB (N, h, w, 3) and depth (N, h, w)."""
    import cv2

    rng = np.random.default_rng([seed, round(aspect * 1e6)])
    out_rgb, out_depth = [], []
    for rgb, depth in zip(rgbs, depths):
        top, left, height, width = aspect_crop_box(*depth.shape, aspect, rng)
        size = grid_size((height, width), tuple(model.config.input_size), model.stride, "fit")
        rgb_crop, depth_crop = rgb[top : top + height, left : left + width], depth[top : top + height, left : left + width]
        shrinking = height * width > size[0] * size[1]
        out_rgb.append(cv2.resize(rgb_crop, size[::-1], interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR))
        out_depth.append(cv2.resize(depth_crop, size[::-1], interpolation=cv2.INTER_NEAREST))
    return np.stack(out_rgb), np.stack(out_depth)


def build_cache(model: MirrorDepth, rgbs: np.ndarray, depths: np.ndarray, batch: int = 16, progress: bool = True,
                aspects: tuple[float, ...] = (), seed: int = 0) -> FeatureCache:
    """Frozen-CLIP features of the frames (and their mirror images), plus one bucket per extra
    aspect ratio in `aspects` (width / height; crops drawn with `seed`). Raises ValueError for an
    aspect ratio that is not positive."""
    model.eval()
    cache = _cache_features(model, rgbs, depths, batch, progress, "")
    for aspect in aspects:
        crop_rgb, crop_depth = aspect_crops(model, rgbs, depths, float(aspect), seed)
        cache.extra.append(_cache_features(model, crop_rgb, crop_depth, batch, progress, f" ({aspect:.3g}:1)"))
    return cache


def train_cached(model: MirrorDepth, cache: FeatureCache, val_folder: str | Path, out: str | Path,
                 config: CachedTrainConfig, progress: bool = True) -> dict:
    """Train mirror + decoder; keeps the best validation checkpoint in OUT/best. Returns a summary."""
    from tqdm import tqdm


    check_source(config.train_source)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.train_source == "prompt":
        model.mirror.requires_grad_(False)  # a fixed human prompt: only the decoder learns
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.1)
    val_set = build_dataset("synthetic", val_folder)
    buckets = cache.buckets
    steps_per_grid = {f"{h}x{w}": 0 for h, w in cache.grids}
    best, best_step, history, stale = math.inf, 0, [], 0
    started = time.time()
    log = (out / "train_log.jsonl").open("w")
    model.train()
    with tqdm(total=config.steps, desc=f"training ({config.train_source})", unit="step", disable=not progress) as bar:
        for step in range(1, config.steps + 1):
            # one grid per batch; a single bucket draws nothing, so 4:3-only runs repeat exactly
            bucket = buckets[int(rng.integers(0, len(buckets)))] if len(buckets) > 1 else cache
            steps_per_grid["x".join(str(n) for n in bucket.features.shape[-2:])] += 1
            index = torch.from_numpy(rng.integers(0, len(bucket.features), config.batch_size))
            flip = torch.from_numpy(rng.integers(0, 2, config.batch_size))
            features = bucket.features[index, flip].float()
            target = bucket.depths[index].float()
            target = torch.where(flip.view(-1, 1, 1, 1).bool(), target.flip(-1), target)
            size = tuple(bucket.depths.shape[-2:])
            loss = silog_loss(model.depth_from_features(features, size, config.train_source), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            bar.update(1)
            if step % 25 == 0:
                log.write(json.dumps({"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0]}) + "\n")
                bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % config.val_every == 0 or step == config.steps:
                info = describe_model("validation", model, weights_from="untrained", trained=False,
                                      default_source=config.train_source)
                metrics = evaluate_predictor(DepthPredictor(model, info), val_set, "synthetic", limit=config.val_limit,
                                             progress=False)["metrics"]  # fmt: skip
                model.train()
                history.append({"step": step, "val": metrics})
                stale += 1
                if metrics["abs_rel"] < best:
                    best, best_step, stale = metrics["abs_rel"], step, 0
                    training = {**asdict(config), "best_step": step, "grids": [list(g) for g in cache.grids]}
                    card = {"trained": True, "training": training, "metrics": {"val": metrics},
                            "default_source": config.train_source, **config.extra_card}  # fmt: skip
                    save_checkpoint(model, out / "best", card)
                if config.patience is not None and stale >= config.patience:
                    break  # early stopping on validation only
    log.close()
    summary = {"best_val_abs_rel": best, "best_step": best_step, "history": history, "steps_per_grid": steps_per_grid,
               "last_step": step, "stopped_early": step < config.steps,
               "minutes": round((time.time() - started) / 60, 2)}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
