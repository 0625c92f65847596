"""Train mirror + decoder on a frozen CLIP.

    python -m mirror_model.train --data synthetic --data-root data/scenes --out runs/tiny --epochs 10
    torchrun --nproc_per_node 4 -m mirror_model.train --data nyu --data-root ... --split-file ...

SILog loss (λ 0.85), AdamW, one-cycle or cosine schedule, gradient clipping, bf16 autocast on CUDA
(`--amp`), DistributedDataParallel when launched by torchrun (gloo on CPU, nccl on GPU), resumable
from `OUT/last`, seeded. Writes `OUT/metrics.json` (one entry per epoch), `OUT/train_log.jsonl`
(one line per step), `OUT/best` (a checkpoint directory, chosen on validation AbsRel) and `OUT/last`
(checkpoint + optimizer state for `--resume`).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from common.sizes import size_argument

from .data import MAX_DEPTH, Augmentation, build_dataset
from .losses import silog_loss

TRAINING_STATE = "training_state.pt"


@dataclass
class TrainConfig:
    data: str = "synthetic"  # synthetic | nyu | kitti
    data_root: str = ""
    out: str = "runs/mirror"
    split_file: str | None = None  # BTS split files (nyu, kitti)
    val_split_file: str | None = None
    gt_root: str | None = None  # KITTI annotated depth root
    val_data_root: str | None = None
    init: str | None = None  # checkpoint directory to start from; None builds a fresh model
    clip: str = "tiny-vit"
    clip_pretrained: str | None = None
    clip_weights: str | None = None
    mirror_tokens: int = 64
    input_size: tuple[int, int] = (240, 320)
    max_depth: float | None = None  # default: the dataset's cap (10 m NYU/synthetic, 80 m KITTI)
    crop: tuple[int, int] | None = None
    color_jitter: float = 0.2
    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimizer steps in total; the schedule is unchanged
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "onecycle"  # onecycle | cosine
    clip_grad: float = 1.0
    amp: bool = False
    seed: int = 0
    workers: int = 0
    resume: bool = False
    val_limit: int | None = None  # evaluate on at most this many validation images per epoch
    log_every: int = 10
    extra_card: dict = field(default_factory=dict)


# ------------------------------------------------------------------ distributed helpers

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> tuple[Dist, torch.device]:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; one code path for 1 or many processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(), torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import torch.distributed as dist

    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        dist.init_process_group("nccl")
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank), device


class EpochSampler(Sampler[int]):
    """A permutation fixed by (seed, epoch), sharded over ranks, optionally skipping a prefix.

    Skipping lets a resumed run continue mid-epoch with exactly the samples it would have seen.
    """

    def __init__(self, size: int, seed: int, dist: Dist, batch_size: int):
        self.size, self.seed, self.dist, self.batch_size = size, seed, dist, batch_size
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def _indices(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        per_rank = math.ceil(self.size / self.dist.world)
        order += order[: per_rank * self.dist.world - self.size]  # pad so every rank has as many
        return order[self.dist.rank :: self.dist.world]

    def __iter__(self):
        return iter(self._indices()[self.skip_batches * self.batch_size :])

    def __len__(self) -> int:
        return max(0, math.ceil(self.size / self.dist.world) - self.skip_batches * self.batch_size)

    def batches_per_epoch(self) -> int:
        return math.ceil(math.ceil(self.size / self.dist.world) / self.batch_size)


# ------------------------------------------------------------------ model, optimiser, schedule

def build_model(config: TrainConfig, device: torch.device):
    from .checkpoint import load_checkpoint
    from .model import MirrorDepthConfig, build_mirror_depth

    if config.init:
        return load_checkpoint(config.init, device=device, clip_weights=config.clip_weights)
    model_config = MirrorDepthConfig(
        clip_name=config.clip,
        clip_pretrained=config.clip_pretrained,
        mirror_tokens=config.mirror_tokens,
        input_size=tuple(config.input_size),
        max_depth=config.max_depth or MAX_DEPTH[config.data],
    )
    return build_mirror_depth(model_config, seed=config.seed, clip_weights=config.clip_weights, device=device)


def build_scheduler(optimizer, config: TrainConfig, total_steps: int):
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=max(total_steps, 2), pct_start=0.1, anneal_strategy="cos",
            div_factor=25.0, final_div_factor=100.0,
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1), eta_min=config.lr * 0.01)
    raise ValueError(f"unknown schedule {config.schedule!r}: expected onecycle or cosine")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ------------------------------------------------------------------ data and validation

def build_train_and_val(config: TrainConfig):
    """The training set and the validation set used for model selection. Validation never touches a
    test split: NYU and KITTI hold out whole training scenes / drives (data.validation_groups) unless
    a separate validation split file is given; procedural scenes use their val/ folder (another seed)."""
    augmentation = Augmentation(crop=config.crop, hflip=True, color_jitter=config.color_jitter, seed=config.seed)
    if config.data in ("nyu", "kitti"):
        if config.split_file is None:
            raise ValueError(f"{config.data}: --split-file (the BTS training split file) is required")
        for name in (config.val_split_file, config.val_data_root):
            if name and "test" in Path(name).name.lower():
                raise ValueError(f"{name}: model selection on a test split is not allowed; leave out --val-split-file "
                                 "to hold out training scenes/drives for validation")
        if config.val_split_file is None:
            train_set = build_dataset(config.data, config.data_root, "train", config.split_file, config.gt_root,
                                      augmentation, carve="train")
            val_set = build_dataset(config.data, config.data_root, "val", config.split_file, config.gt_root, carve="val")
            return train_set, val_set
    train_set = build_dataset(config.data, config.data_root, "train", config.split_file, config.gt_root, augmentation)
    val_set = build_dataset(config.data, config.val_data_root or config.data_root, "val",
                            config.val_split_file or config.split_file, config.gt_root)
    return train_set, val_set


def validate(model, dataset, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Validation metrics through the evaluation path itself (same geometry, crops and caps)."""
    from .evaluate import evaluate_predictor
    from .model_info import describe_model
    from .predict import DepthPredictor

    was_training = model.training
    info = describe_model("validation", model, weights_from="untrained", trained=False)
    predictor = DepthPredictor(model, info, device, batch_size=config.batch_size)  # wraps, does not copy
    try:
        result = evaluate_predictor(predictor, dataset, config.data, limit=config.val_limit, progress=False)
    finally:
        model.train(was_training)
    return result["metrics"]


# ------------------------------------------------------------------ checkpoints

def save_training_state(path: Path, model, optimizer, scheduler, epoch: int, step: int, best: float) -> None:
    from .checkpoint import save_checkpoint

    save_checkpoint(model, path, {"trained": step > 0, "training_state": TRAINING_STATE})
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
         "best_abs_rel": best},
        path / TRAINING_STATE,
    )


def load_training_state(path: Path, model, optimizer, scheduler, device: torch.device) -> tuple[int, int, float]:
    from safetensors.torch import load_file

    state_path = path / TRAINING_STATE
    if not state_path.is_file():
        raise FileNotFoundError(f"--resume: {state_path} not found; train once without --resume first")
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)), strict=False)
    state = torch.load(state_path, map_location=device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state["epoch"], state["step"], state["best_abs_rel"]


# ------------------------------------------------------------------ training

@dataclass
class TrainResult:
    out: Path
    step_losses: list[float]
    epochs: list[dict]
    best_abs_rel: float
    model: torch.nn.Module | None = None


def train(config: TrainConfig) -> TrainResult:
    from tqdm import tqdm

    from .checkpoint import save_checkpoint

    dist_info, device = setup_distributed()
    seed_everything(config.seed)
    out = Path(config.out)
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)

    train_set, val_set = build_train_and_val(config)

    model = build_model(config, device)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    sampler = EpochSampler(len(train_set), config.seed, dist_info, config.batch_size)
    steps_per_epoch = sampler.batches_per_epoch()
    total_steps = steps_per_epoch * config.epochs
    # max_steps stops early without changing the schedule, so a stopped run resumes exactly.
    stop_at = total_steps if config.max_steps is None else min(total_steps, config.max_steps)
    scheduler = build_scheduler(optimizer, config, total_steps)

    epoch, step, best = 0, 0, math.inf
    if config.resume:
        epoch, step, best = load_training_state(out / "last", model, optimizer, scheduler, device)

    net = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if config.amp and device.type == "cuda" else contextlib.nullcontext()
    )
    metrics_path = out / "metrics.json"
    history = json.loads(metrics_path.read_text()) if config.resume and metrics_path.is_file() else []
    step_losses: list[float] = []
    log_file = open(out / "train_log.jsonl", "a") if dist_info.main else None
    started = time.time()
    try:
        while epoch < config.epochs and step < stop_at:
            train_set.set_epoch(epoch)
            sampler.set_epoch(epoch, skip_batches=step - epoch * steps_per_epoch)
            loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                                drop_last=False)
            epoch_losses = []
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not dist_info.main, leave=False)
            for batch in bar:
                images = batch["image"].to(device, non_blocking=True)
                target = batch["depth"].to(device, non_blocking=True)
                with autocast:
                    pred = net(images)
                loss = silog_loss(pred.float(), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, config.clip_grad)
                optimizer.step()
                scheduler.step()
                step += 1
                value = float(loss.detach())
                step_losses.append(value)
                epoch_losses.append(value)
                bar.set_postfix(loss=f"{value:.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
                if log_file is not None and (step % config.log_every == 0 or step == 1):
                    log_file.write(json.dumps({"step": step, "epoch": epoch + 1, "loss": value,
                                               "lr": scheduler.get_last_lr()[0],
                                               "elapsed_s": round(time.time() - started, 1)}) + "\n")
                    log_file.flush()
                if step >= stop_at:
                    break
            epoch_done = step >= (epoch + 1) * steps_per_epoch
            if dist_info.main:
                entry = {"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(epoch_losses)) if epoch_losses else None,
                         "elapsed_s": round(time.time() - started, 1)}
                entry["val"] = validate(model, val_set, config, device)
                history.append(entry)
                metrics_path.write_text(json.dumps(history, indent=2) + "\n")
                abs_rel = entry["val"].get("abs_rel", math.inf)
                if abs_rel < best:
                    best = abs_rel
                    save_checkpoint(model, out / "best", {
                        "trained": True, "training_data": describe_data(config), "metrics": {"val": entry["val"]},
                        "epoch": epoch + 1, "step": step, **config.extra_card,
                    })
                save_training_state(out / "last", model, optimizer, scheduler, epoch + 1 if epoch_done else epoch,
                                    step, best)
            if dist_info.world > 1:
                torch.distributed.barrier()
            if epoch_done:
                epoch += 1
    finally:
        if log_file is not None:
            log_file.close()
        if dist_info.world > 1:
            torch.distributed.destroy_process_group()
    return TrainResult(out, step_losses, history, best, model)


def describe_data(config: TrainConfig) -> str:
    if config.data == "synthetic":
        return f"procedural RGB-D scenes in {config.data_root}"
    return f"{config.data} ({config.split_file}) from {config.data_root}"


# ------------------------------------------------------------------ CLI

def parse_args(argv: list[str] | None = None) -> TrainConfig:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m mirror_model.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", choices=["synthetic", "nyu", "kitti"], default=defaults.data)
    parser.add_argument("--data-root", required=True, help="synthetic: folder with train/ and val/; nyu/kitti: BTS data root")
    parser.add_argument("--split-file", help="BTS training split file (nyu, kitti)")
    parser.add_argument("--val-split-file", help="BTS validation/test split file (nyu, kitti)")
    parser.add_argument("--val-data-root", help="data root of the validation split when it differs (NYU official_splits/test)")
    parser.add_argument("--gt-root", help="KITTI annotated depth root (data_depth_annotated)")
    parser.add_argument("--out", default=defaults.out)
    parser.add_argument("--init", help="start from this checkpoint directory instead of a fresh model")
    parser.add_argument("--clip", default=defaults.clip, help="open_clip model name (tiny-vit, RN50, ViT-B-16, ...)")
    parser.add_argument("--clip-pretrained", help="open_clip pretrained tag, e.g. openai")
    parser.add_argument("--clip-weights", default=os.environ.get("MIRROR_CLIP_WEIGHTS"), help="local CLIP weights file")
    parser.add_argument("--mirror-tokens", type=int, default=defaults.mirror_tokens)
    parser.add_argument("--input-size", type=size_argument, default=defaults.input_size, help="HxW the predictor resizes to")
    parser.add_argument("--max-depth", type=float, help="default: 10 (nyu, synthetic) or 80 (kitti)")
    parser.add_argument("--crop", type=size_argument, help="random training crop HxW (e.g. 416x544 NYU, 352x704 KITTI)")
    parser.add_argument("--color-jitter", type=float, default=defaults.color_jitter)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="per process")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--schedule", choices=["onecycle", "cosine"], default=defaults.schedule)
    parser.add_argument("--clip-grad", type=float, default=defaults.clip_grad, help="max gradient norm (0: off)")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last")
    parser.add_argument("--val-limit", type=int, help="validate on at most this many images per epoch")
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    args = vars(parser.parse_args(argv))
    return TrainConfig(**{key.replace("-", "_"): value for key, value in args.items()})


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    arguments = argv if argv is not None else sys.argv[1:]
    config.extra_card = {"command": " ".join(["python -m mirror_model.train", *(shlex.quote(a) for a in arguments)]),
                         "train_config": {k: v for k, v in asdict(config).items() if k != "extra_card"}}
    try:
        result = train(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {len(result.step_losses)} steps, best validation AbsRel {result.best_abs_rel:.4f}, "
              f"checkpoints in {result.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
