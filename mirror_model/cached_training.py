"""Fast training of mirror + decoder on cached frozen-CLIP features, for the bundled model and the
trained twins of the claim experiment.

CLIP is frozen, so its dense image features of a training frame never change: they are computed
once per frame (and once for its mirror image, the only augmentation), stored in fp16, and every
step runs only the text side (with gradients to mirror), the similarity maps and the decoder. On a
2-core CPU this makes a 3,000-step run take minutes instead of the better part of an hour. Frames
are used whole, at the model's input size, so training, validation and inference share one
geometry (one window per frame). Model selection: the validation folder (another seed), through
the evaluation code. `python -m mirror_model.train` remains the general trainer (crops, colour
jitter, AMP, DDP, resume) for real data sets.
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
from common.scene_folder import rgbd_pairs

from .checkpoint import save_checkpoint
from .data import build_dataset
from .evaluate import evaluate_predictor
from .losses import silog_loss
from .model import MirrorDepth
from .model_info import describe_model
from .predict import DepthPredictor
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


def load_frames(folder: str | Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (N, H, W, 3) and depth float32 (N, H, W) of a scene folder, at `size`."""
    import cv2

    pairs = rgbd_pairs(folder)
    if not pairs:
        raise ValueError(f"{Path(folder).name}: no rgb/depth pairs")
    rgbs, depths = [], []
    for rgb_path, depth_path in pairs:
        rgb, depth = load_rgb(rgb_path), read_depth_png(depth_path)
        if rgb.shape[:2] != tuple(size):
            rgb = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA)
            depth = cv2.resize(depth, size[::-1], interpolation=cv2.INTER_NEAREST)
        rgbs.append(rgb)
        depths.append(depth)
    return np.stack(rgbs), np.stack(depths)


@torch.no_grad()
def build_cache(model: MirrorDepth, rgbs: np.ndarray, depths: np.ndarray, batch: int = 16, progress: bool = True) -> FeatureCache:
    from tqdm import tqdm

    model.eval()
    parts = []
    for start in tqdm(range(0, len(rgbs), batch), desc="caching CLIP features", unit="batch", disable=not progress):
        images = torch.from_numpy(rgbs[start : start + batch]).permute(0, 3, 1, 2).float().div_(255.0)
        both = torch.stack([model.image_features(images), model.image_features(images.flip(-1))], dim=1)
        parts.append(both.half())
    return FeatureCache(torch.cat(parts), torch.from_numpy(depths)[:, None].half())


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
    size = tuple(cache.depths.shape[-2:])
    best, best_step, history, stale = math.inf, 0, [], 0
    started = time.time()
    log = (out / "train_log.jsonl").open("w")
    model.train()
    with tqdm(total=config.steps, desc=f"training ({config.train_source})", unit="step", disable=not progress) as bar:
        for step in range(1, config.steps + 1):
            index = torch.from_numpy(rng.integers(0, len(cache.features), config.batch_size))
            flip = torch.from_numpy(rng.integers(0, 2, config.batch_size))
            features = cache.features[index, flip].float()
            target = cache.depths[index].float()
            target = torch.where(flip.view(-1, 1, 1, 1).bool(), target.flip(-1), target)
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
                    card = {"trained": True, "training": {**asdict(config), "best_step": step}, "metrics": {"val": metrics},
                            "default_source": config.train_source, **config.extra_card}  # fmt: skip
                    save_checkpoint(model, out / "best", card)
                if config.patience is not None and stale >= config.patience:
                    break  # early stopping on validation only
    log.close()
    summary = {"best_val_abs_rel": best, "best_step": best_step, "history": history, "last_step": step,
               "stopped_early": step < config.steps, "minutes": round((time.time() - started) / 60, 2)}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
